"""FID of every training checkpoint, and the choice of which weights ``generate`` uses.

``train_gan`` keeps the sampling weights (EMA if on) of every checkpoint in
``snapshots.pt``. :func:`fid_curve` draws ``n`` images per class from each
snapshot - with the same noise at every step, so the curve compares weights,
not noise - and computes their FID against the cached real statistics of the
class (``results/metrics/real/...``, N = ``metrics.fid.n``). The curve uses
:func:`ganaug.metrics.fid.fid_from_stats_and_features`, exact and milliseconds
per point; its N is ``metrics.fid_curve.n`` (default 100), smaller than the
final FID's, so the curve is for ranking checkpoints: FID is biased upward at
small N, so compare curve values only with each other.

``select``: ``last`` (the final weights) or ``best_fid`` (the checkpoint with
the lowest FID; for a conditional GAN the lowest mean FID over classes).

:func:`plot_fid_curve` lives here, not in :mod:`ganaug.report.figures`: each
fid_curve job draws its own curve next to the table :func:`fid_curve` computes
(the report's ``plot_fid_curves`` puts every job's curve side by side).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ganaug.io import torch_load

from .generate import class_seed, generate_images, load_generator

SELECT = ("last", "best_fid")


def snapshot_steps(snapshots_path: str | os.PathLike) -> tuple[list[int], dict]:
    ckpt = torch_load(snapshots_path)
    if not isinstance(ckpt, dict) or "steps" not in ckpt or "meta" not in ckpt:
        raise ValueError(f"{snapshots_path}: not a snapshots file (needs 'steps' and 'meta')")
    return [int(s) for s in ckpt["steps"]], dict(ckpt["meta"])


def fid_curve(
    snapshots_path: str | os.PathLike,
    real_stats: Mapping[str, Mapping[str, np.ndarray]],
    n: int,
    seed: int,
    device,
    batch_size: int = 50,
    progress: bool = True,
) -> pd.DataFrame:
    """FID per checkpoint and class -> DataFrame(step, class, fid, n).

    ``real_stats``: class name -> ``{"mu", "sigma"}`` (``load_stats`` output)
    for every class the snapshots generate (one for per_class, all for
    conditional).
    """
    from tqdm import tqdm

    from ganaug.metrics.features import extract_features
    from ganaug.metrics.fid import fid_from_stats_and_features

    steps, meta = snapshot_steps(snapshots_path)
    conditional = meta["mode"] == "conditional"
    names = list(meta["class_names"]) if conditional else [meta["class_name"]]
    missing = [c for c in names if c not in real_stats]
    if missing:
        raise ValueError(f"no real statistics for class(es) {missing}")
    rows = []
    for step in tqdm(steps, desc="FID per checkpoint", disable=not progress):
        G, meta = load_generator(snapshots_path, device, step)
        for name in names:
            label = list(meta["class_names"]).index(name)
            images = generate_images(G, meta, n, label if conditional else None, class_seed(seed, label), device)
            feats = extract_features(images, device=device, batch_size=batch_size)
            stats = real_stats[name]
            fid = fid_from_stats_and_features(stats["mu"], stats["sigma"], feats)
            rows.append({"step": step, "class": name, "fid": fid, "n": n})
    return pd.DataFrame(rows, columns=["step", "class", "fid", "n"])


def select_step(curve: pd.DataFrame, select: str) -> int:
    """The snapshot step ``select`` picks from a :func:`fid_curve` table."""
    if select not in SELECT:
        raise ValueError(f"select must be one of {', '.join(SELECT)}, got {select!r}")
    if curve.empty:
        raise ValueError("empty FID curve: no checkpoints to select from")
    if select == "last":
        return int(curve["step"].max())
    mean = curve.groupby("step")["fid"].mean()
    return int(mean.idxmin())


def plot_fid_curve(curve: pd.DataFrame, path, title: str, selected: int | None = None) -> None:
    """FID vs training step, one line per class; ``selected`` (e.g. the best step) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganaug.io import save_figure

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, part in curve.groupby("class", sort=False):
        ax.plot(part["step"], part["fid"], marker="o", label=str(name))
    if selected is not None:
        ax.axvline(selected, color="grey", linestyle="--", linewidth=1, label=f"lowest FID (step {selected})")
    n = int(curve["n"].iloc[0]) if len(curve) else 0
    ax.set(xlabel="generator step", ylabel=f"FID (N={n} generated)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)
