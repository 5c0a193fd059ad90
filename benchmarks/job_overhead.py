"""Per-job overhead: what a sweep cell costs beyond its own work, and whether the total is linear in cells.

Three measurements, on the same machine in one run:

1. **A sweep of 1, 4 and 16 cells** through the real Snakefile: the tiny config
   (``config/tiny.yaml``: ResNet-18 width 8, 1 epoch, 32 px chest X-rays) with
   real-only classifier cells (``synthetic_fractions: [0.0]``, ``baselines: [none]``,
   seeds 0..k-1), target ``results/report/classifier_runs.csv`` (k ``train_classifier``
   jobs + ``classifier_report``). The data stage is run once beforehand and its tree
   copied into each sweep directory, so only the cells are timed. Total wall time vs
   cells: least-squares slope (s per cell), intercept and R². Per job: its wall time
   from Snakemake's run log (1 s resolution) minus its training loop (the per-epoch
   ``seconds`` of its ``history.csv``) = the time spent outside the loop (interpreter,
   imports, data loading, model build, test predictions, bootstrap CI, plot, writes).
2. **Start-up costs measured directly**, each in a fresh interpreter (median of
   ``--repeats``): ``python -c pass``; the imports of each kind of job script
   (Snakemake's ``snakemake.script``, which every ``script:`` job unpickles, torch,
   the ganaug subpackages the script imports, matplotlib where it plots); the model
   build after import (ResNet-18 width 32, DCGAN ngf 32 at 32 px, the TF-Inception
   extractor including its weight mapping).
3. **Snakemake's own per-job cost**: a throw-away Snakefile whose one rule is a
   ``script:`` that only writes its output (``threads: 2``, so jobs run one at a
   time on 2 cores, as ganaug's do), 1 / 4 / 16 jobs: slope of wall time vs jobs.

Goal: time per job outside the work itself <= 10 s, and total time linear in cells.

    python benchmarks/job_overhead.py                  # ~5-10 min on 2 cores
    python benchmarks/job_overhead.py --cells 1 4 --repeats 3     # quicker
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import benchlib
from benchlib import fmt_s, mmm

IMPORT_SETS = {
    "bare interpreter (`python -c pass`)": "",
    "Snakemake's script preamble (`import snakemake.script`)": "import snakemake.script",
    "train_classifier imports (+ snakemake.script, matplotlib)": (
        "import snakemake.script, torch, numpy, ganaug.classifier, ganaug.config, ganaug.data, ganaug.io, "
        "ganaug.runtime, ganaug.stats, matplotlib.pyplot"
    ),
    "train_gan imports (+ snakemake.script)": "import snakemake.script, torch, ganaug.gan, ganaug.io, ganaug.runtime",
    "real_stats / gan_metrics imports (+ snakemake.script)": (
        "import snakemake.script, torch, ganaug.metrics, ganaug.data, ganaug.io, ganaug.runtime, ganaug.report"
    ),
}

BUILDS = {
    "ResNet-18 width 32 (train_classifier)": (
        "from ganaug.classifier import build_classifier\n"
        "m = build_classifier('resnet18_small', 2, in_channels=1, width=32).to(memory_format=torch.channels_last)"
    ),
    "DCGAN G + D, ngf = ndf = 32, 32 px (train_gan)": (
        "from ganaug.gan import build_gan\nG, D = build_gan('dcgan', 'per_class', 1, 32, 2, 100, 32, 32)"
    ),
    "TF-Inception extractor incl. weight mapping (real_stats, gan_metrics, fid_curve)": (
        "from ganaug.metrics.features import get_model\nm = get_model('cpu')"
    ),
}


def time_child(code: str) -> tuple[float, float | None]:
    """Wall seconds of ``python -c code`` in a fresh interpreter, and the float it prints last (if any)."""
    import time

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    last = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        return wall, float(last)
    except ValueError:
        return wall, None


def startup_costs(repeats: int):
    imports = {k: [] for k in IMPORT_SETS}
    for r in range(repeats):
        items = list(IMPORT_SETS.items()) if r % 2 == 0 else list(reversed(IMPORT_SETS.items()))
        for name, code in items:
            imports[name].append(time_child(code or "pass")[0])
    builds = {k: [] for k in BUILDS}
    for _ in range(repeats):
        for name, code in BUILDS.items():
            prog = ("import time, torch\ntorch.set_num_threads(2)\nimport ganaug.classifier, ganaug.gan, ganaug.metrics\n"
                    f"t0 = time.perf_counter()\n{code}\nprint(time.perf_counter() - t0)")  # fmt: skip
            builds[name].append(time_child(prog)[1])
    return imports, builds


NOOP_SNAKEFILE = """
N = int(config["n"])
rule all:
    input: expand("out/{i}.txt", i=range(N))
