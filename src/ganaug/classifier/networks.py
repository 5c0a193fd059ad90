"""The classifier networks: the package's small-input ResNet-18 and torchvision's model zoo.

``classifier.arch`` names one entry of :data:`ARCHITECTURES` (the names live in
:data:`ganaug.names.CLASSIFIER_ARCHS`):

* ``resnet18_small`` - :func:`ganaug.classifier.resnet.resnet18_small`: 3x3 stem,
  no max pool, ``classifier.width``; always from scratch at the data's resolution.
* every other name - torchvision's network of that name, built with
  ``torchvision.models.get_model`` (torchvision is imported only then), wrapped
  in :class:`TorchvisionClassifier`: its own head (``fc`` / ``classifier[-1]`` /
  ``classifier``) becomes an identity and a new ``Linear(features, num_classes)``
  named ``fc`` follows, so every network has ``embed(x)`` (penultimate features)
  and ``fc`` (the head) as :mod:`ganaug.metrics.domain` and the training loop expect.

Inputs arrive as float batches in [-1, 1] (:func:`ganaug.classifier.evaluate.scale_images`).
A :class:`TorchvisionClassifier` then, in this order and on each batch:

1. resizes to ``input_size`` px (bilinear; antialiased when shrinking) unless it is
   ``None`` (native resolution) - on the fly, so the data set stays at its size in memory;
2. repeats a grayscale channel three times (the networks, and ImageNet's first
   convolution, expect RGB; the repeat equals summing the first convolution's
   weights over RGB, without having to know where each network keeps that layer);
3. with ImageNet weights only: maps [-1, 1] to [0, 1] and normalises with the
   weights' own mean / std (``Weights.transforms()``: ImageNet's 0.485/0.456/0.406,
   0.229/0.224/0.225). From scratch the [-1, 1] input is kept, as for the small net.

ImageNet weights (``pretrained='imagenet'``) are ``get_model_weights(arch).DEFAULT``,
fetched by torch.hub into its cache (``torch.hub.get_dir()/checkpoints``, i.e.
``$TORCH_HOME/hub/checkpoints``). :func:`fetch_weights` downloads the file if needed
and loads it with ``weights_only=True`` (so a file that is not plain tensors is
refused) before torchvision builds the network from the cached file; offline it
raises :class:`WeightsUnavailable`, one line naming the file, its URL and the folder
to put it in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganaug.classifier.resnet import resnet18_small
from ganaug.names import CLASSIFIER_ARCHS, CLASSIFIER_MIN_INPUT, TORCHVISION_ARCHS, check_registry

__all__ = [
    "ARCHITECTURES",
    "TorchvisionClassifier",
    "WeightsUnavailable",
    "build_classifier",
    "check_input_size",
    "fetch_weights",
    "freeze_backbone",
    "imagenet_weights",
    "weights_path",
]


class WeightsUnavailable(RuntimeError):
    """ImageNet weights that are neither in torch.hub's cache nor downloadable; the message is one line."""


def imagenet_weights(arch: str):
    """torchvision's default ImageNet weights enum member of ``arch`` (no download)."""
    import torchvision

    if arch not in TORCHVISION_ARCHS:
        raise ValueError(f"classifier arch {arch!r} has no ImageNet weights (torchvision archs: {TORCHVISION_ARCHS})")
    return torchvision.models.get_model_weights(arch).DEFAULT


