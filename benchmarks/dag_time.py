"""Whole-DAG wall time: the tiny test config (and, with --default, the default scale) end to end.

Runs ``python3 -m snakemake all --cores CORES`` on the repository's Snakefile in a
fresh temporary directory (``datasets.chest_xray.path`` pointed at
``../shared/data/chest_xray`` as an absolute path), times it, then times
``snakemake -n all`` on the finished tree (median of ``--dry-repeats``, default 5;
it must find nothing to do). Per-job wall times come from Snakemake's own run log
(``.snakemake/log/*.snakemake.log``, 1 s resolution), summed per rule.

Goals (2 cores, no GPU): tiny config <= 5 min, default scale <= 30 min,
``snakemake -n all`` on a finished tree <= 5 s.

    python benchmarks/dag_time.py                 # tiny config only (~4-10 min on 2 cores)
    python benchmarks/dag_time.py --default       # also config.yaml as shipped (the resources/ sample; ~21-30 min more)
    python benchmarks/dag_time.py --keep /tmp/dag # keep the finished trees there

The default scale is only run with ``--default``. On a machine with CUDA the jobs use it
(``device: auto``); pass ``--resources gpu=1`` through ``--extra`` to share one GPU.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import benchlib
from benchlib import fmt_s, mmm

GOALS = {"tiny": 5 * 60, "default": 30 * 60}


def run_config(label: str, cfgs: list[dict], work: Path, cores: int, dry_repeats: int, extra: list[str]) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    files = [benchlib.write_yaml(work / f"{label}{k}.yaml", c) for k, c in enumerate(cfgs)]
    print(f"[{label}] snakemake all --cores {cores} in {work} (load {benchlib.load_avg()}) ...", file=sys.stderr)
    load_start = benchlib.load_avg()
    proc, wall = benchlib.snakemake(work, files, "--cores", str(cores), *extra)
    load_end = benchlib.load_avg()
    counts = benchlib.job_counts(proc.stdout + proc.stderr)
    jobs = benchlib.parse_job_times(benchlib.latest_run_log(work))
    print(f"[{label}] {fmt_s(wall)}, {sum(counts.values())} jobs; dry runs ...", file=sys.stderr)
    dry = []
    nothing = True
    for _ in range(dry_repeats):
        p, t = benchlib.snakemake(work, files, "-n", "--cores", str(cores))
        dry.append(t)
        nothing &= "Nothing to be done" in (p.stdout + p.stderr)
    return {"label": label, "wall": wall, "jobs": sum(counts.values()), "counts": counts, "job_times": jobs,
            "dry": dry, "nothing": nothing, "load_start": load_start, "load_end": load_end}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--default", action="store_true", help="also run the default scale (config.yaml as shipped)")
    ap.add_argument("--no-tiny", action="store_true", help="skip the tiny config (with --default)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--dry-repeats", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="keep the finished trees under this folder")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more snakemake arguments (last)")
    args = ap.parse_args()

    header = benchlib.machine_lines()
    runs = []
    base = args.keep or Path(tempfile.mkdtemp(prefix="ganaug_dag_"))
    try:
        if not args.no_tiny:
            runs.append(
                run_config("tiny", [benchlib.tiny_config()], base / "tiny", args.cores, args.dry_repeats, args.extra)
            )
        if args.default:
            # config.yaml as shipped: the chest X-ray sample in resources/ (what config/chest_xray.yaml
            # prepares identically from the Kaggle folder)
            runs.append(run_config("default", [], base / "default", args.cores, args.dry_repeats, args.extra))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)

    names = {"tiny": "tiny test config (`config/tiny.yaml`)",
             "default": "default scale (`config.yaml`: the shipped chest X-ray sample)"}  # fmt: skip
    print(f"\n### Whole DAG, `snakemake all --cores {args.cores}`\n")
    print("\n".join(header))
    print(f"- command: `python benchmarks/dag_time.py {' '.join(sys.argv[1:])}`".rstrip() + "\n")
    print(
        "| run | jobs | wall time | goal | load avg start -> end | sum of job walls | `snakemake -n all` on the finished tree, median (min-max) |"
    )  # noqa: E501
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        goal = GOALS[r["label"]]
        ok = "PASS" if r["wall"] <= goal else "FAIL"
        dry_ok = "PASS" if statistics.median(r["dry"]) <= 5 and r["nothing"] else "FAIL"
        print(f"| {names[r['label']]} | {r['jobs']} | **{fmt_s(r['wall'])}** | <= {goal // 60} min {ok} | "
              f"{r['load_start'].split(' / ')[0]} -> {r['load_end'].split(' / ')[0]} | "
              f"{fmt_s(sum(j['wall'] for j in r['job_times']))} | {mmm(r['dry'])} s "
              f"({'nothing to do' if r['nothing'] else 'JOBS LEFT'}; goal <= 5 s {dry_ok}) |")  # fmt: skip
    for r in runs:
        print(f"\nPer rule, {r['label']} (job walls from Snakemake's log; jobs overlap on {args.cores} cores):\n")
        print("\n".join(benchlib.per_rule_table(r["job_times"])))


if __name__ == "__main__":
    main()
