"""Mix real and synthetic images into one classifier training set.

A *strategy* decides which real images are kept and which synthetic images are
added.  Strategies live in :data:`STRATEGIES` and share one signature::

    strategy(real_x, real_y, synth_x, synth_y, fraction, rng) -> (x, y, is_synthetic)

where ``rng`` is a seeded :class:`numpy.random.Generator`.  Input validation
(shapes, dtypes, the fraction's range) is done once by
:func:`mix_training_set`, so a new strategy is one function and one registry entry.

``replace`` (the default) keeps the training set's size and class proportions:
for each class ``c`` with ``n_c`` real images, ``n_synthetic(fraction, n_c)``
of them, chosen at random, are replaced *in place* by synthetic images of class
``c``, also chosen at random without replacement.  ``fraction=0`` is the
real-only baseline; ``fraction=1`` is "train on synthetic, test on real".

``balance`` keeps every real image and *adds* synthetic ones to the minority
class(es): each class ``c`` with fewer real images than the largest class
(``n_max``) gets ``n_synthetic(fraction, n_max - n_c)`` synthetic images of
class ``c`` (drawn without replacement), appended after the real rows.
``fraction=1`` balances the classes exactly; ``fraction=0.5`` closes half of
each gap; the largest class is never touched.

:func:`limit_class` draws the ``n_real`` subsets: the first ``n`` images of a
seeded permutation of one class, so for a given seed ``n=50`` is a subset of
``n=100`` (nested), and the other classes are untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from ganaug.names import MIXING_STRATEGIES, check_registry

__all__ = [
    "mix_training_set",
    "n_synthetic",
    "replace_strategy",
    "balance_strategy",
    "limit_class",
    "low_data_set",
    "STRATEGIES",
]

MixResult = tuple[np.ndarray, np.ndarray, np.ndarray]
Strategy = Callable[
    [np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None", float, np.random.Generator],
    MixResult,
]


def n_synthetic(fraction: float, n_real: int) -> int:
    """Number of the ``n_real`` images of a class that ``replace`` swaps for synthetic ones.

    ``round(fraction * n_real)`` with halves rounded up (Python's ``round``
    rounds halves to even, which would make e.g. 0.5 * 5 -> 2 but 0.5 * 7 -> 4).
    The small epsilon absorbs floating-point error such as ``0.1 * 150 = 15.000000000000002``
    or ``0.15 * 10 = 1.4999999999999998``.
    """
    return int(math.floor(fraction * n_real + 0.5 + 1e-9))


def replace_strategy(
    real_x: np.ndarray,
    real_y: np.ndarray,
    synth_x: np.ndarray | None,
    synth_y: np.ndarray | None,
    fraction: float,
    rng: np.random.Generator,
) -> MixResult:
    """Replace ``n_synthetic(fraction, n_c)`` real images of each class ``c`` by synthetic ones."""
    x = real_x.copy()
    y = real_y.copy()
    is_synth = np.zeros(len(real_y), dtype=bool)
    for c in np.unique(real_y):
        real_idx = np.flatnonzero(real_y == c)
        k = n_synthetic(fraction, len(real_idx))
        if k == 0:
            continue
        pool = _synthetic_pool(synth_y, c, k, fraction, f"{len(real_idx)} real images")
        dest = np.sort(rng.choice(real_idx, size=k, replace=False))
        src = rng.choice(pool, size=k, replace=False)
        x[dest] = synth_x[src]
        is_synth[dest] = True
    return x, y, is_synth


def _synthetic_pool(synth_y: np.ndarray | None, c, k: int, fraction: float, what: str) -> np.ndarray:
    pool = np.flatnonzero(synth_y == c) if synth_y is not None else np.empty(0, dtype=np.intp)
    if len(pool) < k:
        raise ValueError(
            f"not enough synthetic images for class {c}: fraction {fraction} of {what} "
            f"needs {k}, but only {len(pool)} synthetic image(s) of class {c} are available"
        )
    return pool


def balance_strategy(
    real_x: np.ndarray,
    real_y: np.ndarray,
    synth_x: np.ndarray | None,
    synth_y: np.ndarray | None,
    fraction: float,
    rng: np.random.Generator,
) -> MixResult:
    """Keep all real images; add ``n_synthetic(fraction, n_max - n_c)`` synthetic images to each class ``c``
    the generator makes.

    A class with no synthetic image at all while others have some is one the generator does not cover (a
    ``per_class`` cell with ``classes: minority``): its gap stays, real only. A covered class with too few
    images, or no synthetic images at all, is an error naming the class.
    """
    classes, counts = np.unique(real_y, return_counts=True)
    n_max = int(counts.max()) if len(counts) else 0
    covered = set(np.unique(synth_y).tolist()) if synth_y is not None and len(synth_y) else None
    xs, ys = [real_x], [real_y]
    for c, n_c in zip(classes, counts):
        k = n_synthetic(fraction, n_max - int(n_c))
        if k == 0 or (covered is not None and c.item() not in covered):
            continue
        pool = _synthetic_pool(synth_y, c, k, fraction, f"the gap {n_max} - {int(n_c)} to the largest class")
        src = rng.choice(pool, size=k, replace=False)
        xs.append(synth_x[src])
        ys.append(np.full(k, c, dtype=real_y.dtype))
    x, y = np.concatenate(xs), np.concatenate(ys)
    is_synth = np.zeros(len(y), dtype=bool)
    is_synth[len(real_y) :] = True
    return x, y, is_synth


STRATEGIES: dict[str, Strategy] = {
    "replace": replace_strategy,
    "balance": balance_strategy,
}
check_registry("mixing strategy", STRATEGIES, MIXING_STRATEGIES)


def limit_class(
    x: np.ndarray, y: np.ndarray, cls: int, n: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep at most ``n`` images of class ``cls`` (all other images kept); ``n=None`` keeps all.

    The kept images of ``cls`` are the first ``n`` of a permutation drawn from
    ``numpy.random.default_rng([seed, cls, 1])``, so for one seed a smaller
    ``n`` selects a subset of a larger one.  Returns ``(x, y, kept_indices)``
    with the indices sorted (the original order of the rows is kept).
    """
    y = _as_labels(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels")
    idx = np.flatnonzero(y == cls)
    if n is None or int(n) >= len(idx):
        keep = np.arange(len(y))
    else:
        if int(n) < 1:
            raise ValueError(f"n_real must be >= 1, got {n}")
        perm = np.random.default_rng([int(seed), int(cls), 1]).permutation(len(idx))
        chosen = idx[perm[: int(n)]]
        keep = np.sort(np.concatenate([np.flatnonzero(y != cls), chosen]))
    return x[keep], y[keep], keep


def low_data_set(data: Mapping[str, np.ndarray], cls_name: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """The real set ``data`` (``images``, ``labels``, ``classes``, optional ``indices``) with the ``n`` images of
    class ``cls_name`` that a classifier run with ``seed`` keeps at ``n_real = n`` (:func:`limit_class`, the same
    draw), every other class whole: what a ``train_on: n_real`` generator trains on
    (:mod:`ganaug.config.low_data`). ``indices`` (rows of the prepared train split) follows the kept rows."""
    classes = [str(c) for c in data["classes"]]
    if cls_name not in classes:
        raise ValueError(f"class {cls_name!r} is not one of the real set's classes {classes}")
    labels = np.asarray(data["labels"]).astype(np.int64)
    x, y, keep = limit_class(np.asarray(data["images"]), labels, classes.index(cls_name), int(n), int(seed))
    out = {"images": x, "labels": np.asarray(data["labels"])[keep], "classes": np.asarray(data["classes"])}
    out["indices"] = np.asarray(data["indices"])[keep] if "indices" in data else keep
    return out


def mix_training_set(
    real_x: np.ndarray,
    real_y: np.ndarray,
    synth_x: np.ndarray | None,
    synth_y: np.ndarray | None,
    fraction: float,
    seed: int,
    strategy: str = "replace",
) -> MixResult:
    """Return ``(x, y, is_synthetic)``: the training set built by ``strategy``.

    ``real_x`` / ``synth_x`` are image arrays with identical per-image shape and
    dtype (``synth_x`` is cast to ``real_x``'s dtype if it differs only in
    dtype); ``real_y`` / ``synth_y`` are 1-D integer labels.  The synthetic
    arrays may be ``None`` when ``fraction == 0``.  The result is new arrays;
    the inputs are not modified.  The same ``seed`` gives the same result.
    """
    try:
        fn = STRATEGIES[strategy]
    except KeyError:
        raise ValueError(
            f"unknown mixing strategy {strategy!r}; choose one of: {', '.join(sorted(STRATEGIES))}"
        ) from None

    fraction = float(fraction)
    if not math.isfinite(fraction) or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"synthetic fraction must be in [0, 1], got {fraction}")

    real_x = np.asarray(real_x)
    real_y = _as_labels(real_y, "real_y")
    if len(real_x) != len(real_y):
        raise ValueError(f"real_x has {len(real_x)} images but real_y has {len(real_y)} labels")

    if (synth_x is None) != (synth_y is None):
        raise ValueError("synth_x and synth_y must both be given or both be None")
    if synth_x is not None:
        synth_x = np.asarray(synth_x)
        synth_y = _as_labels(synth_y, "synth_y")
        if len(synth_x) != len(synth_y):
            raise ValueError(f"synth_x has {len(synth_x)} images but synth_y has {len(synth_y)} labels")
        if synth_x.shape[1:] != real_x.shape[1:]:
            raise ValueError(f"synthetic images have shape {synth_x.shape[1:]} but real images have {real_x.shape[1:]}")
        if synth_x.dtype != real_x.dtype:
            synth_x = synth_x.astype(real_x.dtype)
    elif fraction > 0:
        raise ValueError(f"synthetic fraction {fraction} > 0 needs synthetic images, got none")

    rng = np.random.default_rng(seed)
    return fn(real_x, real_y, synth_x, synth_y, fraction, rng)


def _as_labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # MedMNIST's official (N, 1) labels
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{name} must hold integer class labels")
        y = y.astype(np.int64)
    return y
