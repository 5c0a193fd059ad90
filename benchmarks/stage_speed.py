"""The two stages that dominate a sweep, at config.yaml's scale: one GAN job and one classifier job.

What each job of the default run does, through the package functions the job
scripts call, on real chest X-rays (32 px grayscale, first files by name):

* GAN job (``train_gan``): config.yaml's ``gan_defaults`` (DCGAN, ngf = ndf = 32,
  batch 64, 1500 steps, a checkpoint every 500) on the 150 NORMAL training images,
  as one per-class GAN job trains them.
* classifier job (``train_classifier`` + test predictions): config.yaml's ``classifier``
  settings (ResNet-18 width 32, batch 64, 8 epochs, AdamW, cosine) on 150 NORMAL + 600
  PNEUMONIA training images, selected on 134 + 388 validation images (the default
  run's 522), scored on the 624 test images (test AUC printed as a sanity check).

Each stage runs once per mixed-precision mode, modes alternating over ``--repeats``
so load drifts hit all alike; the ratio is float32's median time over the mode's.
The device is ``device: auto``'s (CUDA when present): on the CPU the modes are
none and bf16 (what ``amp: auto`` picks on a CPU with AVX512-BF16/AMX), on CUDA
none, bf16 and fp16.

    python benchmarks/stage_speed.py                       # both stages, 2 repeats (~6 min on 2 idle cores)
    python benchmarks/stage_speed.py --stages classifier --repeats 3
    python benchmarks/stage_speed.py --scale paper --gan-steps 1500 --epochs 8   # config/paper_gpu.yaml, shortened

``--scale paper`` merges config/paper_gpu.yaml as the paper run does: 64 px, DCGAN
ngf = ndf = 64 on 300 NORMAL images, ResNet-18 width 64, batch 128, on 300 + 2000
training images (the same 522 validation and 624 test images); its 30000 GAN steps and
40 epochs are for a GPU, so shorten them with ``--gan-steps`` / ``--epochs``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

import benchlib
from benchlib import REPO, mmm

N_VAL = {"NORMAL": 134, "PNEUMONIA": 388}
N_TEST = {"NORMAL": 234, "PNEUMONIA": 390}
CLASSES = ["NORMAL", "PNEUMONIA"]


def merged_config(scale: str) -> dict:
    """config.yaml with config/chest_xray.yaml (and for ``paper`` config/paper_gpu.yaml) merged over it."""
    from helpers import deep_update

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in ["chest_xray.yaml"] + (["paper_gpu.yaml"] if scale == "paper" else []):
        deep_update(cfg, yaml.safe_load((REPO / "config" / name).read_text()))
    return cfg


def load_sets(res: int, n_train: dict):
    from helpers import load_xrays

    train, val, test = [], [], []
    for k, c in enumerate(CLASSES):
        x = load_xrays("train", c, n_train[c] + N_VAL[c], res)
        train.append((x[: n_train[c]], k))
        val.append((x[n_train[c] :], k))
        test.append((load_xrays("test", c, N_TEST[c], res), k))

    def stack(parts):
        return np.concatenate([x for x, _ in parts]), np.concatenate([np.full(len(x), k) for x, k in parts])

    return stack(train), stack(val), stack(test)


def gan_job(images: np.ndarray, cfg: dict, device, amp: str) -> float:
    from ganaug.gan import train_gan

    labels = np.zeros(len(images), np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        benchlib.sync(device)
        t0 = time.perf_counter()
        train_gan(images, labels, 1, {**cfg, "amp": amp}, Path(tmp), device, 0, "per_class", ["NORMAL"],
                  progress=False)  # fmt: skip
        benchlib.sync(device)
        return time.perf_counter() - t0


def classifier_job(sets, cfg: dict, device, amp: str) -> tuple[float, float]:
    from ganaug.classifier import evaluate, predict_proba, train_classifier

    (x, y), (vx, vy), (tx, ty) = sets
    benchlib.sync(device)
    t0 = time.perf_counter()
    model, _ = train_classifier(x, y, vx, vy, 2, {**cfg, "amp": amp}, device, 0, progress=False)
    probs = predict_proba(model, tx, device, amp=amp)
    seconds = time.perf_counter() - t0
    metrics, _ = evaluate(probs, ty, CLASSES, "PNEUMONIA")
    return seconds, float(metrics["auc"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", nargs="+", default=["gan", "classifier"], choices=["gan", "classifier"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scale", choices=["default", "paper"], default="default")
    ap.add_argument("--threads", type=int, help="torch threads (default: the config's train_classifier threads)")
    ap.add_argument("--gan-steps", type=int, help="GAN steps (default: config.yaml's)")
    ap.add_argument("--epochs", type=int, help="classifier epochs (default: config.yaml's)")
    ap.add_argument("--amp", nargs="+", help="modes to compare (default: none bf16 on CPU, none bf16 fp16 on CUDA)")
    args = ap.parse_args()

    import torch

    from ganaug.runtime import resolve_device, seed_everything

    config = merged_config(args.scale)
    args.threads = args.threads or int(config["threads"]["train_classifier"])
    torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    modes = args.amp or (["none", "bf16", "fp16"] if device.type == "cuda" else ["none", "bf16"])
    res = int(config["experiment"]["resolution"])
    n_train = {c: int(config["experiment"]["subsample"]["max_per_class"][c]) for c in CLASSES}
    gan_cfg = dict(config["gan_defaults"])
    if args.gan_steps:
        gan_cfg.update(steps=args.gan_steps, sample_every=max(1, args.gan_steps // 3))
    clf_cfg = {k: config["classifier"][k] for k in ("arch", "width", "epochs", "batch_size", "lr", "weight_decay")}
    if args.epochs:
        clf_cfg["epochs"] = args.epochs
    print("\n".join(benchlib.machine_lines(args.threads)))
    print(f"- scale {args.scale}: {res} px, {n_train} training images; "
          f"GAN: {gan_cfg['model']} ngf={gan_cfg['ngf']} batch {gan_cfg['batch_size']} {gan_cfg['steps']} steps; "
          f"classifier: {clf_cfg['arch']} width {clf_cfg['width']} batch {clf_cfg['batch_size']} "
          f"{clf_cfg['epochs']} epochs; modes {modes}, {args.repeats} alternating repeats\n")  # fmt: skip
    sets = load_sets(res, n_train)
    normal = sets[0][0][sets[0][1] == 0]

    small = tuple((x[::8], y[::8]) for x, y in sets)  # every 8th image of each split, for the warm-up
    for amp in modes:  # untimed warm-up of every mode (allocator, oneDNN/cuDNN kernel choice, CUDA context)
        gan_job(normal[:64], {**gan_cfg, "steps": 5, "sample_every": 5}, device, amp)
        classifier_job(small, {**clf_cfg, "epochs": 1}, device, amp)
    times: dict[tuple[str, str], list[float]] = {}
    peak: dict[tuple[str, str], float] = {}
    aucs: dict[str, list[float]] = {}
    for r in range(args.repeats):
        for stage in args.stages:
            for amp in modes if r % 2 == 0 else modes[::-1]:
                seed_everything(0)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                if stage == "gan":
                    t = gan_job(normal, gan_cfg, device, amp)
                    extra = f"{1000 * t / gan_cfg['steps']:.1f} ms/step"
                else:
                    t, auc = classifier_job(sets, clf_cfg, device, amp)
                    aucs.setdefault(amp, []).append(auc)
                    extra = f"test AUC {auc:.4f}"
                times.setdefault((stage, amp), []).append(t)
                if device.type == "cuda":
                    peak[(stage, amp)] = torch.cuda.max_memory_allocated() / 2**20
                    extra += f", peak GPU memory {peak[(stage, amp)]:.0f} MiB"
                print(f"  repeat {r + 1} {stage} amp={amp}: {t:.1f} s ({extra})", file=sys.stderr, flush=True)

    print("| stage | amp | seconds per job, median (min-max) | per unit | speed-up vs float32 | test AUC (seed 0) |")
    print("|---|---|---|---|---|---|")
    n_img = len(sets[0][0]) * clf_cfg["epochs"]
    for stage in args.stages:
        base = statistics.median(times[(stage, modes[0])])
        for amp in modes:
            t = times[(stage, amp)]
            med = statistics.median(t)
            if stage == "gan":
                unit = f"{1000 * med / gan_cfg['steps']:.1f} ms/step"
                auc = "—"
            else:
                unit = f"{n_img / med:.0f} train img/s (incl. eval)"
                auc = ", ".join(f"{a:.4f}" for a in aucs[amp])
            print(f"| {stage} | {amp} | {mmm(t, '{:.1f}')} | {unit} | {base / med:.2f}x | {auc} |")


if __name__ == "__main__":
    main()
