"""A figure of a few images before and after preparation (rule prepared_examples): what the networks see."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ganaug.io import load_npz, save_figure

from .sources import SPLITS


def pick_examples(manifest, per_class: int = 2, max_total: int = 8):
    """Manifest rows to show: the first ``per_class`` prepared images of each class (train split first,
    then val, test), classes in label order, at most ``max_total`` in all."""
    rows = manifest[manifest["split"].isin(SPLITS)].copy()
    rows["_order"] = rows["split"].map({s: i for i, s in enumerate(SPLITS)})
    rows = rows.sort_values(["label", "_order", "index"], kind="stable")
    chosen = rows.groupby("label", sort=True).head(per_class)
    return chosen.head(max_total).drop(columns="_order")


def _npz_source(source: str, cache: dict) -> tuple[np.ndarray, str]:
    """A MedMNIST manifest source ``npz:PATH:SPLIT:I`` -> (image 0..1, description)."""
    path, split, index = source[len("npz:") :].rsplit(":", 2)
    if path not in cache:
        cache[path] = load_npz(path)
    img = cache[path][f"{split}_images"][int(index)]
    h, w = img.shape[:2]
    return img.astype(np.float64) / 255.0, f"npz {w}×{h}"


def plot_prepared_examples(
    npz_path: str | os.PathLike,
    manifest_path: str | os.PathLike,
    out: str | os.PathLike,
    settings: Mapping[str, Any] | None = None,
    per_class: int = 2,
    max_total: int = 8,
) -> int:
    """Top row: each chosen file as it is stored (its own aspect ratio; 8-bit as is, anything else
    min-max scaled for display); bottom row: the prepared image the networks see. Returns the number shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from .images import source_preview

    data = load_npz(npz_path)
    manifest = pd.read_csv(manifest_path, dtype={"label_name": str, "source": str}, keep_default_na=False)
    chosen = pick_examples(manifest, per_class, max_total)
    n = max(1, len(chosen))
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 5.0), squeeze=False)
    cache: dict = {}
    for j, (_, row) in enumerate(chosen.iterrows()):
        top, bottom = axes[0][j], axes[1][j]
        try:
            if row["source"].startswith("npz:"):
                before, desc = _npz_source(row["source"], cache)
            else:
                before, desc = source_preview(row["source"])
            if before.ndim == 3 and before.shape[2] == 1:
                before = before[:, :, 0]
            top.imshow(before, cmap="gray" if before.ndim == 2 else None, vmin=0.0, vmax=1.0)
        except Exception as exc:  # noqa: BLE001 - a file moved since preparation: say so, draw the rest
            desc = f"not readable now ({type(exc).__name__})"
        src = row["source"]
        name = "{}[{}]".format(*src.rsplit(":", 2)[1:]) if src.startswith("npz:") else Path(src).name
        top.set_title(f"{row['label_name']}\n{name[:24]}\n{desc}", fontsize=7)
        img = data[f"{row['split']}_images"][int(row["index"])]
        gray = img.shape[2] == 1
        bottom.imshow(img[:, :, 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=255)
        bottom.set_title(f"prepared {img.shape[1]}×{img.shape[0]}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("as stored", fontsize=8)
    axes[1][0].set_ylabel("prepared", fontsize=8)
    if settings:
        text = ", ".join(
            f"{k}: {v}" for k, v in settings.items() if k != "pad_value" or settings.get("resize") == "pad"
        )
        fig.suptitle(text, fontsize=8)
    save_figure(out, fig)
    return len(chosen)
