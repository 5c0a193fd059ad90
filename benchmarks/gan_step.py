"""GAN training step: ganaug's DCGAN loop vs a plain loop written as PyTorch's DCGAN example writes it.

Same architecture (the example's G and D, with as many stride-2 stages as the
resolution needs, ngf = ndf = 64 by default as in the example), same batch,
same resolution, same optimiser (Adam, lr 2e-4, betas (0.5, 0.999)), same
threads, same real images (chest X-rays, grayscale). The reference loop is the
example's (github.com/pytorch/examples, dcgan/main.py): Sigmoid + BCELoss,
label tensors built every step, ``.item()`` on D(x), D(G(z)) and both losses
every step, default Adam, ``zero_grad()``, contiguous tensors. ganaug's is
``ganaug.gan.train_gan`` itself (channels_last, foreach Adam, logits + BCE
with logits, one host copy of the losses every 10 steps).

Runs alternate (reference, ganaug, reference, ganaug, ...) so load drifts hit
both alike; each run times ``--steps`` steps after ``--warmup`` untimed ones.
Prints medians, min-max and the ratio of medians (images/s ganaug / reference).

    python benchmarks/gan_step.py                       # 32 and 64 px
    python benchmarks/gan_step.py --res 32 --repeats 5

On a machine with CUDA both loops run on the GPU (``--device auto``, the default): the
reference moves each batch from the CPU to the GPU as the example's DataLoader loop does,
ganaug keeps its (small, uint8) training set on the GPU. GPU steps are short, so use more
of them there (``--steps 300 --warmup 30``); ``--amp fp16`` is CUDA-only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import benchlib  # noqa: F401 - puts src/ and tests/ on sys.path

GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class RefGenerator(nn.Module):
    def __init__(self, nz, ngf, nc, res):
        super().__init__()
        start, stages = GEOMETRY[res]
        w = ngf * 2 ** (stages - 1)
        layers = [nn.ConvTranspose2d(nz, w, start, 1, 0, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(True)]
            w //= 2
        layers += [nn.ConvTranspose2d(w, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input)


class RefDiscriminator(nn.Module):
    def __init__(self, ndf, nc, res):
        super().__init__()
        start, stages = GEOMETRY[res]
        w = ndf
        layers = [nn.Conv2d(nc, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(stages - 1):
            layers += [nn.Conv2d(w, w * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.LeakyReLU(0.2, inplace=True)]
            w *= 2
        layers += [nn.Conv2d(w, 1, start, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def reference_run(
    images: np.ndarray, res: int, nz: int, ngf: int, batch: int, warmup: int, steps: int, device=None
) -> float:
    """Seconds per step of the example's loop (after ``warmup`` steps)."""
    torch.manual_seed(0)
    device = torch.device(device or "cpu")
    netG, netD = RefGenerator(nz, ngf, 1, res).to(device), RefDiscriminator(ngf, 1, res).to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    real_label, fake_label = 1, 0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    n = len(data)
    start = None
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        idx = torch.randint(0, n, (batch,))
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = data[idx].to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(batch_size, nz, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        _ = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)
    benchlib.sync(device)
    return (time.perf_counter() - start) / steps


def ganaug_run(
    images: np.ndarray, res: int, nz: int, ngf: int, batch: int, warmup: int, steps: int, amp: str = "none", device=None
) -> float:
    """Seconds per step of ganaug.gan.train_gan (timed from its losses' own step after ``warmup``)."""
    from ganaug.gan import train_gan

    cfg = dict(model="dcgan", steps=warmup + steps, batch_size=batch, nz=nz, ngf=ngf, ndf=ngf, lr_g=2e-4,
               lr_d=2e-4, beta1=0.5, beta2=0.999, sample_every=warmup + steps, seed=0, amp=amp)  # fmt: skip
    labels = np.zeros(len(images), np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        # time the whole loop with the warmup run separately: two calls, the difference is `steps` steps
        t0 = time.perf_counter()
        train_gan(images, labels, 1, {**cfg, "steps": warmup, "sample_every": warmup}, Path(tmp) / "w", device, 0,
                  "per_class", ["x"], progress=False)  # fmt: skip
        benchlib.sync(device)
        t1 = time.perf_counter()
        train_gan(images, labels, 1, cfg, Path(tmp) / "f", device, 0, "per_class", ["x"], progress=False)
        benchlib.sync(device)
        t2 = time.perf_counter()
    return ((t2 - t1) - (t1 - t0)) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--res", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--nz", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--amp",
        default="none",
        choices=["none", "bf16", "fp16"],
        help="ganaug's amp setting (the reference stays float32)",
    )
    ap.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    args = ap.parse_args()

    from ganaug.runtime import resolve_device
    from helpers import load_xrays

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    print(f"{benchlib.device_name() if device.type == 'cuda' else 'CPU'}: "
          f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, ngf=ndf={args.ngf}, "
          f"{args.steps} timed steps after {args.warmup}, {args.repeats} alternating repeats, ganaug amp {args.amp}",
          file=sys.stderr)  # fmt: skip
    print("| res | reference ms/step (median, min-max) | ganaug ms/step (median, min-max) | speed-up (median ratio) |")
    print("|---|---|---|---|")
    for res in args.res:
        images = load_xrays("train", "NORMAL", 256, res)
        ref, ours = [], []
        for _ in range(args.repeats):
            ref.append(
                1000 * reference_run(images, res, args.nz, args.ngf, args.batch, args.warmup, args.steps, device)
            )
            ours.append(1000 * ganaug_run(images, res, args.nz, args.ngf, args.batch, args.warmup, args.steps, args.amp,
                                          device))  # fmt: skip
            print(f"{res} px: reference {ref[-1]:.1f} ms, ganaug {ours[-1]:.1f} ms", file=sys.stderr)
        r, o = statistics.median(ref), statistics.median(ours)
        f = "{:.1f}" if max(ref + ours) < 100 else "{:.0f}"  # GPU steps take a few ms
        print(f"| {res} | {benchlib.mmm(ref, f)} | {benchlib.mmm(ours, f)} | {r / o:.2f}x |")


if __name__ == "__main__":
    main()
