"""FID at a matched N, and FID-infinity (Chong & Forsyth, CVPR 2020).

FID is biased upward by the finite number of images per side: for N images on
both sides its expectation is, to first order, ``FID_true + k / N`` with ``k``
set by the two covariances. So two FIDs (a GAN's and the real train-vs-test
floor) can be compared only at one N, and a GAN's FID on 250 images against a
floor from 42 test images says nothing.

* :func:`subsampled_fid` - FID at exactly ``n`` images per side: ``n`` rows drawn
  without replacement from each feature matrix, averaged over seeded draws
  (the draws differ only where a side has more than ``n`` rows).
* :func:`fid_inf` - "Effectively unbiased FID" (Chong & Forsyth, "Effectively
  Unbiased FID and Inception Score and where to find them", CVPR 2020): FID at
  ``points`` values of N evenly spaced in 1/N between ``n_min`` and ``n_max``,
  a least-squares line ``FID(N) = FID_inf + k / N``, and its intercept. Chong &
  Forsyth keep a large real reference fixed and draw the N generated images from
  a larger pool; here the real side is small (tens to a few hundred images of a
  class), so *both* sides are subsampled to N from the features at hand (the
  ``metrics.fid.n`` extracted generated images, the cached real features), whose
  bias is also ``k / N`` to first order. The extrapolation is only as good as
  the line: with ``n_max`` in the tens it is noisy; read it beside the
  matched-N FID, not instead of it.
"""

from __future__ import annotations

import numpy as np

from ganaug.metrics.fid import fid_between_features
from ganaug.metrics.utils import as_matrix

#: the default grid: 15 N from min(50, n_max // 2) to n_max, evenly spaced in 1/N
DEFAULT_POINTS = 15
DEFAULT_N_MIN = 50
DEFAULT_DRAWS = 5


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_matrix(x, "features"), as_matrix(y, "features")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    return x, y


def subsampled_fid(x, y, n: int, draws: int = DEFAULT_DRAWS, seed: int = 0) -> dict:
    """FID between ``n`` rows of ``x`` and ``n`` rows of ``y``, averaged over seeded draws.

    Each draw takes ``n`` rows without replacement from each side (all rows of a
    side with exactly ``n``). When neither side has more than ``n`` rows every
    draw is the same, so one is computed. Returns ``{fid, std, n, draws}``
    (``std``: over the draws, 0 with one; ``draws``: how many were computed).
    """
    x, y = _pair(x, y)
    n = int(n)
    if n < 2 or n > min(len(x), len(y)):
        raise ValueError(f"n must be in [2, {min(len(x), len(y))}] for {len(x)} and {len(y)} rows, got {n}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if len(x) == n and len(y) == n:
        draws = 1
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(draws)):
        xi = x if len(x) == n else x[rng.choice(len(x), n, replace=False)]
        yi = y if len(y) == n else y[rng.choice(len(y), n, replace=False)]
        values.append(fid_between_features(xi, yi))
    return {"fid": float(np.mean(values)), "std": float(np.std(values)), "n": n, "draws": int(draws)}


def inverse_n_grid(n_max: int, n_min: int = DEFAULT_N_MIN, points: int = DEFAULT_POINTS) -> np.ndarray:
    """Sorted distinct integers N from ``max(2, min(n_min, n_max // 2))`` to ``n_max``, evenly spaced in 1/N."""
    n_max = int(n_max)
    lo = max(2, min(int(n_min), n_max // 2))
    if n_max < 2 or points < 2:
        raise ValueError(f"need n_max >= 2 and points >= 2, got {n_max} and {points}")
    grid = np.rint(1.0 / np.linspace(1.0 / lo, 1.0 / n_max, int(points))).astype(np.int64)
    return np.unique(np.clip(grid, lo, n_max))


def fit_inverse_n(ns, values) -> tuple[float, float]:
    """Least-squares ``values = a + b / ns`` -> ``(a, b)``: a is the value extrapolated to N = infinity."""
    ns, values = np.asarray(ns, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if ns.shape != values.shape or ns.ndim != 1 or len(np.unique(ns)) < 2:
        raise ValueError(f"need >= 2 distinct N with one value each, got N {ns.tolist()}")
    design = np.stack([np.ones_like(ns), 1.0 / ns], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(a), float(b)


def fid_inf(
    x,
    y,
    n_max: int | None = None,
    n_min: int = DEFAULT_N_MIN,
    points: int = DEFAULT_POINTS,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> dict:
    """FID-infinity of ``x`` vs ``y``: the intercept of FID(N) = FID_inf + k / N over :func:`inverse_n_grid`.

    ``n_max`` defaults to the smaller side. Each point is :func:`subsampled_fid`
    (both sides drawn to N, ``draws`` seeded draws). Returns ``{fid_inf, slope,
    n, fid, n_min, n_max, points, draws}`` (``n`` / ``fid``: the grid and its
    FIDs). With fewer than 2 distinct N (``n_max`` < 3) ``fid_inf`` and ``slope`` are NaN.
    """
    x, y = _pair(x, y)
    n_max = min(len(x), len(y)) if n_max is None else int(n_max)
    if n_max > min(len(x), len(y)):
        raise ValueError(f"n_max {n_max} exceeds the rows at hand ({len(x)} and {len(y)})")
    grid = inverse_n_grid(n_max, n_min, points)
    rng = np.random.default_rng(seed)
    fids = [subsampled_fid(x, y, int(n), draws, int(rng.integers(2**31)))["fid"] for n in grid]
    a, b = fit_inverse_n(grid, fids) if len(grid) >= 2 else (float("nan"), float("nan"))
    return {
        "fid_inf": a,
        "slope": b,
        "n": [int(n) for n in grid],
        "fid": [float(f) for f in fids],
        "n_min": int(grid[0]),
        "n_max": int(grid[-1]),
        "points": int(len(grid)),
        "draws": int(draws),
    }
