"""ResNet-18 for small images (MedMNIST / CIFAR style).

The ImageNet ResNet-18 starts with a 7x7 stride-2 convolution and a 3x3
max-pool, which shrink a 28 px image to 7 px before the first residual stage.
For small inputs the usual adaptation (He et al. 2016, CIFAR section; the
MedMNIST v2 "ResNet-18 (28)" baseline) replaces that stem with one 3x3
stride-1 convolution and drops the max-pool.  The four stages keep the
standard layout: two :class:`BasicBlock` each (the same layers, parameter names
and forward pass as ``torchvision.models.resnet.BasicBlock``, kept here so a
classifier job does not pay for importing torchvision), with
``width, 2*width, 4*width, 8*width`` channels and stride 2 at the start of
stages 2-4; then global average pooling and a linear layer.

``width=64`` is the standard network (about 11.2 M parameters); smaller
widths scale the parameter count roughly by ``(width / 64) ** 2`` and are
what makes CPU training practical.

This is ``classifier.arch: resnet18_small``; ``resnet18`` is torchvision's ImageNet
ResNet-18 (see :mod:`ganaug.classifier.networks`, which holds the arch registry).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "SmallResNet", "resnet18_small"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias (the projection shortcut)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or projected) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    """A ResNet of :class:`BasicBlock` stages with a 3x3 stride-1 stem and no max-pool."""

    def __init__(
        self,
        layers: tuple[int, ...],
        num_classes: int,
        in_channels: int,
        width: int = 64,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")

        self.stem = nn.Sequential(
            conv3x3(in_channels, width, stride=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages = []
        inplanes = width
        for i, n_blocks in enumerate(layers):
            planes = width * 2**i
            stride = 1 if i == 0 else 2
            stages.append(self._make_stage(inplanes, planes, n_blocks, stride))
            inplanes = planes * BasicBlock.expansion
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        self._init_weights()

    @staticmethod
    def _make_stage(inplanes: int, planes: int, n_blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                conv1x1(inplanes, planes * BasicBlock.expansion, stride),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        blocks = [BasicBlock(inplanes, planes, stride=stride, downsample=downsample)]
        blocks += [BasicBlock(planes * BasicBlock.expansion, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*blocks)

    def _init_weights(self) -> None:
        # The same initialisation torchvision uses for its ResNets.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the globally pooled output of the last stage, ``(N, 8 * width)``."""
        x = self.stem(x)
        x = self.stages(x)
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The head runs in float32 even under autocast, so logits (and the AUC ranks
        # made from them) keep float32 resolution when the body runs in bf16/fp16.
        features = self.embed(x)
        with torch.autocast(features.device.type, enabled=False):
            return self.fc(features.float())


def resnet18_small(num_classes: int, in_channels: int, width: int = 64) -> SmallResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]) for 28-128 px inputs."""
    return SmallResNet((2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels, width=width)
