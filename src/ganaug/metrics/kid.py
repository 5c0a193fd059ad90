"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

KID is the squared maximum mean discrepancy (MMD²) between real and generated
Inception features under the cubic polynomial kernel

    k(x, y) = (x·y / d + 1) ** 3,        d = feature dimension,

estimated without bias: for subsets X (generated) and Y (real) of size m,

    MMD²_u = 1/(m(m-1)) Σ_{i≠j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m² Σ_{i,j} k(x_i, y_j).

As stylegan2-ada's ``metrics/kernel_inception_distance.py``, the estimate is
averaged over ``n_subsets`` random subsets of ``m = min(subset_size, N_real,
N_gen)`` points per side, each drawn without replacement (generated indices then
real indices, from one ``numpy.random.default_rng(seed)``); the standard
deviation over subsets is reported too. The per-subset values and their mean
equal stylegan2-ada's ``t / num_subsets / m`` accumulation.

Unlike FID, the estimator is unbiased, so it needs no N-matched comparison and
can be *negative* when the two distributions are close (identical distributions
give 0 in expectation). When ``m`` equals both set sizes every subset is the
whole set (only its order differs), so the standard deviation is 0: it then says
nothing about sampling noise; choose ``subset_size`` below N for a useful spread.
"""

from __future__ import annotations

import numpy as np

from ganaug.metrics.utils import as_matrix

DEFAULT_SUBSET_SIZE = 100
DEFAULT_N_SUBSETS = 100


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x @ y.T / d + 1) ** 3`` for (n, d) and (m, d) matrices -> (n, m)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of two equal-size samples (m, d) under :func:`polynomial_kernel`."""
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise ValueError(f"need two samples of one size m >= 2, got {x.shape[0]} and {y.shape[0]}")
    a = polynomial_kernel(x, x) + polynomial_kernel(y, y)
    b = polynomial_kernel(x, y)
    return float(((a.sum() - np.trace(a)) / (m - 1) - b.sum() * 2 / m) / m)


def kid(
    real_feats,
    gen_feats,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    n_subsets: int = DEFAULT_N_SUBSETS,
    seed: int = 0,
) -> dict:
    """KID of generated vs real features -> ``{kid_mean, kid_std, subset_size, n_subsets}``.

    ``subset_size`` is clamped to ``min(N_real, N_gen)``; the size actually used is returned.
    """
    real, gen = as_matrix(real_feats, "real features"), as_matrix(gen_feats, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature dimensions differ: real {real.shape[1]} vs generated {gen.shape[1]}")
    if subset_size < 2 or n_subsets < 1:
        raise ValueError(f"need subset_size >= 2 and n_subsets >= 1, got {subset_size} and {n_subsets}")
    m = min(int(subset_size), real.shape[0], gen.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 points per side, got {real.shape[0]} real and {gen.shape[0]} generated")
    rng = np.random.default_rng(seed)
    values = np.empty(int(n_subsets), dtype=np.float64)
    for s in range(int(n_subsets)):
        x = gen[rng.choice(gen.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        values[s] = mmd2_unbiased(x, y)
    return {
        "kid_mean": float(values.mean()),
        "kid_std": float(values.std()),
        "subset_size": int(m),
        "n_subsets": int(n_subsets),
    }
