"""Differentiable augmentation for GAN discriminators (DiffAugment, Zhao et al. 2020).

The same random transformations are applied to real and fake images before D
sees them, in both D's and G's update, and gradients flow through them to G.
On small data sets this keeps D from memorising the real images.

Policies (``diffaugment: [color, translation, cutout]`` in a GAN cell; any subset):

* ``color``: brightness (add U(-0.5, 0.5)), contrast (scale the deviation from
  the image mean by U(0.5, 1.5)) and, for 3-channel images only, saturation
  (scale the deviation from the per-pixel channel mean by U(0, 2)).
  Grayscale-safe: a 1-channel image stays 1 channel and saturation is skipped.
* ``translation``: shift by up to 1/8 of the image size in x and y (integer
  pixels, zero fill).
* ``cutout``: zero one square of half the image size at a random position.

All randomness comes from the ``generator`` passed in, so a seeded run
(and a run resumed from a checkpoint that saved the generator's state) is
reproducible. Images are in [-1, 1]; the output is not clamped, as in the
reference implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ganaug.names import DIFFAUGMENT_POLICIES as POLICIES


def _rand(n: int, x: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, generator=None) -> torch.Tensor:
    n = x.size(0)
    x = x + (_rand(n, x, generator) - 0.5)
    if x.size(1) == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(n, x, generator) * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(n, x, generator) + 0.5) + mean


def translation(x: torch.Tensor, generator=None, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=generator, device=x.device)
    # output pixel (i, j) reads input pixel (i - dy, j - dx); out of range -> 0 (padding index)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy + 1
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx + 1
    rows = rows.clamp(0, h + 1).expand(n, h, w)
    cols = cols.clamp(0, w + 1).expand(n, h, w)
    padded = F.pad(x, (1, 1, 1, 1))  # the border row/column is the zero fill
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, generator=None, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # centre of the square; the square may hang over the border, as in the reference
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_FUNCS = {"color": color, "translation": translation, "cutout": cutout}


def check_policy(policy: Sequence[str] | None) -> tuple[str, ...]:
    policy = tuple(policy or ())
    unknown = [p for p in policy if p not in _FUNCS]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; allowed: {', '.join(POLICIES)}")
    return policy


def diff_augment(x: torch.Tensor, policy: Sequence[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``policy`` (in the fixed order color, translation, cutout) to a batch (N, C, H, W)."""
    policy = check_policy(policy)
    for name in POLICIES:
        if name in policy:
            x = _FUNCS[name](x, generator)
    return x
