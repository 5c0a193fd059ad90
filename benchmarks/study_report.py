"""What a finished powered study answered, and what it cost: the numbers benchmarks/README.md and the README give.

Reads a study's finished tree (``snakemake all --configfile config/study_*.yaml`` run in it; nothing
is run here) and prints one Markdown block:

* the wall time (from ``study.time``, written by the command below, else the run logs' first and
  last stamps), the jobs per rule (median and sum of job walls, from Snakemake's run log) and the
  GAN steps' ms per step (from each training log's ``done:`` line), split into shared (pretrain)
  and fine-tuning jobs - the same run's, as benchmarks/README.md asks beside any wall time;
* the primary comparison (``paired_differences.csv``, role primary): Δ AUC with its interval,
  p, p_TOST, verdict, the minimum detectable difference and the replicates for 0.02;
* the low-data arm: the primary cell at every other n_real against the reference there, with the
  adjusted p and verdict;
* the generators: FID / matched floor, precision, recall and near copies per GAN cell over its
  replicates (``gan_scores.csv``; the low-data copies ``{gan}_n{n}`` included).

    cd TREE && /usr/bin/time -v python -m snakemake all --configfile config/study_chest_xray.yaml --cores 2
    python benchmarks/study_report.py TREE
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
from datetime import datetime
from pathlib import Path

import pandas as pd

import benchlib


def wall_time(tree: Path, logs: list[str]) -> tuple[str, float]:
    """(how it was measured, seconds): ``study.time``'s start and end, else the run logs' first-to-last stamps
    (summed over the invocations of a study that was stopped and resumed)."""
    marks = tree / "study.time"
    if marks.is_file():
        text = marks.read_text()
        got = re.findall(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", text)
        if len(got) >= 2:
            a, b = (datetime.strptime(g, "%Y-%m-%dT%H:%M:%SZ") for g in got[:2])
            return f"study.time ({text.strip().splitlines()[0]})", (b - a).total_seconds()
    total = 0.0
    for log in logs:
        stamps = [
            datetime.strptime(m, "%a %b %d %H:%M:%S %Y")
            for m in re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", log, re.M)
        ]
        total += (stamps[-1] - stamps[0]).total_seconds() if stamps else math.nan
    how = (
        "the run log's first and last stamps"
        if len(logs) == 1
        else f"{len(logs)} invocations' first-to-last stamps, summed"
    )
    return how, total if logs else math.nan


def in_study(rep: str | None, reps: set[str] | None) -> bool:
    """Whether a job of generator replicate ``rep`` (None: a job of no one replicate, e.g. a whole cell's classifier
    job) belongs to the study's replicates ``reps`` (None: all of them)."""
    return reps is None or rep is None or rep in reps


def gan_ms_per_step(tree: Path, reps: set[str] | None = None) -> dict[str, list[float]]:
    """ms per GAN step of every training job (of replicates ``reps``, default all), from its log's ``done: {...}``
    line: pretrain_gan and train_gan."""
    out: dict[str, list[float]] = {"pretrain_gan": [], "train_gan": []}
    for rule in out:
        for log in sorted((tree / "results" / "logs" / rule).rglob("*.log")):
            rep = re.search(r"rep(\d+)", str(log.relative_to(tree)))
            if not in_study(rep.group(1) if rep else None, reps):
                continue
            m = re.search(r"'ms_per_step': ([0-9.]+)", log.read_text(errors="replace"))
            if m:
                out[rule].append(float(m.group(1)))
    return out


def comparison_line(r: pd.Series) -> str:
    mdd, need = float(r["min_detectable_difference"]), float(r["seeds_needed"])
    parts = [
        f"Δ AUC {float(r['diff_mean']):+.3f} [{float(r['diff_ci_low']):+.3f}, {float(r['diff_ci_high']):+.3f}] "
        f"(test AUC {float(r['mean']):.3f} vs {float(r['reference_mean']):.3f})",
        f"p = {float(r['p_value']):.3f}, adjusted p = {float(r['p_adjusted']):.3f}, p_TOST = {float(r['p_tost']):.3f}",
        f"**{r['verdict']}**",
        f"MDD {mdd:.3f}" if math.isfinite(mdd) else "MDD: not detectable",
    ]
    if math.isfinite(need):
        parts.append(f"replicates for 0.02: {int(need)}")
    return (
        ", ".join(parts) + f" ({int(r['replicates'])} replicates, {int(r['n_pairs'])} pairs; {r['variance_sources']})"
    )


