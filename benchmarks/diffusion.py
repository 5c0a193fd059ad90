"""The diffusion generator (ddpm) on the CPU: its cost, and its quality at the reference GAN's wall time.

``speed``: training ms/step (batch 64, noise-prediction loss, Adam) and DDIM
sampling images/s (``sample_steps`` 50) of config.yaml's ``model_defaults.ddpm``
network at 32 px (channel_mult [1, 2, 2]) and 64 px ([1, 2, 2, 2]), after
warm-up steps, next to a DCGAN step (ngf = ndf = 32) timed in the same
process, so the ratio holds under whatever else loads the machine.

``quality``: the minority class of the default experiment as in
``benchmarks/gan_zoo.py`` (the first 150 NORMAL Kaggle training X-rays, 32 px,
grayscale; its data loading): first the reference GAN recipe, per-class DCGAN +
DiffAugment [color, translation, cutout] + EMA 0.999 for ``--ref-steps``
steps, timed; then ddpm per_class for as many steps as fit in the same
training wall time (from timed calibration steps; the two sample grids
train_gan draws with DDIM come on top and are in its "train wall"). Both are scored on NORMAL
against ``--n`` held-out real images (files 151..150+n): FID, the real floor
(FID of ``--n`` other real NORMAL images, files 401..400+n, the same N), KID,
improved precision / recall (k = 3) and MS-SSIM diversity.

    python benchmarks/diffusion.py speed
    python benchmarks/diffusion.py quality --ref-steps 3000 --n 250

Prints Markdown tables.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_lines  # noqa: E402, I001
from gan_zoo import load, settings  # noqa: E402

DA_EMA = {"model": "dcgan", "mode": "per_class", "diffaugment": ["color", "translation", "cutout"], "ema": 0.999}
DDPM = {"model": "ddpm", "mode": "per_class"}
MULT = {32: [1, 2, 2], 64: [1, 2, 2, 2]}


def _time(fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def ddpm_step(cfg: dict, res: int, mult: list[int]):
    """``(step, ema, x)``: one training step of train_gan's ddpm (loss, backward, Adam, EMA) on a batch of 64."""
    from ganaug.gan import build_gan
    from ganaug.gan.steps import EMA

    arch = {"channel_mult": mult, "res_blocks": cfg["res_blocks"], "timesteps": cfg["timesteps"],
            "sample_steps": cfg["sample_steps"], "guidance": cfg["guidance"]}  # fmt: skip
    model, _ = build_gan("ddpm", "per_class", 1, res, 2, 0, int(cfg["ngf"]), 0, **arch)
    model = model.to(memory_format=torch.channels_last)  # as train_gan on the CPU
    opt = torch.optim.Adam(model.parameters(), lr=2.0e-4, betas=(0.9, 0.999), foreach=True)
    ema, gen = EMA(model, 0.999), torch.Generator().manual_seed(0)
    x = (torch.rand(int(cfg["batch_size"]), 1, res, res) * 2 - 1).contiguous(memory_format=torch.channels_last)

    def step():
        opt.zero_grad(set_to_none=True)
        model.loss(x, None, gen, 0.1).backward()
        opt.step()
        ema.update(model, 100)

    return step, ema, x


def dcgan_step(res: int, x: torch.Tensor):
    """One DCGAN step (ngf = ndf = 32, nz = 100, BCE: D on real and fake, then G) on the batch ``x``."""
    from ganaug.gan import build_gan

    G, D = build_gan("dcgan", "per_class", 1, res, 2, 100, 32, 32)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    bce, n = torch.nn.BCEWithLogitsLoss(), len(x)

    def step():
        fake = G(torch.randn(n, 100))
        opt_d.zero_grad()
        (bce(D(x), torch.ones(n)) + bce(D(fake.detach()), torch.zeros(n))).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(fake), torch.ones(n)).backward()
        opt_g.step()

    return step


