"""Helpers shared by the tests: where the real data lives and how to load a slice of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHEST = SHARED_DATA / "chest_xray"


def load_xrays(split: str, cls: str, n: int, res: int) -> np.ndarray:
    """First ``n`` (sorted by name) chest X-rays of a class, grayscale, resized to res x res -> uint8 (n, res, res, 1)."""
    folder = CHEST / split / cls
    assert folder.is_dir(), f"real test data missing: {folder} (see ../shared/data/README.md)"
    files = sorted(folder.glob("*.jpeg"))[:n]
    assert len(files) == n, f"{folder}: expected at least {n} images, found {len(files)}"
    out = np.empty((n, res, res, 1), dtype=np.uint8)
    for k, path in enumerate(files):
        with Image.open(path) as img:
            out[k, :, :, 0] = np.asarray(img.convert("L").resize((res, res), Image.Resampling.BILINEAR))
    return out
