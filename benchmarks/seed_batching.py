"""Classifier seeds of one cell: one job per seed vs one job for all of them (one by one, batched), default scale.

K seeds (default 3) of the real-only cell ``none/real/none/f0/nall`` of the default experiment
(config.yaml as shipped: the resources/ chest X-ray sample, 32 px grayscale, ``resnet18_small``
width 32, 8 epochs, batch 64, ``amp: auto`` = bf16 on a CPU with AVX512-BF16/AMX, ~750 training
images), in one run, after the data stage (Snakemake, untimed) in a scratch directory, each
through the repository's Snakefile (``--cores 2``; per replicate = (its wall - a dry run's wall)
/ K, so Snakemake's start and DAG, which a sweep pays once, are left out):

(a) **one job per seed** (``classifier.one_job_per: seed``, what rule train_classifier did before):
    K jobs one after the other, 2 threads each;
(b) **one job per cell** (``one_job_per: cell``, the default now): one job trains the K seeds in one
    process (:func:`ganaug.classifier.seeds.run_seeds`);
(c) ``--one-thread``: (a) with ``threads.train_classifier: 1``, so Snakemake runs two jobs at once
    on the 2 cores (not bit-identical to (a): one thread sums in another order);
(d) **batched** (unless ``--no-batched``): a fresh interpreter calling ``run_seeds(batched=True)``
    (:mod:`ganaug.classifier.batched`), wall / K.

(b)'s outputs are compared with (a)'s byte for byte (metrics.json, predictions.csv,
predictions_val.csv; history.csv but for its seconds); the others' test AUCs are printed beside (a)'s.
``--steps N`` adds the per-step measurement behind (d): N training steps of K models one by one
vs vmapped, and the validation forward pass, at the same scale; ``--convs`` one 3x3 convolution
per stage, K separate vs the grouped one vmap turns them into.

    python benchmarks/seed_batching.py                 # ~4 min on 2 idle cores
    python benchmarks/seed_batching.py --steps 12 --convs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

import benchlib
from benchlib import REPO

CELL = ("none", "real", "none", "0", "all")
RUN_DIR = "results/classifier/none/real/none/f0/nall/seed{seed}"

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import snakemake.script  # the preamble every script job unpickles its snakemake object with
from ganaug.classifier import Cell
from ganaug.classifier.seeds import SeedOutputs, SeedRun, run_seeds
a = json.loads(sys.argv[1])
runs = [SeedRun(Cell(*a["cell"], s), None, SeedOutputs.in_dir(a["out"] + f"/seed{s}")) for s in a["seeds"]]
report = run_seeds(runs, **a["kwargs"], progress=False, batched=a["batched"])
print(json.dumps({"seconds": time.perf_counter() - t0, "trained": report.trained}))
"""


def job_params(work: Path) -> dict:
    """What rule train_classifier passes run_cell for the cell, from config.yaml as the workflow validates it."""
    from ganaug.config import canonical, classifier_settings, resolve_dataset_paths, validate_config

    config = resolve_dataset_paths(yaml.safe_load((REPO / "config.yaml").read_text()), REPO)
    validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    clf = config["classifier"]
    return {
        "real": str(work / "results/data/real_train.npz"),
        "data": str(
            work / f"results/data/{config['experiment']['dataset']}/{config['experiment']['resolution']}px_"
            f"{config['experiment']['channels']}ch.npz"
        ),  # fmt: skip
        "settings": classifier_settings(config),
        "bootstrap": canonical(dict(clf["bootstrap"], level=clf["ci_level"])),
        "positive_class": config["experiment"]["positive_class"],
        "n_real_class": None,
        "device": config.get("device", "auto"),
        "threads": int(config["threads"]["train_classifier"]),
        "deterministic": bool(config.get("deterministic", True)),
    }


def one_job(kwargs: dict, out: Path, seeds: list[int], batched: bool) -> tuple[float, float]:
    """(b) / (c): wall of a fresh interpreter running run_seeds, and the seconds it measured itself."""
    arg = json.dumps({"cell": list(CELL), "seeds": seeds, "out": str(out), "kwargs": kwargs, "batched": batched})
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, env=os.environ)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"run_seeds failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def compare(a: Path, b: Path, seed: int) -> bool:
    """Whether seed's outputs in a and b are bit-identical (history.csv: but for seconds)."""
    same = all((a / f"seed{seed}" / n).read_bytes() == (b / f"seed{seed}" / n).read_bytes()
               for n in ("metrics.json", "predictions.csv", "predictions_val.csv"))  # fmt: skip
    ha, hb = (pd.read_csv(d / f"seed{seed}" / "history.csv").drop(columns="seconds") for d in (a, b))
    return same and ha.equals(hb)


def auc(folder: Path, seed: int) -> float:
    return json.loads((folder / f"seed{seed}" / "metrics.json").read_text())["auc"]


def loop_seconds(folder: Path, seed: int) -> float:
    return float(pd.read_csv(folder / f"seed{seed}" / "history.csv")["seconds"].sum())