rule noop:
    output: "out/{i}.txt"
    threads: 2
    script: "noop.py"
"""


def snakemake_noop(cells: list[int], repeats: int):
    """Wall time of k no-op script jobs, per k."""
    out = {k: [] for k in cells}
    with tempfile.TemporaryDirectory(prefix="ganaug_noop_") as tmp:
        tmp = Path(tmp)
        (tmp / "Snakefile").write_text(NOOP_SNAKEFILE)
        (tmp / "noop.py").write_text("open(snakemake.output[0], 'w').write('x')\n")
        for r in range(repeats):
            for k in cells if r % 2 == 0 else reversed(cells):
                shutil.rmtree(tmp / "out", ignore_errors=True)
                cfg = benchlib.write_yaml(tmp / f"n{k}.yaml", {"n": k})
                _, wall = benchlib.snakemake(tmp, [cfg], "--cores", "2", snakefile=tmp / "Snakefile")
                out[k].append(wall)
    return out


def sweep_config(k: int) -> dict:
    cfg = benchlib.tiny_config()
    clf = cfg["classifier"]
    clf.update(synthetic_fractions=[0.0], seeds=list(range(k)), baselines=["none"], extra_cells=[], n_real=["all"])
    return cfg


def classifier_sweep(cells: list[int], repeats: int, keep: Path | None):
    base_root = keep or Path(tempfile.mkdtemp(prefix="ganaug_overhead_"))
    rows = []
    try:
        base = base_root / "base"
        cfg = benchlib.write_yaml(base / "sweep.yaml", sweep_config(1))
        print(f"data stage once in {base} ...", file=sys.stderr)
        benchlib.snakemake(base, [cfg], "--cores", "2", target="results/data/real_train.npz")
        for r in range(repeats):
            for k in cells if r % 2 == 0 else reversed(cells):
                work = base_root / f"k{k}_r{r}"
                shutil.copytree(base, work, symlinks=True)
                cfg = benchlib.write_yaml(work / "sweep.yaml", sweep_config(k))
                load = benchlib.load_avg()
                proc, wall = benchlib.snakemake(
                    work, [cfg], "--cores", "2", target="results/report/classifier_runs.csv"
                )
                counts = benchlib.job_counts(proc.stdout + proc.stderr)
                if counts.get("train_classifier") != k or set(counts) - {"train_classifier", "classifier_report"}:
                    sys.exit(f"unexpected jobs for {k} cells: {counts}")
                jobs = benchlib.parse_job_times(benchlib.latest_run_log(work))
                clf = []
                for j in jobs:
                    if j["rule"] != "train_classifier":
                        continue
                    seed = j["wildcards"]["seed"]
                    hist = pd.read_csv(work / f"results/classifier/none/real/none/f0/nall/seed{seed}/history.csv")
                    clf.append((j["wall"], float(hist["seconds"].sum())))
                rep_walls = [j["wall"] for j in jobs if j["rule"] == "classifier_report"]
                rows.append({"cells": k, "wall": wall, "load": load, "clf": clf, "report_wall": rep_walls})
                print(f"{k} cells: {fmt_s(wall)} (load {load})", file=sys.stderr)
                if keep is None:
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        if keep is None:
            shutil.rmtree(base_root, ignore_errors=True)
    return rows


def linfit(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, intercept = np.polyfit(x, y, 1)
    pred = slope * x + intercept
    ss_res, ss_tot = float(((y - pred) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    return slope, intercept, (1 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the start-up and no-op measurements")
    ap.add_argument("--sweep-repeats", type=int, default=1, help="repeats of the classifier sweep")
    ap.add_argument("--keep", type=Path, help="keep the sweep trees under this folder")
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args()

    header = benchlib.machine_lines(2)
    print("start-up costs ...", file=sys.stderr)
    imports, builds = startup_costs(args.repeats)
    print("snakemake no-op jobs ...", file=sys.stderr)
    noop = snakemake_noop(args.cells, args.repeats)
    rows = [] if args.no_sweep else classifier_sweep(args.cells, args.sweep_repeats, args.keep)
    load_end = benchlib.load_avg()

    print("\n### Per-job overhead\n")
    print("\n".join(header))
    print(f"- load average at end: {load_end}")
    print(f"- command: `python benchmarks/job_overhead.py {' '.join(sys.argv[1:])}`".rstrip() + "\n")

    if rows:
        walls = [r["wall"] for r in rows]
        cells = [r["cells"] for r in rows]
        slope, intercept, r2 = linfit(cells, walls)
        print("Classifier sweep through the Snakefile (tiny config, real-only cells; data stage done beforehand):\n")
        print(
            "| cells | wall time | load avg (1 min) at start | `train_classifier` job wall s, median (min-max) | training loop s, median | outside the loop s, median (min-max) |"
        )  # noqa: E501
        print("|---|---|---|---|---|---|")
        for r in rows:
            job_walls = [w for w, _ in r["clf"]]
            loops = [lp for _, lp in r["clf"]]
            outside = [w - lp for w, lp in r["clf"]]
            print(f"| {r['cells']} | {fmt_s(r['wall'])} | {r['load'].split(' / ')[0]} | {mmm(job_walls, '{:.0f}')} | "
                  f"{statistics.median(loops):.1f} | {mmm(outside, '{:.1f}')} |")  # fmt: skip
        print(f"\nLinear fit, wall = intercept + slope x cells: slope **{slope:.1f} s per cell**, intercept "
              f"{intercept:.1f} s, R² = **{r2:.4f}** (wall per cell: "
              + ", ".join(f"{c}: {w / c:.1f} s" for c, w in zip(cells, walls)) + ")")  # fmt: skip

    print("\nStart-up costs in a fresh interpreter (median (min-max) of "
          f"{args.repeats}, s):\n")  # fmt: skip
    print("| what | s |")
    print("|---|---|")
    for name, v in imports.items():
        print(f"| {name} | {mmm(v)} |")
    for name, v in builds.items():
        print(f"| model build: {name} | {mmm(v)} |")

    ks = sorted(noop)
    med = [statistics.median(noop[k]) for k in ks]
    s_noop, i_noop, r2_noop = linfit(ks, med)
    print("\nSnakemake's own cost per `script:` job (no-op script, threads 2, --cores 2):\n")
    print("| jobs | wall s, median (min-max) |")
    print("|---|---|")
    for k in ks:
        print(f"| {k} | {mmm(noop[k])} |")
    print(f"\nslope **{s_noop:.2f} s per job** (intercept {i_noop:.2f} s: Snakemake's start and DAG; R² {r2_noop:.4f})")

    pre = statistics.median(imports["Snakemake's script preamble (`import snakemake.script`)"])
    sched = max(s_noop - pre, 0.0)  # the no-op slope holds one interpreter start + preamble; the rest is scheduling
    parts = {
        "train_classifier": (
            "train_classifier imports (+ snakemake.script, matplotlib)",
            "ResNet-18 width 32 (train_classifier)",
        ),
        "train_gan": ("train_gan imports (+ snakemake.script)", "DCGAN G + D, ngf = ndf = 32, 32 px (train_gan)"),
        "real_stats, gan_metrics, fid_curve": (
            "real_stats / gan_metrics imports (+ snakemake.script)",
            "TF-Inception extractor incl. weight mapping (real_stats, gan_metrics, fid_curve)",
        ),
    }
    print("\nOverhead per job = Snakemake's scheduling (no-op slope minus one interpreter start and preamble) "
          "+ interpreter start, preamble and imports + model build (goal <= 10 s):\n")  # fmt: skip
    print("| job | Snakemake scheduling | interpreter + imports | model build | total | goal |")
    print("|---|---|---|---|---|---|")
    for job, (imp_key, build_key) in parts.items():
        imp_s, build_s = statistics.median(imports[imp_key]), statistics.median(builds[build_key])
        total = sched + imp_s + build_s
        print(f"| {job} | {sched:.2f} s | {imp_s:.1f} s | {build_s:.2f} s | **{total:.1f} s** | "
              f"{'PASS' if total <= 10 else 'FAIL'} |")  # fmt: skip


if __name__ == "__main__":
    main()
