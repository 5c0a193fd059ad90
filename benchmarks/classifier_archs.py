"""The classifier architectures on the CPU: parameters, training speed, peak memory, test AUC from scratch.

Data: real Kaggle chest X-rays (``../shared/data/chest_xray``), grayscale, 32 px as in
config/chest_xray.yaml: config.yaml's default-scale training set, the first 150 NORMAL and
600 PNEUMONIA training images (sorted by file name); validation: the next 50 NORMAL and
200 PNEUMONIA training images; test: the whole Kaggle test split (234 NORMAL, 390 PNEUMONIA).
Classifier settings: config.yaml's ``classifier`` (8 epochs, batch 64, AdamW lr 1e-3, weight
decay 1e-4, amp auto, width 32 for resnet18_small), only ``arch`` (and ``input_size``) changed;
always from scratch (ImageNet weights need the internet).

* ``timing``: per arch and input side (native 32 px; 224 px = each batch upsampled on the fly)
  one subprocess (so its peak RSS, ``ru_maxrss``, is that arch's): ganaug's training loop
  (forward, backward, AdamW step; no validation) over one warm-up batch, then ``--batches``
  timed batches of 64 at 32 px (``--batches-large`` of ``--batch-large`` at 224 px, to fit
  the CPU budget). Images/s by the wall clock, and by CPU time (images / (process CPU seconds
  / threads), with ``OMP_WAIT_POLICY=PASSIVE`` so that waiting threads sleep instead of
  spinning: roughly what 2 dedicated cores would give, robust to other load on a shared
  machine); one epoch of the 750-image set is extrapolated from the CPU-time rate.
* ``flops``: parameters and forward GFLOPs per image at 32 and 224 px (machine-independent).
* ``auc``: per arch and seed, the full training (8 epochs, selection on validation AUC) and
  the test AUC, as rule train_classifier does at f = 0. ``--budget-min`` stops starting archs
  once the part has run that long (what was run is printed).

    nice -n 10 python benchmarks/classifier_archs.py timing
    nice -n 10 python benchmarks/classifier_archs.py auc --archs resnet18_small resnet18 --seeds 0 1 2

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from benchlib import CHEST, REPO, machine_lines

ARCHS = ["resnet18_small", "resnet18", "resnet50", "resnet152", "vgg11_bn", "efficientnet_b0", "densenet121"]
CACHE = Path(tempfile.gettempdir()) / "ganaug_classifier_archs_cxr32.npz"
RES = 32


def _load(split: str, cls: str, start: int, n: int | None) -> np.ndarray:
    from PIL import Image

    files = sorted((CHEST / split / cls).glob("*.jpeg"))
    files = files[start:] if n is None else files[start : start + n]
    if n is not None and len(files) < n:
        sys.exit(f"need {start + n} images in {CHEST / split / cls} (see ../shared/data/README.md)")
    out = np.empty((len(files), RES, RES, 1), np.uint8)
    for k, f in enumerate(files):
        with Image.open(f) as im:
            out[k, :, :, 0] = np.asarray(im.convert("L").resize((RES, RES), Image.Resampling.BILINEAR))
    return out


def data() -> dict[str, np.ndarray]:
    """train / val / test images and labels (0 = NORMAL, 1 = PNEUMONIA), cached in the temp folder."""
    if CACHE.is_file():
        with np.load(CACHE) as z:
            return dict(z)
    parts = {
        "train": [("train", "NORMAL", 0, 150), ("train", "PNEUMONIA", 0, 600)],
        "val": [("train", "NORMAL", 150, 50), ("train", "PNEUMONIA", 600, 200)],
        "test": [("test", "NORMAL", 0, None), ("test", "PNEUMONIA", 0, None)],
    }
    out = {}
    for name, specs in parts.items():
        xs = [_load(*spec) for spec in specs]
        out[f"{name}_x"] = np.concatenate(xs)
        out[f"{name}_y"] = np.concatenate([np.full(len(x), k, np.int64) for k, x in enumerate(xs)])
    np.savez(CACHE, **out)
    return out


def settings(arch: str, input_size="native") -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["classifier"]
    keys = ("width", "epochs", "batch_size", "lr", "weight_decay", "amp")
    return {**{k: cfg[k] for k in keys}, "arch": arch, "input_size": input_size}


def _time_one(arch: str, side: int, batches: int, batch_size: int, threads: int) -> None:
    """(subprocess) one arch at one input side: parameters, training images/s, peak RSS -> JSON on stdout.

    The training loop is ganaug's own (``train._train_epoch`` with ``train._Optimisation``), timed
    by the wall clock and by the process's CPU time (robust to other processes on the machine).
    """
    import torch

    from ganaug.classifier import build_classifier
    from ganaug.classifier.train import _Data, _Optimisation, _resolve_cfg, _train_epoch, parameter_groups

    torch.set_num_threads(threads)
    d = data()
    opts = _resolve_cfg(dict(settings(arch, "native" if side == RES else side), batch_size=batch_size))
    rng = np.random.default_rng(0)
    idx = rng.choice(len(d["train_x"]), size=batch_size * (batches + 1), replace=True)
    cpu = torch.device("cpu")
    data_ = _Data(d["train_x"][idx], d["train_y"][idx], None, None, 2, cpu)
    torch.manual_seed(0)
    size = None if side == RES else side
    model = build_classifier(arch, 2, 1, opts["width"], input_size=size).to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    opt = _Optimisation(parameter_groups(model, opts["lr"], opts["lr_backbone_mult"]), opts, batches + 1, cpu)
    gen = torch.Generator().manual_seed(0)
    perm = torch.arange(len(idx))
    _train_epoch(model, data_, perm[:batch_size], batch_size, opt, torch.channels_last, gen)  # warm-up batch
    t0, c0 = time.perf_counter(), time.process_time()
    _train_epoch(model, data_, perm[batch_size:], batch_size, opt, torch.channels_last, gen)
    wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    n = batch_size * batches
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"params": params, "img_s": n / wall, "img_s_cpu": n / (cpu_s / threads), "rss_mb": rss_mb, "amp": opt.amp}
    print(json.dumps(out))


def timing(args) -> None:
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- training from scratch, amp auto: at {RES} px {args.batches} timed batches of 64, at larger sides "
        f"{args.batches_large} of {args.batch_large}, each after a 1-batch warm-up\n"
    )
    data()  # build the cache once, outside the timed subprocesses
    rows = []
    for arch in args.archs:
        row = {"arch": arch}
        for side in args.sizes:
            if arch == "resnet18_small" and side != RES:
                continue  # runs at the data's resolution only
            batches, bs = (args.batches, 64) if side == RES else (args.batches_large, args.batch_large)
            cmd = [sys.executable, __file__, "_time", arch, str(side), str(batches), str(bs), str(args.threads)]
            t0 = time.perf_counter()
            env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")  # waiting threads sleep: CPU time = work done
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                sys.exit(f"{arch} at {side} px failed:\n{proc.stderr[-3000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            row["params"] = res["params"]
            row[side] = res
            print(f"  {arch} {side} px: {res} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        rows.append(row)
    n = len(data()["train_y"])
    head = ["arch", "parameters"]
    for side in args.sizes:
        head += [
            f"img/s {side} px (wall)",
            f"img/s {side} px (CPU time)",
            f"epoch of {n} at {side} px",
            f"peak RSS {side} px",
        ]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        cells = [row["arch"], f"{row['params'] / 1e6:.1f} M"]
        for side in args.sizes:
            r = row.get(side)
            cells += ["-"] * 4 if r is None else [
                f"{r['img_s']:.1f}", f"{r['img_s_cpu']:.1f}", f"{n / r['img_s_cpu']:.0f} s", f"{r['rss_mb'] / 1024:.2f} GB"
            ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def flops(args) -> None:
    """Parameters and forward GFLOPs per image (torch's FlopCounterMode; 2 FLOPs per multiply-add)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ganaug.classifier import build_classifier

    torch.set_num_threads(args.threads)
    print("| arch | parameters | GFLOPs / image, forward, 32 px | 224 px |\n|---|---|---|---|")
    for arch in args.archs:
        row = []
        for side in (RES, 224):
            if arch == "resnet18_small" and side != RES:
                row.append("-")
                continue
            model = build_classifier(arch, 2, 1, 32, input_size=None if side == RES else side).eval()
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, 1, RES, RES))
            row.append(f"{counter.get_total_flops() / 1e9:.3f}")
        n_params = sum(p.numel() for p in model.parameters())
        print(f"| {arch} | {n_params / 1e6:.1f} M | {row[0]} | {row[1]} |")


