"""Helpers shared by several metrics (as stylegan2-ada's ``metrics/metric_utils.py``).

* :func:`as_matrix` - validates a feature matrix (KID, precision/recall, the 1-NN
  test, memorisation);
* :func:`distance_blocks` - exact Euclidean distances, a block of query rows at a
  time (precision/recall, the 1-NN test, memorisation);
* :func:`check_images` - validates a uint8 image batch (memorisation, full-reference scores).

Distances are exact Euclidean distances in float64 (``torch.cdist`` without the
matrix-product shortcut, which leaves ~1e-6 instead of 0 between identical
points), computed ``batch_size`` query rows at a time so that memory stays
``batch_size x N``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_BATCH = 1024


def as_matrix(x, name: str = "features") -> np.ndarray:
    """``x`` as a finite float64 (N, D) matrix with N >= 1."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contain non-finite values")
    return x


def distance_blocks(a, b, batch_size: int = DEFAULT_BATCH, device="cpu") -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, D)``: exact Euclidean distances (float64) of ``a[start:start + batch_size]`` to every row of ``b``."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    a, b = as_matrix(a, "a"), as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    dev = torch.device(device)
    tb = torch.from_numpy(b).to(dev)
    with torch.inference_mode():
        for start in range(0, a.shape[0], batch_size):
            ta = torch.from_numpy(a[start : start + batch_size]).to(dev)
            yield start, torch.cdist(ta, tb, compute_mode="donot_use_mm_for_euclid_dist")


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """``images`` as a uint8 (N, H, W, C) array with N >= 1 and C in {1, 3}; ``name`` goes into the error."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (N, H, W, C), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, H, W, C) with N >= 1 and C in {{1, 3}}, got {images.shape}")
    return images
