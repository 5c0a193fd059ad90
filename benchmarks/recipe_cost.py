"""What each generator recipe of ``gan_quality.py`` costs per generator replicate, beside its quality.

Issue 28 allows the GAN stage up to 1.5x today's cost per generator replicate (config.yaml's
``dcgan`` cell: one all-classes GAN, then a fine-tuned copy per class). A recipe's cost is its
generator steps times the cost of each: ``gan_quality.py`` gives every recipe the same total steps
(a per-class sweep's K x ``--steps``), split into phases — a transfer recipe's all-classes
pretraining (an unconditional DCGAN step) and its fine-tuning or conditional steps (the recipe's
own step: conditional, R1, minibatch-std, class_norm, a wider G ...). This script times one step
of every distinct phase with the pipeline's own ``train_gan`` on random images of the dataset's
shape, interleaved over ``--repeats`` rounds so load drifts hit all alike, and prints per recipe
its ms per step and its cost relative to config.yaml's recipe (``dcgan_da_ema_freezed``).

Not counted: sampling, scoring and the FID curve of ``select: best_fid`` (one 100-image FID per
checkpoint and scored class: a per-class minority cell ranks one class, a conditional cell every
class, so on blood a conditional recipe's curve costs 8x a basophil-only one's).

    python benchmarks/recipe_cost.py                                   # chest and blood shapes
    python benchmarks/recipe_cost.py --shapes blood --recipes dcgan_da_ema_freezed cdcgan_cbn_da_ema_bal_tl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from gan_quality import RECIPES, settings, shared_cell

import benchlib

#: dataset shapes as gan_quality.py loads them: (channels, resolution, classes, training images)
SHAPES = {"chest": (1, 32, 2, 750), "breastmnist": (1, 28, 2, 546), "ham10000": (3, 32, 3, 771),
          "blood": (3, 32, 8, 1090)}  # fmt: skip
REFERENCE = "dcgan_da_ema_freezed"  # config.yaml's dcgan cell
DEFAULT_RECIPES = [REFERENCE, "dcgan_da_ema", "dcgan_freezed_r1_mbstd", "dcgan_freezed_g64", "cdcgan_da_ema_bal",
                   "cdcgan_da_ema_bal_tl", "cdcgan_cbn_da_ema_bal_tl", "cdcgan_cbn_ms_da_ema_bal_tl"]  # fmt: skip


def phases(recipe: str) -> list[tuple[float, dict]]:
    """(share of the recipe's total steps, the GAN cell those steps train) for each phase of ``recipe``."""
    cell = dict(RECIPES[recipe])
    transfer = cell.pop("transfer", None)
    if not transfer:
        return [(1.0, cell)]
    share = float(transfer["pretrain_share"])
    pre = shared_cell(cell)  # the shared GAN, on every class's images, as gan_quality.py trains it
    # the fine-tuning step is timed unfrozen (freeze_d needs the pretrained weights): an upper bound by the
    # frozen stage's weight gradients
    return [(share, pre), (1.0 - share, cell)]


def _key(cell: dict) -> str:
    return json.dumps(cell, sort_keys=True)


def time_step(cell: dict, shape: tuple, steps: int, seed: int, device) -> float:
    """ms per generator step of ``cell`` trained ``steps`` steps on random images of ``shape``."""
    from ganaug.gan import train_gan

    channels, res, k, n = shape
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, res, res, channels), dtype=np.uint8)
    conditional = cell["mode"] == "conditional"
    labels = rng.integers(0, k, size=n).astype(np.int64) if conditional else np.zeros(n, np.int64)
    names = [f"c{i}" for i in range(k)] if conditional else ["all"]
    cfg = settings(cell, steps, steps)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = train_gan(images, labels, len(names), cfg, tmp, device, seed, cell["mode"], names, progress=False)
        wall = time.perf_counter() - t0
    return float(summary.get("ms_per_step") or 1000 * wall / steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["chest", "blood"], choices=list(SHAPES))
    ap.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES)
    ap.add_argument("--steps", type=int, default=200, help="timed generator steps per phase and round")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the per-round ms/step here")
    args = ap.parse_args()
    unknown = [r for r in [REFERENCE, *args.recipes] if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipe(s) {unknown}; known: {', '.join(RECIPES)}")
    recipes = list(dict.fromkeys([REFERENCE, *args.recipes]))
    torch.set_num_threads(args.threads)
    device = benchlib.default_device()
    print("\n".join(benchlib.machine_lines(args.threads)))
    out = {}
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        cells = {}  # one timing per distinct phase cell: the shared GAN's step is timed once for all recipes
        for recipe in recipes:
            for _, cell in phases(recipe):
                cells.setdefault(_key(cell), cell)
        ms = {key: [] for key in cells}
        for r in range(args.repeats):
            for key, cell in cells.items():
                ms[key].append(time_step(cell, shape, args.steps, r, device))
        med = {key: statistics.median(v) for key, v in ms.items()}
        cost = {rec: sum(share * med[_key(c)] for share, c in phases(rec)) for rec in recipes}
        print(f"\n{shape_name}: {shape[2]} classes, {shape[0]}x{shape[1]}x{shape[1]}, {args.steps} steps per phase, "
              f"{args.repeats} rounds; cost = mean ms per step over the recipe's phases (equal total steps)\n")  # fmt: skip
        print("| recipe | phases: share x ms/step (median, min-max) | cost, ms/step | x config.yaml's dcgan |")
        print("|---|---|---|---|")
        for rec in recipes:
            parts = [f"{share:g} x {benchlib.mmm(ms[_key(c)], '{:.1f}')}"
                     for share, c in phases(rec)]  # fmt: skip
            print(f"| {rec} | {' + '.join(parts)} | {cost[rec]:.1f} | {cost[rec] / cost[REFERENCE]:.2f} |")
        out[shape_name] = {"ms": ms, "cost": cost}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