def step_times(kwargs: dict, k: int, steps: int) -> dict[str, float]:
    """ms per model and training step (batch 64), K models one by one vs vmapped; ms per model for the validation
    forward pass (522 images at eval batch 512). Random images, the job's settings and threads."""
    import copy

    import torch
    import torch.nn.functional as F

    from ganaug.classifier import build_classifier
    from ganaug.classifier.batched import _Stack
    from ganaug.classifier.evaluate import predict_logits, scale_images
    from ganaug.runtime import autocast, resolve_amp

    s = kwargs["settings"]
    torch.set_num_threads(kwargs["threads"])
    amp, cl = resolve_amp(s["amp"], "cpu"), torch.channels_last
    models = [build_classifier(s["arch"], 2, 1, s["width"]).to(memory_format=cl) for _ in range(k)]
    stack = _Stack([copy.deepcopy(m) for m in models])
    opts = [torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4) for m in models]
    vopt = torch.optim.AdamW(list(stack.params.values()), 1e-3, weight_decay=1e-4)
    x = torch.randint(0, 255, (k, s["batch_size"], 1, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 2, (k, s["batch_size"]))
    val = torch.randint(0, 255, (522, 1, 32, 32), dtype=torch.uint8)

    def one_by_one():
        for i, m in enumerate(models):
            m.train()
            with autocast("cpu", amp):
                logits = m(scale_images(x[i]).contiguous(memory_format=cl))
            opts[i].zero_grad(set_to_none=True)
            F.cross_entropy(logits.float(), y[i]).backward()
            opts[i].step()

    def vmapped():
        stack.base.train()
        with autocast("cpu", amp):
            logits = stack(torch.stack([scale_images(x[i]).contiguous(memory_format=cl) for i in range(k)]))
        vopt.zero_grad(set_to_none=True)
        sum(F.cross_entropy(logits[i].float(), y[i]) for i in range(k)).backward()
        vopt.step()

    def val_one_by_one():
        for m in models:
            predict_logits(m, val, batch_size=512, amp=amp)

    def val_vmapped():
        from ganaug.classifier.batched import _val_logits

        _val_logits(stack, val, 512, amp)

    fns = {"train step, one by one": one_by_one, "train step, vmapped": vmapped,
           "validation pass, one by one": val_one_by_one, "validation pass, vmapped": val_vmapped}  # fmt: skip
    out: dict[str, list[float]] = {n: [] for n in fns}
    for fn in fns.values():
        fn()  # warm-up: oneDNN primitive choice
    for r in range(2):
        for name, fn in fns.items() if r % 2 == 0 else reversed(fns.items()):
            n = steps if "train" in name else max(1, steps // 4)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[name].append(1000 * (time.perf_counter() - t0) / n / k)
    return {n: min(v) for n, v in out.items()}


def conv_times(k: int, threads: int, batch: int = 64, width: int = 32) -> list[tuple[int, int, float, float]]:
    """Per stage of resnet18_small (channels, side): ms of K separate 3x3 convolutions, forward + backward, under
    bf16 autocast in channels-last, and of the one grouped convolution (groups = K) vmap makes of them."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    cl, out = torch.channels_last, []

    def timed(fn, n=20):
        fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return 1000 * (time.perf_counter() - t0) / n

    for i in range(4):
        c, side = width * 2**i, 32 // 2**i
        xs = [torch.randn(batch, c, side, side).to(memory_format=cl).requires_grad_() for _ in range(k)]
        ws = [torch.randn(c, c, 3, 3).to(memory_format=cl).requires_grad_() for _ in range(k)]
        xg = torch.cat([x.detach() for x in xs], 1).to(memory_format=cl).requires_grad_()
        wg = torch.cat([w.detach() for w in ws], 0).to(memory_format=cl).requires_grad_()

        def separate(xs=xs, ws=ws):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                outs = [F.conv2d(x, w, padding=1) for x, w in zip(xs, ws)]
            sum(o.float().sum() for o in outs).backward()

        def grouped(xg=xg, wg=wg):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                o = F.conv2d(xg, wg, padding=1, groups=k)
            o.float().sum().backward()

        out.append((c, side, min(timed(separate) for _ in range(2)), min(timed(grouped) for _ in range(2))))
    return out


def through_snakemake(work: Path, name: str, override: dict, targets: list[str], k: int) -> tuple[float, float]:
    """Train the K seeds in ``work`` with ``override`` merged over config.yaml; (wall, dry-run wall)."""
    cfg = work / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(override))
    dry_proc, dry = benchlib.snakemake(work, [cfg], "-n", "--cores", "2", target=targets)
    counts = benchlib.job_counts(dry_proc.stdout + dry_proc.stderr)
    expected = k if override["classifier"]["one_job_per"] == "seed" else 1
    if counts.get("train_classifier") != expected or len(counts) != 1:
        sys.exit(f"{name}: unexpected jobs for the {k} seeds: {counts}")
    print(f"{name}: {expected} train_classifier job(s) (load {benchlib.load_avg()}) ...", file=sys.stderr)
    _, wall = benchlib.snakemake(work, [cfg], "--cores", "2", target=targets)
    return wall, dry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="K: seeds 0..K-1 of the cell")
    ap.add_argument("--no-batched", action="store_true", help="leave out (d)")
    ap.add_argument("--one-thread", action="store_true", help="add (c): one thread per job, two jobs at once")
    ap.add_argument("--steps", type=int, default=0, help="also time N training steps one by one vs vmapped")
    ap.add_argument(
        "--convs", action="store_true", help="also time one 3x3 convolution per stage, K separate vs grouped"
    )
    ap.add_argument("--keep", type=Path, help="keep the scratch trees here")
    args = ap.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    seeds = list(range(args.seeds))
    k = len(seeds)
    root = args.keep or Path(tempfile.mkdtemp(prefix="ganaug_seeds_"))
    root.mkdir(parents=True, exist_ok=True)
    kwargs = job_params(root / "a")
    header = benchlib.machine_lines(kwargs["threads"])
    data = [Path(kwargs[key]).relative_to(root / "a").as_posix() for key in ("real", "data")]
    ways = {"a": ("(a) one job per seed", {"classifier": {"seeds": seeds, "one_job_per": "seed"}}),
            "b": ("(b) one job per cell", {"classifier": {"seeds": seeds, "one_job_per": "cell"}})}  # fmt: skip
    if args.one_thread:
        ways["c"] = ("(c) one job per seed, 1 thread, 2 at once",
                     {"classifier": {"seeds": seeds, "one_job_per": "seed"}, "threads": {"train_classifier": 1}})  # fmt: skip
    print(f"data stage in {root} ...", file=sys.stderr)
    for key in ways:
        (root / key).mkdir(parents=True, exist_ok=True)
        benchlib.snakemake(root / key, [], "--cores", "2", target=data)
    targets = [f"{RUN_DIR.format(seed=s)}/metrics.json" for s in seeds]
    walls = {key: through_snakemake(root / key, key, override, targets, k) for key, (_, override) in ways.items()}
    cell_dir = RUN_DIR.format(seed=0).rsplit("/", 1)[0]
    if not args.no_batched:
        print(f"(d) one job, batched (load {benchlib.load_avg()}) ...", file=sys.stderr)
        batched = one_job(kwargs, root / "d", seeds, True)
    steps = step_times(kwargs, k, args.steps) if args.steps else {}
    convs = conv_times(k, kwargs["threads"]) if args.convs else []
    load_end = benchlib.load_avg()

    per_a = (walls["a"][0] - walls["a"][1]) / k
    print("\n### Seeds of a cell in one job\n")
    print("\n".join(header))
    print(f"- load average at end: {load_end}")
    print(f"- command: `python benchmarks/seed_batching.py {' '.join(sys.argv[1:])}`".rstrip())
    print(f"- cell none/real/none/f0/nall, seeds {seeds}; settings {kwargs['settings']}\n")
    print(
        "| how | wall s | s per replicate | vs one job per seed | training loops s per replicate | test AUC by seed |"
    )
    print("|---|---|---|---|---|---|")
    for key, (label, _) in ways.items():
        wall, dry = walls[key]
        out = root / key / cell_dir
        per = (wall - dry) / k
        loops = sum(loop_seconds(out, s) for s in seeds) / k
        aucs = ", ".join(f"{auc(out, s):.4f}" for s in seeds)
        print(f"| {label} (minus its {dry:.1f} s dry run) | {wall:.1f} | **{per:.1f}** | **{per_a / per:.2f}×** | "
              f"{loops:.1f} | {aucs} |")  # fmt: skip
    if not args.no_batched:
        wall, inner = batched
        out = root / "d"
        loops = sum(loop_seconds(out, s) for s in seeds) / k
        aucs = ", ".join(f"{auc(out, s):.4f}" for s in seeds)
        print(f"| (d) one process, batched | {wall:.1f} (in-process {inner:.1f}) | **{wall / k:.1f}** | "
              f"**{per_a / (wall / k):.2f}×** | {loops:.1f} | {aucs} |")  # fmt: skip
    same = [s for s in seeds if compare(root / "a" / cell_dir, root / "b" / cell_dir, s)]
    print(f"\n(b) vs (a), byte for byte (metrics.json, predictions.csv, predictions_val.csv; history.csv but for "
          f"seconds): seeds {same} of {seeds} identical")  # fmt: skip
    if steps:
        print(f"\nPer model, K = {k}, batch {kwargs['settings']['batch_size']} (min of 2 alternating runs):\n")
        print("| what | ms per model |")
        print("|---|---|")
        for name, ms in steps.items():
            print(f"| {name} | {ms:.1f} |")
    if convs:
        print(f"\nOne 3x3 convolution, forward + backward, bf16 autocast, channels-last, batch 64, K = {k} (ms):\n")
        print("| channels x side | K separate | one grouped (groups = K) | separate / grouped |")
        print("|---|---|---|---|")
        for c, side, a, b in convs:
            print(f"| {c} x {side}² | {a:.2f} | {b:.2f} | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