def run_logs(tree: Path) -> list[str]:
    """The run logs of the study's invocations, oldest first: every one that finished a GAN or classifier job
    (one, or more when the study was stopped and resumed; a later run that only redid a report is left out)."""
    logs = sorted((tree / ".snakemake" / "log").glob("*.snakemake.log"))
    texts = [p.read_text(errors="replace") for p in logs]
    return [
        t for t in texts if re.search(r"Finished jobid: \d+ \(Rule: (pretrain_gan|train_gan|train_classifier)\)", t)
    ]


def generator_rows(scores: pd.DataFrame) -> list[str]:
    rows = ["| GAN cell | class | replicates | FID / floor, mean (min-max) | precision | recall | near copies |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    scores = scores.assign(ratio=scores["fid"] / scores["fid_floor"])
    for (gan, cls), g in scores.groupby(["gan", "class"], sort=True):
        near = g["memo_near_copy_fraction"] if "memo_near_copy_fraction" in g else pd.Series([math.nan])
        rows.append(
            f"| {gan} | {cls} | {len(g)} | {g['ratio'].mean():.2f} ({g['ratio'].min():.2f}-{g['ratio'].max():.2f}) | "
            f"{g['precision'].mean():.2f} ({g['precision'].min():.2f}-{g['precision'].max():.2f}) | "
            f"{g['recall'].mean():.2f} ({g['recall'].min():.2f}-{g['recall'].max():.2f}) | {near.max():.3f} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tree", type=Path, help="the finished study's working directory")
    ap.add_argument("--reps", nargs="+", help="the study's generator replicates (default: all): jobs of other "
                    "replicates (trained before the study was cut to fewer) are counted apart")  # fmt: skip
    args = ap.parse_args()
    tree = args.tree
    report = tree / "results" / "report"
    logs = run_logs(tree)
    how, seconds = wall_time(tree, logs)
    jobs = [job for log in logs for job in benchlib.parse_job_times(log)]
    reps = set(args.reps) if args.reps else None
    outside = [j for j in jobs if not in_study(j["wildcards"].get("rep"), reps)]
    jobs = [j for j in jobs if in_study(j["wildcards"].get("rep"), reps)]
    steps = gan_ms_per_step(tree, reps)
    paired = pd.read_csv(report / "paired_differences.csv")
    scores = pd.read_csv(report / "gan_scores.csv")
    auc = paired[paired["metric"] == "auc"]
    primary = auc[auc["role"] == "primary"].iloc[0]
    keys = ("baseline", "source", "strategy", "fraction")
    arm = auc[
        (auc["role"] != "primary")
        & pd.concat([auc[k].astype(str) == str(primary[k]) for k in keys], axis=1).all(axis=1)
    ]

    print(f"### Study in {tree}\n")
    print(f"- wall time {benchlib.fmt_s(seconds)} ({how}); {len(jobs)} jobs of the study in the run log(s)")
    if outside:
        spent = sum(j["wall"] for j in outside)
        print(f"- {len(outside)} finished jobs of other replicates ({', '.join(sorted({j['rule'] for j in outside}))}): "
              f"{benchlib.fmt_s(spent)} of job walls inside that wall time")  # fmt: skip
    for rule, ms in steps.items():
        if ms:
            print(f"- {rule}: {len(ms)} jobs, {statistics.median(ms):.1f} ms/step median ({min(ms):.1f}-{max(ms):.1f})")
    print()
    print("\n".join(benchlib.per_rule_table(jobs)))
    print(f"\n**Primary** ({primary['source']} {primary['strategy']} f = {float(primary['fraction']):g}, baseline "
          f"{primary['baseline']}, n_real {primary['n_real']}, vs {primary['reference']}): {comparison_line(primary)}\n")  # fmt: skip
    if len(arm):
        print("**Low-data arm** (the primary cell at the other n_real values, vs the reference there):\n")
        order = sorted(
            arm.index, key=lambda i: math.inf if str(arm.at[i, "n_real"]) == "all" else float(arm.at[i, "n_real"])
        )
        for i in order:
            print(f"- n_real {arm.at[i, 'n_real']}: {comparison_line(arm.loc[i])}")
        print()
    print("**Generators** (gan_scores.csv, every replicate):\n")
    print("\n".join(generator_rows(scores)))


if __name__ == "__main__":
    main()
