"""Per-class subsampling of a prepared training split (the experiment's real training set)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ganaug.io import save_dataframe, save_npz

log = logging.getLogger(__name__)


def class_counts(labels, classes: Sequence[str]) -> dict[str, int]:
    """``{class name: count}`` in class order, zeros included."""
    labels = np.asarray(labels)
    classes = [str(c) for c in classes]
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise ValueError(f"label {bad} is outside 0..{len(classes) - 1} for classes {classes}")
    counts = (
        np.bincount(labels.astype(np.int64).ravel(), minlength=len(classes))
        if labels.size
        else np.zeros(len(classes), np.int64)
    )
    return {c: int(n) for c, n in zip(classes, counts)}


def _class_index(classes: Sequence[str], name: str, what: str) -> int:
    try:
        return list(classes).index(name)
    except ValueError:
        raise ValueError(f"{what}: unknown class '{name}' (classes: {', '.join(classes)})") from None


def subsample(
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    max_per_class: Mapping[str, int] | None = None,
    minority_fraction: float | None = None,
    minority_class: str | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep at most ``max_per_class[name]`` images of each named class (others: all).

    ``minority_fraction`` then caps ``minority_class`` (default: the class with
    the fewest images after the caps) so that it makes up at most that
    fraction of the result; if it has too few images the fraction is simply
    lower (a warning is logged). Each class draws its images from its own
    generator seeded with ``(seed, class index)``, so one class's cap does not
    change another's selection and a smaller cap selects a subset of a larger
    one. Returns ``(images, labels, indices)`` with ``indices`` (int64) sorted.
    """
    labels = np.asarray(labels)
    classes = [str(c) for c in classes]
    if len(images) != len(labels):
        raise ValueError(f"subsample: {len(images)} images but {len(labels)} labels")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"subsample seed: {seed!r} must be a non-negative integer")
    available = class_counts(labels, classes)
    caps = dict(available)

    for name, cap in (max_per_class or {}).items():
        _class_index(classes, str(name), "max_per_class")
        if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 0:
            raise ValueError(f"max_per_class.{name}: {cap!r} must be a non-negative integer")
        caps[str(name)] = min(int(cap), available[str(name)])

    if minority_fraction is not None:
        f = float(minority_fraction)
        if not 0.0 < f < 1.0:
            raise ValueError(f"minority_fraction: {minority_fraction!r} must be in (0, 1)")
        if minority_class is None:
            present = [c for c in classes if caps[c] > 0]
            if not present:
                raise ValueError("minority_fraction: no images to subsample")
            minority = min(present, key=lambda c: (caps[c], classes.index(c)))
        else:
            minority = classes[_class_index(classes, str(minority_class), "minority_class")]
        others = sum(n for c, n in caps.items() if c != minority)
        allowed = math.floor(f * others / (1.0 - f) + 1e-9)
        if caps[minority] < allowed:
            log.warning(
                "minority_fraction=%s: class '%s' has only %d images, %d would be needed",
                f,
                minority,
                caps[minority],
                allowed,
            )
        caps[minority] = min(caps[minority], allowed)
    elif minority_class is not None:
        _class_index(classes, str(minority_class), "minority_class")

    chosen = []
    for k, name in enumerate(classes):
        idx = np.flatnonzero(labels == k)
        if caps[name] >= len(idx):
            chosen.append(idx)
            continue
        perm = np.random.default_rng([int(seed), k]).permutation(len(idx))
        chosen.append(idx[perm[: caps[name]]])
    sel = np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.empty(0, np.int64)
    return images[sel], labels[sel], sel


def write_subsample(
    npz_in: str | os.PathLike,
    out_npz: str | os.PathLike,
    out_manifest: str | os.PathLike | None = None,
    max_per_class: Mapping[str, int] | None = None,
    minority_fraction: float | None = None,
    minority_class: str | None = None,
    seed: int = 0,
    split: str = "train",
) -> dict[str, int]:
    """Subsample the ``split`` (default train) of a prepared npz.

    Writes ``out_npz`` with ``images``, ``labels``, ``classes`` and
    ``indices`` (rows of the prepared split) and, if given, ``out_manifest``
    (CSV ``index,source_index,label,label_name``). Returns the class counts.
    """
    import pandas as pd

    from .prepare import load_prepared

    images, labels, classes = load_prepared(npz_in, split)
    sub_images, sub_labels, idx = subsample(
        images, labels, classes, max_per_class, minority_fraction, minority_class, seed
    )
    save_npz(
        out_npz,
        {
            "images": sub_images,
            "labels": sub_labels.astype(np.int64),
            "classes": np.array(classes, dtype=np.str_),
            "indices": idx,
        },
    )
    if out_manifest is not None:
        df = pd.DataFrame(
            {
                "index": np.arange(len(idx)),
                "source_index": idx,
                "label": sub_labels,
                "label_name": [classes[i] for i in sub_labels],
            }
        )
        save_dataframe(out_manifest, df)
    counts = class_counts(sub_labels, classes)
    log.info("subsampled %s %s: %s -> %s", npz_in, split, class_counts(labels, classes), counts)
    return counts