def speed(args) -> None:
    cfg = settings(DDPM, 1)
    rows = []
    for res in (32, 64):
        step, ema, x = ddpm_step(cfg, res, MULT[res])
        train_s = _time(step, args.warmup, args.steps)
        sampler, model = ema.module.eval(), ema.module
        z = torch.randn(args.sample_n, res * res, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            sample_s = _time(lambda: sampler(z), 1 if res == 32 else 0, 1)  # noqa: B023

        gan_s = _time(dcgan_step(res, x), args.warmup, args.steps)
        rows.append({
            "px": res, "ddpm ngf / channel_mult": f"{cfg['ngf']} / {MULT[res]}",
            "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
            "ddpm train ms/step": 1000 * train_s, "DCGAN ms/step (same run)": 1000 * gan_s,
            "ratio": train_s / gan_s, f"DDIM {cfg['sample_steps']} steps images/s": args.sample_n / sample_s,
        })  # fmt: skip
        print(pd.DataFrame(rows[-1:]).to_string(index=False), file=sys.stderr)
    print("\n".join(machine_lines(torch.get_num_threads())))
    print(f"- batch 64, {args.warmup} warm-up + {args.steps} timed steps; sampling {args.sample_n} images at once\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


def quality(args) -> None:
    from ganaug.gan import generate_images, load_generator, train_gan
    from ganaug.gan.generate import class_seed
    from ganaug.metrics import extract_features, feature_stats, kid, msssim_diversity, precision_recall
    from ganaug.metrics.fid import fid_from_stats_and_features

    normal, labels = load("NORMAL", 0, 150), np.zeros(150, np.int64)
    held_out, other = load("NORMAL", 150, args.n), load("NORMAL", 400, args.n)
    real_feats = extract_features(held_out)
    mu, sigma = feature_stats(real_feats)
    floor = fid_from_stats_and_features(mu, sigma, extract_features(other))
    real_msssim = msssim_diversity(held_out, pairs=200, seed=0)
    print(f"real NORMAL held-out N={args.n}: floor {floor:.1f}, MS-SSIM {real_msssim:.3f}", file=sys.stderr)
    header = machine_lines(torch.get_num_threads())

    def run(name, cfg, tmp):
        t0 = time.perf_counter()
        summary = train_gan(normal, labels, 2, cfg, tmp, "cpu", 0, "per_class", ["NORMAL", "PNEUMONIA"])
        wall = time.perf_counter() - t0
        G, meta = load_generator(Path(tmp) / "checkpoint.pt", "cpu")
        t0 = time.perf_counter()
        fake = generate_images(G, meta, args.n, None, class_seed(1234, 0), "cpu", batch_size=50)
        sample_s = time.perf_counter() - t0
        feats = extract_features(fake)
        k = kid(real_feats, feats, subset_size=min(100, args.n), n_subsets=50, seed=0)
        pr = precision_recall(real_feats, feats, k=3)
        return {
            "generator": name, "steps": int(cfg["steps"]), "train wall (s)": wall,
            "ms/step": summary["ms_per_step"], f"sample {args.n} (s)": sample_s,
            "FID": fid_from_stats_and_features(mu, sigma, feats), "FID / floor": 0.0,
            "KID x1000": 1000 * k["kid_mean"], "precision": pr["precision"], "recall": pr["recall"],
            "MS-SSIM": msssim_diversity(fake, pairs=200, seed=0),
        }  # fmt: skip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = settings(DA_EMA, args.ref_steps)
        rows.append(run("dcgan + DiffAugment + EMA", ref, Path(tmp) / "ref"))
        budget = rows[0]["train wall (s)"] if args.wall is None else args.wall
        print(rows[-1], file=sys.stderr)
        per_step = _time(ddpm_step(settings(DDPM, 1), 32, MULT[32])[0], 2, args.calib_steps)
        steps = max(1, int(budget / per_step))  # training steps only: its sample grids come on top
        print(f"ddpm: {per_step:.2f} s/step -> {steps} steps in {budget:.0f} s", file=sys.stderr)
        rows.append(run("ddpm (same wall)", settings(DDPM, steps), Path(tmp) / "ddpm"))
    for row in rows:
        row["FID / floor"] = row["FID"] / floor
    print("\n".join(header))
    print(f"- NORMAL, 32 px, 150 training images; FID / KID / precision-recall N = {args.n} held-out, "
          f"real floor {floor:.1f} (N = {args.n} other real images), real MS-SSIM {real_msssim:.3f}\n")  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--warmup", type=int, default=2)
    sp.add_argument("--steps", type=int, default=5)
    sp.add_argument("--sample-n", type=int, default=16)
    q = sub.add_parser("quality")
    q.add_argument("--ref-steps", type=int, default=3000)
    q.add_argument("--wall", type=float, help="ddpm training seconds (default: the reference GAN's wall)")
    q.add_argument("--calib-steps", type=int, default=5)
    q.add_argument("--n", type=int, default=250)
    for p in (sp, q):
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    speed(args) if args.what == "speed" else quality(args)


if __name__ == "__main__":
    main()
