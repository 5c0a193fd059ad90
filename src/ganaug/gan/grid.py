"""Tile uint8 images into one grid image (for sample-grid PNGs)."""

from __future__ import annotations

import math

import numpy as np


def make_grid_image(images: np.ndarray, nrow: int, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile ``images`` (N, R, R, C) uint8 into one (H, W, C) uint8 image, ``nrow`` per row.

    ``nrow`` is the number of images per row, as in ``torchvision.utils.make_grid``;
    to get one class per row, pass the images grouped by class with ``nrow`` = images
    per class (see :func:`make_class_grid`).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    n, h, w, c = images.shape
    cols = min(nrow, max(n, 1))
    rows = max(math.ceil(n / nrow), 1)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = img
    return grid


def make_class_grid(images: np.ndarray, labels: np.ndarray, num_classes: int, per_row: int = 8) -> np.ndarray:
    """One row per class: the first ``per_row`` images of each class (short rows stay blank)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    tiles = np.zeros((num_classes * per_row, *images.shape[1:]), np.uint8)
    for k in range(num_classes):
        chosen = images[labels == k][:per_row]
        tiles[k * per_row : k * per_row + len(chosen)] = chosen
    return make_grid_image(tiles, nrow=per_row)