def weights_path(arch: str) -> Path:
    """Where torch.hub keeps ``arch``'s ImageNet weights: ``torch.hub.get_dir()/checkpoints/<url basename>``."""
    from urllib.parse import urlparse

    url = imagenet_weights(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def fetch_weights(arch: str) -> Path:
    """Make sure ``arch``'s ImageNet weights are in torch.hub's cache; return the file.

    Downloads them (torch.hub, hash-checked) when missing and loads the file once
    with ``weights_only=True``. Raises :class:`WeightsUnavailable` when that fails,
    e.g. on a machine without internet.
    """
    url = imagenet_weights(arch).url
    path = weights_path(arch)
    try:
        torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
    except Exception as exc:  # URLError, HTTPError, hash mismatch, unpickling refused, ...
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise WeightsUnavailable(
            f"classifier.pretrained = imagenet: cannot get the {arch} ImageNet weights {path.name} ({reason}); "
            f"download {url} and put it into {path.parent} (torch.hub's cache, $TORCH_HOME/hub/checkpoints), "
            f"or run `snakemake results/weights/{arch}_imagenet.json` on a machine with internet"
        ) from None
    return path


def check_input_size(arch: str, side: int) -> None:
    """Raise ``ValueError`` if ``arch`` cannot run on ``side`` x ``side`` px inputs."""
    need = CLASSIFIER_MIN_INPUT.get(arch, 1)
    if int(side) < need:
        raise ValueError(
            f"classifier arch {arch!r} needs inputs of at least {need} px, got {side} px: "
            f"set classifier.input_size to {need} or more"
        )


def _head(body: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """The parent module, attribute name and module of a torchvision classifier's last Linear layer."""
    fc = getattr(body, "fc", None)
    if isinstance(fc, nn.Linear):  # ResNets
        return body, "fc", fc
    head = getattr(body, "classifier", None)
    if isinstance(head, nn.Linear):  # DenseNets
        return body, "classifier", head
    if isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Linear):  # VGG, EfficientNet
        return head, str(len(head) - 1), head[-1]
    raise ValueError(f"cannot find the classification head of {type(body).__name__}")


class TorchvisionClassifier(nn.Module):
    """A torchvision network with a new ``num_classes`` head and the input handling of the module docstring."""

    def __init__(
        self,
        arch: str,
        num_classes: int,
        in_channels: int,
        *,
        pretrained: str = "none",
        input_size: int | None = None,
        load_weights: bool = True,
    ) -> None:
        super().__init__()
        import torchvision

        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if in_channels not in (1, 3):
            raise ValueError(f"{arch} takes 1- or 3-channel images, got {in_channels} channels")
        if pretrained not in ("none", "imagenet"):
            raise ValueError(f"pretrained must be 'none' or 'imagenet', got {pretrained!r}")
        weights = imagenet_weights(arch) if pretrained == "imagenet" else None
        # load_weights=False rebuilds a pretrained network's layout (its normalisation too) for a saved state dict
        body = torchvision.models.get_model(arch, weights=weights if load_weights else None)
        parent, name, head = _head(body)
        setattr(parent, name, nn.Identity())
        self.arch = arch
        self.body = body
        self.fc = nn.Linear(head.in_features, num_classes)
        self.in_channels = int(in_channels)
        self.input_size = None if input_size is None else int(input_size)
        self.frozen = False
        if weights is not None:
            t = weights.transforms()
            self.register_buffer("mean", torch.tensor(t.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(t.std).view(1, 3, 1, 1), persistent=False)
        else:
            self.mean = self.std = None

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] batch -> the network's input: resized, 3 channels, ImageNet-normalised if pretrained."""
        if self.input_size is not None and x.shape[-1] != self.input_size:
            shrink = self.input_size < x.shape[-1]
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=shrink
            )
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.mean is not None:
            x = (x * 0.5 + 0.5 - self.mean) / self.std
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, D)``: the network's output without its original head."""
        return torch.flatten(self.body(self.preprocess(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # as in SmallResNet: the head runs in float32 even under autocast
        features = self.embed(x)
        with torch.autocast(features.device.type, enabled=False):
            return self.fc(features.float())

    def freeze_backbone(self) -> None:
        """Train only the head: the backbone's parameters stop needing gradients, its BatchNorm stays in eval mode."""
        for p in self.body.parameters():
            p.requires_grad_(False)
        self.frozen = True
        self.train(self.training)

    def train(self, mode: bool = True) -> TorchvisionClassifier:
        super().train(mode)
        if self.frozen:  # frozen BatchNorm keeps its (ImageNet) running statistics; dropout off too
            self.body.eval()
        return self


#: oneDNN's 1x1 strided convolution, weight gradient, NHWC, fewer input channels than its block (8 with AVX2,
#: 16 with AVX-512): hangs, crashes or gives wrong weight gradients (uxlfoundation/oneDNN#6035; seen with torch
#: 2.14.1 on an AMD EPYC with AVX2: resnet18_small at width < 8 aborted in backward, and a 2 -> 4 channel 1x1
#: stride-2 convolution's weight gradient was 1 % off). resnet18_small's first shortcut has width input channels.
CHANNELS_LAST_MIN_1X1_STRIDED = 16


def memory_format_for(model: nn.Module, channels_last: bool, device: torch.device | str) -> torch.memory_format:
    """``torch.channels_last`` where asked for and safe on ``device``; on the CPU not for a network with a 1x1
    strided convolution of fewer than :data:`CHANNELS_LAST_MIN_1X1_STRIDED` input channels (a oneDNN bug)."""
    if not channels_last:
        return torch.contiguous_format
    if torch.device(device).type == "cpu":
        for m in model.modules():
            if (
                isinstance(m, nn.Conv2d)
                and m.kernel_size == (1, 1)
                and m.stride != (1, 1)
                and m.in_channels < CHANNELS_LAST_MIN_1X1_STRIDED
            ):
                return torch.contiguous_format
    return torch.channels_last


def in_format(x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """``x`` in ``memory_format`` with that format's own strides. ``contiguous()`` leaves a one-channel batch
    permuted from NHWC as it is (it counts as both formats), and convolutions then run NHWC throughout."""
    if memory_format != torch.contiguous_format:
        return x.contiguous(memory_format=memory_format)
    strides, step = [], 1
    for size in reversed(x.shape):
        strides.insert(0, step)
        step *= size
    return x if list(x.stride()) == strides else x.clone(memory_format=memory_format)


def freeze_backbone(model: nn.Module) -> None:
    """``model.freeze_backbone()``; ``ValueError`` for networks without a separable backbone (resnet18_small)."""
    if not hasattr(model, "freeze_backbone"):
        raise ValueError(f"classifier.freeze = backbone needs a torchvision arch, not {type(model).__name__}")
    model.freeze_backbone()


def _small(num_classes: int, in_channels: int, width: int = 64, **_) -> nn.Module:
    return resnet18_small(num_classes=num_classes, in_channels=in_channels, width=width)


def _torchvision(arch: str, num_classes: int, in_channels: int, width: int = 64, **kwargs) -> nn.Module:
    return TorchvisionClassifier(arch, num_classes, in_channels, **kwargs)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"resnet18_small": _small}
ARCHITECTURES.update({arch: functools.partial(_torchvision, arch) for arch in TORCHVISION_ARCHS})
check_registry("classifier arch", ARCHITECTURES, CLASSIFIER_ARCHS)


def build_classifier(
    arch: str,
    num_classes: int,
    in_channels: int,
    width: int = 64,
    *,
    pretrained: str = "none",
    input_size: int | None = None,
    load_weights: bool = True,
) -> nn.Module:
    """Build the classifier named ``arch`` (a key of :data:`ARCHITECTURES`).

    ``width``: resnet18_small only. ``pretrained`` ('none' | 'imagenet'), ``input_size``
    (``None`` = native) and ``load_weights`` (False: the pretrained layout without
    loading the weights, for a saved state dict): torchvision archs only.
    """
    try:
        factory = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown classifier arch {arch!r}; choose one of: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    if arch not in TORCHVISION_ARCHS:
        if pretrained != "none":
            raise ValueError(f"classifier arch {arch!r} has no pretrained weights (pretrained must be 'none')")
        if input_size is not None:
            raise ValueError(f"classifier arch {arch!r} runs at the data's resolution (input_size must be native)")
        return factory(num_classes=int(num_classes), in_channels=int(in_channels), width=int(width))
    return factory(
        num_classes=int(num_classes),
        in_channels=int(in_channels),
        pretrained=pretrained,
        input_size=input_size,
        load_weights=load_weights,
    )