def auc(args) -> None:
    import torch

    from ganaug.classifier import evaluate, predict_proba, train_classifier

    torch.set_num_threads(args.threads)
    print("\n".join(machine_lines(args.threads)))
    d = data()
    print(
        f"- train {np.bincount(d['train_y']).tolist()}, val {np.bincount(d['val_y']).tolist()}, "
        f"test {np.bincount(d['test_y']).tolist()} (NORMAL, PNEUMONIA), {RES} px; seeds {args.seeds}\n"
    )
    t_start = time.perf_counter()
    rows, skipped = [], []
    for arch in args.archs:
        if (time.perf_counter() - t_start) / 60 > args.budget_min:
            skipped.append(arch)
            continue
        cfg = settings(arch)
        aucs, secs = [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            model, hist = train_classifier(
                d["train_x"], d["train_y"], d["val_x"], d["val_y"], 2, cfg, "cpu", seed, progress=False
            )
            probs = predict_proba(model, d["test_x"], "cpu", amp=cfg["amp"])
            metrics, _ = evaluate(probs, d["test_y"], ["NORMAL", "PNEUMONIA"], "PNEUMONIA")
            aucs.append(metrics["auc"])
            secs.append(time.perf_counter() - t0)
            print(f"  {arch} seed {seed}: AUC {metrics['auc']:.4f} ({secs[-1]:.0f} s)", file=sys.stderr, flush=True)
        rows.append((arch, aucs, secs))
    print("| arch | test AUC mean ± sd | per seed | s per run (8 epochs + test) |\n|---|---|---|---|")
    for arch, aucs, secs in rows:
        per = ", ".join(f"{a:.3f}" for a in aucs)
        sd = np.std(aucs, ddof=1) if len(aucs) > 1 else float("nan")
        print(f"| {arch} | {np.mean(aucs):.3f} ± {sd:.3f} | {per} | {np.median(secs):.0f} |")
    if skipped:
        print(f"\nnot run (budget of {args.budget_min:g} min spent): {', '.join(skipped)}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_time":
        _time_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="part", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--archs", nargs="+", default=ARCHS, choices=ARCHS)
    t.add_argument("--sizes", nargs="+", type=int, default=[RES, 224])
    t.add_argument("--batches", type=int, default=3, help="timed batches of 64 at 32 px")
    t.add_argument("--batches-large", type=int, default=2, help="timed batches at the larger sides")
    t.add_argument("--batch-large", type=int, default=8, help="batch size at the larger sides (memory, time)")
    t.add_argument("--threads", type=int, default=2)
    a = sub.add_parser("auc")
    a.add_argument("--archs", nargs="+", default=ARCHS, choices=ARCHS)
    a.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--budget-min", type=float, default=20.0)
    f = sub.add_parser("flops")
    f.add_argument("--archs", nargs="+", default=ARCHS, choices=ARCHS)
    f.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    {"timing": timing, "auc": auc, "flops": flops}[args.part](args)


if __name__ == "__main__":
    main()
