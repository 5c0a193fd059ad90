"""Compare every GAN of the zoo on the minority class of chest X-rays, on equal terms.

Real Kaggle chest X-rays (``../shared/data/chest_xray``), 32 px grayscale, the
default experiment's training set: the first 150 NORMAL (minority) and 600
PNEUMONIA training images (sorted by file name). Per-class models train on the
150 NORMAL images; conditional models (acgan, bagan) on all 750 and are asked
for NORMAL. Every model gets the same number of generator steps, batch size
and width (ngf = ndf = 32, nz = 100), each with its model_defaults from
config.yaml (optimiser, n_critic, ...).

Scored on NORMAL: FID and KID against ``--n`` held-out real NORMAL training
images (files 151..150+n, never seen by the GANs; TF-Inception features),
MS-SSIM diversity of the generated set (real set's value printed for
reference), and training wall time. FID/KID use the same N for every model.

    python benchmarks/gan_zoo.py                      # all models, 1500 steps, N = 250
    python benchmarks/gan_zoo.py --steps 300 --models dcgan sngan

Prints a Markdown table; ``--csv`` also writes it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHEST = REPO.parent / "shared" / "data" / "chest_xray" / "train"

CELLS = {
    "mlp": {"model": "mlp", "mode": "per_class"},
    "dcgan": {"model": "dcgan", "mode": "per_class"},
    "dcgan_da_ema": {"model": "dcgan", "mode": "per_class", "diffaugment": ["color", "translation", "cutout"],
                     "ema": 0.999},
    "wgan_gp": {"model": "wgan_gp", "mode": "per_class"},
    "sngan": {"model": "sngan", "mode": "per_class"},
    "cdcgan": {"model": "dcgan", "mode": "conditional"},
    "acgan": {"model": "acgan", "mode": "conditional"},
    "bagan": {"model": "bagan", "mode": "conditional"},
}  # fmt: skip


def load(cls: str, start: int, n: int, res: int = 32) -> np.ndarray:
    files = sorted((CHEST / cls).glob("*.jpeg"))[start : start + n]
    if len(files) < n:
        sys.exit(f"need {start + n} images in {CHEST / cls} (see ../shared/data/README.md), found {len(files) + start}")
    out = np.empty((n, res, res, 1), np.uint8)
    for k, f in enumerate(files):
        with Image.open(f) as im:
            out[k, :, :, 0] = np.asarray(im.convert("L").resize((res, res), Image.Resampling.BILINEAR))
    return out


def settings(cell: dict, steps: int) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    out = dict(cfg["gan_defaults"])
    out.update((cfg.get("model_defaults") or {}).get(cell["model"], {}))
    out.update(cell)
    out.update(steps=steps, sample_every=steps)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--n", type=int, default=250, help="images per side for FID / KID")
    ap.add_argument("--models", nargs="+", default=list(CELLS), choices=list(CELLS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--csv", type=Path)
    ap.add_argument("--amp", default="none", choices=["none", "bf16"], help="mixed precision of every model")
    args = ap.parse_args()

    from ganaug.gan import generate_images, load_generator, train_gan
    from ganaug.gan.generate import class_seed
    from ganaug.metrics import extract_features, feature_stats, kid, msssim_diversity
    from ganaug.metrics.fid import fid_from_stats_and_features
    from ganaug.runtime import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    normal, pneumonia = load("NORMAL", 0, 150), load("PNEUMONIA", 0, 600)
    held_out = load("NORMAL", 150, args.n)
    real_feats = extract_features(held_out, device=device)
    mu, sigma = feature_stats(real_feats)
    real_msssim = msssim_diversity(held_out, pairs=200, seed=0)
    print(f"device {device}; real NORMAL held-out N={args.n}: MS-SSIM {real_msssim:.3f}", file=sys.stderr)

    rows = []
    for name in args.models:
        cell = CELLS[name]
        cfg = dict(settings(cell, args.steps), amp=args.amp)
        conditional = cell["mode"] == "conditional"
        images = np.concatenate([normal, pneumonia]) if conditional else normal
        labels = np.repeat([0, 1], [150, 600]).astype(np.int64) if conditional else np.zeros(150, np.int64)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = train_gan(images, labels, 2, cfg, tmp, device, int(cfg["seed"]), cell["mode"],
                                ["NORMAL", "PNEUMONIA"], progress=True)  # fmt: skip
            seconds = time.perf_counter() - t0
            G, meta = load_generator(Path(tmp) / "checkpoint.pt", device)
            fake = generate_images(G, meta, args.n, 0 if conditional else None, class_seed(1234, 0), device)
        feats = extract_features(fake, device=device)
        k = kid(real_feats, feats, subset_size=min(100, args.n), n_subsets=50, seed=0)
        rows.append({
            "gan": name, "model": cell["model"], "mode": cell["mode"], "steps": args.steps, "amp": args.amp,
            "status": summary["status"],
            "fid": fid_from_stats_and_features(mu, sigma, feats),
            "kid_x1000": 1000 * k["kid_mean"], "kid_std_x1000": 1000 * k["kid_std"],
            "msssim": msssim_diversity(fake, pairs=200, seed=0), "train_s": seconds,
            "ms_per_step": summary["ms_per_step"],
        })  # fmt: skip
        print(pd.DataFrame(rows[-1:]).to_string(index=False), file=sys.stderr)

    df = pd.DataFrame(rows)
    print(f"\nNORMAL, 32 px, {args.steps} generator steps, FID/KID N = {args.n}, real MS-SSIM {real_msssim:.3f}\n")
    print(df.to_markdown(index=False, floatfmt=".3g"))
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
