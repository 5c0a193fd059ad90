"""Residual GAN for small images: SNGAN's ResNet generator and discriminator (model ``resgan``).

After Miyato et al. 2018 (Spectral Normalization for GANs, appendix B.4, the
CIFAR-10 ResNets) and Miyato & Koyama 2018 (cGANs with Projection
Discriminator), scaled down so that a 32 px step costs about what a DCGAN step
costs on a CPU:

Generator ``G(z, labels=None)``::

    z -> Linear -> (ngf*4, s, s)          s = 4 (7 at 28 px)
      -> UpBlock x stages                 each: BN-ReLU-up2-conv3x3-BN-ReLU-conv3x3, + up2-conv1x1 shortcut
      -> BN-ReLU-conv3x3-Tanh             (N, C, R, R) in [-1, 1]

Widths halve per block down to ``ngf`` (32 px, ngf 32: 128 @ 4 -> 64 @ 8 -> 32 @ 16 -> 32 @ 32).
Conditional mode replaces every BatchNorm of G by a *conditional* BatchNorm: the
normalisation's gain and bias are rows of per-class embeddings (gain initialised
to 1, bias to 0), so each class gets its own feature statistics.

Discriminator ``D(x, labels=None) -> logits (N,)``, every layer spectrally normalised::

    x -> OptimizedBlock (conv3x3-ReLU-conv3x3-avgpool, + avgpool-conv1x1)   ndf @ R/2
      -> DownBlock x (stages - 1)    ReLU-conv3x3-ReLU-conv3x3-avgpool, + conv1x1-avgpool; width x2
      -> Block (no downsampling)
      -> ReLU -> sum over space -> h (N, width) -> Linear -> logit
      (+ <embed(y), h> in conditional mode: the projection discriminator)

Trained with the hinge loss (as SNGAN). No BatchNorm in D, so DiffAugment and
per-sample penalties see independent samples. ``28`` px uses the DCGAN
geometry (start 7, two stages).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .common import geometry, need_labels


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part; gain and bias per class (or one shared pair when unconditional)."""

    def __init__(self, channels: int, num_classes: int | None):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes or 1, channels)
        self.bias = nn.Embedding(num_classes or 1, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        self.conditional = bool(num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.conditional:
            idx = need_labels(labels, "generator")
        else:
            idx = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        h = self.bn(x)
        return h * self.gain(idx)[:, :, None, None].to(h.dtype) + self.bias(idx)[:, :, None, None].to(h.dtype)


class UpBlock(nn.Module):
    def __init__(self, a: int, b: int, num_classes: int | None):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm2d(a, num_classes), ConditionalBatchNorm2d(b, num_classes)
        self.conv1, self.conv2 = nn.Conv2d(a, b, 3, 1, 1), nn.Conv2d(b, b, 3, 1, 1)
        self.skip = nn.Conv2d(a, b, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), labels)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResGenerator(nn.Module):
    """SNGAN-style ResNet generator; conditional BatchNorm when ``num_classes`` is given."""

    def __init__(self, nz: int, ngf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        start, stages = geometry(resolution)
        self.nz, self.start = nz, start
        widths = [max(ngf, ngf * 4 // 2**k) for k in range(stages + 1)]
        self.width0 = widths[0]
        self.linear = nn.Linear(nz, widths[0] * start * start)
        self.blocks = nn.ModuleList(UpBlock(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        self.bn = ConditionalBatchNorm2d(widths[-1], num_classes)
        self.out = nn.Conv2d(widths[-1], channels, 3, 1, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z.reshape(z.size(0), self.nz)).reshape(z.size(0), self.width0, self.start, self.start)
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.out(F.relu(self.bn(h, labels))))


def _sn(layer: nn.Module) -> nn.Module:
    if isinstance(layer, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return spectral_norm(layer)


class DownBlock(nn.Module):
    """Pre-activation residual block of D; ``first``: SNGAN's optimized block (no leading ReLU)."""

    def __init__(self, a: int, b: int, down: bool, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = _sn(nn.Conv2d(a, b, 3, 1, 1)), _sn(nn.Conv2d(b, b, 3, 1, 1))
        self.skip = _sn(nn.Conv2d(a, b, 1)) if (a != b or down) else None
        self.down, self.first = down, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        s = x
        if self.first:  # pool first, then project: cheaper, as in SNGAN's optimized block
            s = F.avg_pool2d(s, 2)
            h = F.avg_pool2d(h, 2)
            return h + self.skip(s)
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.skip is not None:
            s = self.skip(s)
            if self.down:
                s = F.avg_pool2d(s, 2)
        return h + s


class ResDiscriminator(nn.Module):
    """SNGAN-style ResNet discriminator; projection discriminator when ``num_classes`` is given."""

    def __init__(self, ndf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        _, stages = geometry(resolution)
        widths = [ndf * 2**k for k in range(stages)]
        blocks = [DownBlock(channels, widths[0], down=True, first=True)]
        blocks += [DownBlock(a, b, down=True) for a, b in zip(widths, widths[1:])]
        blocks.append(DownBlock(widths[-1], widths[-1], down=False))
        self.blocks = nn.Sequential(*blocks)
        self.linear = _sn(nn.Linear(widths[-1], 1))
        self.embed = None
        if num_classes:
            emb = nn.Embedding(num_classes, widths[-1])
            nn.init.xavier_uniform_(emb.weight)
            self.embed = spectral_norm(emb)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # (N, width)
        out = self.linear(h).reshape(-1)
        if self.embed is not None:
            out = out + (self.embed(need_labels(labels, "discriminator")) * h).sum(1)
        return out


def build_resgan(mode, channels, resolution, num_classes, nz, ngf, ndf):
    cond = num_classes if mode == "conditional" else None
    return ResGenerator(nz, ngf, channels, resolution, cond), ResDiscriminator(ndf, channels, resolution, cond)
