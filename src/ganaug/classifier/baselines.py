"""Non-GAN baselines for class imbalance, each combinable with synthetic images.

A baseline changes *how* the classifier is trained on a given training set
(real, or real mixed with synthetic images), never the set itself:

* ``none`` - plain training: a random permutation per epoch, unweighted
  cross-entropy, no augmentation.
* ``classic`` - classic augmentation of every training batch
  (:class:`ClassicAugment`): horizontal flip (p = 0.5), a small random affine
  transform (rotation +-10 deg, translation +-6 % of the image side, scale
  0.9-1.1; borders replicated), brightness +-0.1 and contrast x0.9-1.1 (on the
  [0, 1] intensity scale), clamped to the valid range.  No vertical flips: an
  upside-down chest X-ray or lesion photograph is not a plausible image.
* ``oversample`` - class-balanced sampling: each epoch draws ``N`` indices
  with replacement, image ``i`` with probability proportional to
  ``1 / n_{y_i}``, so every class is drawn about ``N / K`` times
  (:func:`ganaug.classifier.train.balanced_indices`).
* ``weighted_loss`` - cross-entropy weighted by class, ``w_c = N / (K n_c)``
  (:func:`inverse_frequency_weights`, scikit-learn's ``"balanced"``): inverse
  to the class frequency, and 1 for every class of a balanced set.

The counts ``n_c`` are those of the final training set, synthetic images
included.  :func:`baseline_options` maps a name to the keyword arguments of
:func:`ganaug.classifier.train_classifier`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganaug.names import CLASSIFIER_BASELINES as BASELINES

__all__ = ["BASELINES", "ClassicAugment", "baseline_options", "inverse_frequency_weights"]


def inverse_frequency_weights(y, num_classes: int) -> np.ndarray:
    """``w_c = N / (K * n_c)`` for the classes present in ``y``; absent classes get weight 1."""
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if len(y) == 0:
        raise ValueError("no labels to weight")
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    if len(counts) > num_classes:
        raise ValueError(f"labels must be in [0, {num_classes - 1}], got max {y.max()}")
    present = counts > 0
    w = np.ones(num_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w


class ClassicAugment:
    """Random flip, small affine, brightness / contrast for a scaled batch ``(B, C, H, W)`` in [-1, 1].

    Called as ``augment(x, generator)`` by the training loop; every random
    number comes from the seeded CPU ``generator`` so runs are reproducible.
    The result has the input's shape, dtype and device, and lies in [-1, 1].
    """

    def __init__(
        self,
        hflip: float = 0.5,
        degrees: float = 10.0,
        translate: float = 0.06,
        scale: tuple[float, float] = (0.9, 1.1),
        brightness: float = 0.1,
        contrast: float = 0.1,
    ) -> None:
        self.hflip, self.degrees, self.translate = float(hflip), float(degrees), float(translate)
        self.scale = (float(scale[0]), float(scale[1]))
        self.brightness, self.contrast = float(brightness), float(contrast)

    def __repr__(self) -> str:
        return (
            f"ClassicAugment(hflip={self.hflip}, degrees={self.degrees}, translate={self.translate}, "
            f"scale={self.scale}, brightness={self.brightness}, contrast={self.contrast})"
        )

    @staticmethod
    def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        # draw every random number on the CPU, in a fixed order
        flip = torch.rand(b, generator=gen) < self.hflip
        angle = self._uniform(b, -self.degrees, self.degrees, gen) * (math.pi / 180.0)
        shift = self._uniform(2 * b, -self.translate, self.translate, gen).view(b, 2) * 2.0  # grid units: side = 2
        zoom = self._uniform(b, self.scale[0], self.scale[1], gen)
        bright = self._uniform(b, -self.brightness, self.brightness, gen) * 2.0  # [0,1] scale -> [-1,1] scale
        contrast = self._uniform(b, 1.0 - self.contrast, 1.0 + self.contrast, gen)

        # inverse map output -> input coordinates: rotate by angle, zoom by 1/scale, then shift
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        sign = torch.where(flip, -1.0, 1.0).double()  # flipping x = negating the input x coordinate
        theta = torch.zeros(b, 2, 3, dtype=torch.float64)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = sign * cos, -sign * sin, sign * shift[:, 0]
        theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, shift[:, 1]
        theta = theta.to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

        view = (b, 1, 1, 1)
        c = contrast.to(device=x.device, dtype=x.dtype).view(view)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * c + mean + bright.to(device=x.device, dtype=x.dtype).view(view)
        return out.clamp_(-1.0, 1.0)


def baseline_options(baseline: str, train_y, num_classes: int) -> dict[str, Any]:
    """Keyword arguments of :func:`~ganaug.classifier.train_classifier` for ``baseline`` on labels ``train_y``."""
    if baseline == "none":
        return {}
    if baseline == "classic":
        return {"augment": ClassicAugment()}
    if baseline == "oversample":
        return {"oversample": True}
    if baseline == "weighted_loss":
        return {"class_weight": inverse_frequency_weights(train_y, num_classes)}
    raise ValueError(f"unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}")
