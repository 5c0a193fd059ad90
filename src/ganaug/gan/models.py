"""GAN architectures, reached through one registry: ``MODELS[name] -> builder``.

DCGAN (Radford et al., 2016) is written after PyTorch's DCGAN example
(github.com/pytorch/examples, ``dcgan/main.py``): a generator of transposed
convolutions with BatchNorm and ReLU and a Tanh output, a discriminator of
strided convolutions with LeakyReLU(0.2) and BatchNorm (none on the first
layer), weights drawn from N(0, 0.02) and BatchNorm scales from N(1, 0.02).

The example is written for 64 px. Here the number of stride-2 stages follows
the resolution: the generator starts from a 4x4 map (7x7 for 28 px) and
doubles it until it reaches the image size; the discriminator mirrors that.

    resolution  start  stages   generator maps
        28        7      2      7 -> 14 -> 28
        32        4      3      4 -> 8 -> 16 -> 32
        64        4      4      4 -> 8 -> 16 -> 32 -> 64
       128        4      5      4 -> 8 -> 16 -> 32 -> 64 -> 128

Widths halve on the way up (the first generator map has ``ngf * 2**(stages-1)``
channels) and double on the way down (the discriminator's last map has
``ndf * 2**(stages-1)`` channels), as in the example.

Conditional form (``mode="conditional"``, cDCGAN):

* generator: the class label is embedded as a vector of size ``nz``
  (``nn.Embedding(num_classes, nz)``) and multiplied element-wise with ``z``;
* discriminator: the label is embedded as one extra input channel — an
  ``nn.Embedding(num_classes, R*R)`` row reshaped to ``1 x R x R`` and
  concatenated to the image — so the first convolution sees the class at
  every pixel.

Both networks take ``(input, labels=None)`` in either mode, so one training
loop serves both: unconditional networks ignore ``labels``, conditional ones
require them. The discriminator returns logits of shape ``(N,)``.

To add a model, write a builder with the signature of :func:`build_dcgan` and
register it in :data:`MODELS`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

MODES = ("per_class", "conditional")
CHANNELS = (1, 3)

# resolution -> (size of the generator's first map, number of stride-2 stages)
DCGAN_GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}


def _geometry(resolution: int) -> tuple[int, int]:
    if resolution not in DCGAN_GEOMETRY:
        allowed = ", ".join(str(r) for r in DCGAN_GEOMETRY)
        raise ValueError(f"resolution {resolution!r} is not supported by dcgan; allowed: {allowed}")
    return DCGAN_GEOMETRY[resolution]


def weights_init(m: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """DCGAN generator: z (N, nz) -> image (N, channels, R, R) in [-1, 1]."""

    def __init__(self, nz: int, ngf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        start, stages = _geometry(resolution)
        self.nz = nz
        self.label_emb = nn.Embedding(num_classes, nz) if num_classes else None

        width = ngf * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            # z as a 1x1 map -> start x start
            nn.ConvTranspose2d(nz, width, start, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):  # each stage doubles the size and halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_emb is not None:
            if labels is None:
                raise ValueError("conditional generator: labels are required")
            z = z * self.label_emb(labels)
        return self.main(z.reshape(z.size(0), self.nz, 1, 1))


class Discriminator(nn.Module):
    """DCGAN discriminator: image (N, channels, R, R) -> logits (N,)."""

    def __init__(self, ndf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        start, stages = _geometry(resolution)
        self.resolution = resolution
        # conditional: the label becomes one extra R x R input channel
        self.label_map = nn.Embedding(num_classes, resolution * resolution) if num_classes else None
        in_channels = channels + (1 if num_classes else 0)

        width = ndf
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 4, 2, 1, bias=False),  # no BatchNorm on the first layer
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(stages - 1):  # each stage halves the size and doubles the width
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        layers += [nn.Conv2d(width, 1, start, 1, 0, bias=False)]  # start x start -> 1x1 logit
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_map is not None:
            if labels is None:
                raise ValueError("conditional discriminator: labels are required")
            r = self.resolution
            maps = self.label_map(labels).reshape(-1, 1, r, r).to(x.dtype)
            x = torch.cat([x, maps], dim=1)
        return self.main(x).reshape(-1)


def build_dcgan(
    mode: str, channels: int, resolution: int, num_classes: int, nz: int, ngf: int, ndf: int
) -> tuple[Generator, Discriminator]:
    conditional = num_classes if mode == "conditional" else None
    return (
        Generator(nz, ngf, channels, resolution, conditional),
        Discriminator(ndf, channels, resolution, conditional),
    )


Builder = Callable[..., tuple[nn.Module, nn.Module]]

#: model name -> builder(mode, channels, resolution, num_classes, nz, ngf, ndf) -> (G, D)
MODELS: dict[str, Builder] = {"dcgan": build_dcgan}


def build_gan(
    model: str, mode: str, channels: int, resolution: int, num_classes: int, nz: int, ngf: int, ndf: int
) -> tuple[nn.Module, nn.Module]:
    """Build ``(G, D)`` for ``model`` in ``mode`` ('per_class' or 'conditional').

    Raises ``ValueError`` naming the offending value and the allowed ones.
    """
    if model not in MODELS:
        raise ValueError(f"unknown GAN model {model!r}; allowed: {', '.join(sorted(MODELS))}")
    if mode not in MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; allowed: {', '.join(MODES)}")
    if channels not in CHANNELS:
        raise ValueError(f"channels {channels!r} not supported; allowed: {', '.join(map(str, CHANNELS))}")
    for name, value in (("nz", nz), ("ngf", ngf), ("ndf", ndf)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if mode == "conditional" and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"conditional GAN needs num_classes >= 1, got {num_classes!r}")
    return MODELS[model](
        mode=mode, channels=channels, resolution=resolution, num_classes=num_classes, nz=nz, ngf=ngf, ndf=ndf
    )
