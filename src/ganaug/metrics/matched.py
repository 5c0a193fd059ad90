"""A GAN's FID, FID-infinity and KID beside real-vs-real floors that mean the same thing.

The floor of a class is the real train split against the real test split: how
close two real samples of the class are, i.e. how far below it no generator can
be expected to go. FID's small-sample bias depends on N, so the FID and its floor
are both computed at one N per side,

    n_eff = min(metrics.fid.n, N_generated, N_train, N_test),

the larger sides subsampled to n_eff by seeded draws (averaged; std recorded),
and ``fid_ratio = fid / fid_floor`` compares like with like. FID-infinity
(:func:`ganaug.metrics.fid_inf.fid_inf`) extrapolates both to N = infinity on
the same grid of N; KID (unbiased) uses one subset size min(kid.subset_size, n_eff)
for the GAN and its floor.

* :func:`floor_scores` - the real side only (train vs test), cached once per
  dataset × resolution × class by rule fid_floor;
* :func:`generated_scores` - generated vs real train at a given n (rule gan_metrics);
* :func:`matched_scores` - both from three feature matrices (benchmarks).
"""

from __future__ import annotations

import numpy as np

from ganaug.metrics.fid import fid_between_features
from ganaug.metrics.fid_inf import DEFAULT_DRAWS, DEFAULT_N_MIN, DEFAULT_POINTS, fid_inf, subsampled_fid
from ganaug.metrics.kid import DEFAULT_N_SUBSETS, DEFAULT_SUBSET_SIZE, kid
from ganaug.metrics.utils import as_matrix


def _three_scores(fid_pair, kid_pair, n, draws, seed, inf_points, inf_n_min, kid_subset_size, kid_n_subsets, kid_seed):
    """The three computations :func:`floor_scores` and :func:`generated_scores` share, on their two sets.

    ``fid_pair`` ``(x, y)``: FID at ``n`` per side over ``draws`` seeded draws
    (:func:`subsampled_fid`; its dict gains ``full``, every row of ``x`` vs every
    row of ``y``) and FID-infinity up to ``n`` (:func:`fid_inf`); ``kid_pair``
    ``(real, other)``: KID at ``min(kid_subset_size, n)`` (:func:`kid`). The
    argument orders and the call order are the ones each caller had, so every
    seeded draw and every number is what it was. Returns ``(fid, fid_inf, kid)``.
    """
    x, y = fid_pair
    fid = subsampled_fid(x, y, n, draws, seed)
    inf = fid_inf(x, y, int(n), n_min=inf_n_min, points=inf_points, draws=draws, seed=seed)
    subset_size = max(2, min(int(kid_subset_size), int(n)))
    k = kid(*kid_pair, subset_size=subset_size, n_subsets=kid_n_subsets, seed=kid_seed)
    return {**fid, "full": fid_between_features(x, y)}, inf, k


def floor_scores(
    train,
    test,
    n: int,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    inf_points: int = DEFAULT_POINTS,
    inf_n_min: int = DEFAULT_N_MIN,
    kid_subset_size: int = DEFAULT_SUBSET_SIZE,
    kid_n_subsets: int = DEFAULT_N_SUBSETS,
    kid_seed: int = 0,
) -> dict:
    """The real floors of one class at ``min(n, N_train, N_test)`` images per side.

    Returns ``fid_floor`` (mean over draws), ``fid_floor_std``, ``fid_floor_n``,
    ``fid_floor_draws``, ``fid_floor_n_train`` / ``fid_floor_n_test`` (the
    feature rows at hand), ``fid_floor_full`` (every train vs every test row:
    the floor before matching, for reference), ``fid_inf_floor`` (+ ``_slope``),
    ``kid_floor``, ``kid_floor_std`` and ``kid_floor_subset_size``.
    """
    train, test = as_matrix(train, "train features"), as_matrix(test, "test features")
    m = min(int(n), len(train), len(test))
    if m < 2:
        raise ValueError(f"the floor needs >= 2 train and test images, got {len(train)} and {len(test)}")
    fl, inf, k = _three_scores(
        (train, test), (train, test), m, draws, seed, inf_points, inf_n_min, kid_subset_size, kid_n_subsets, kid_seed
    )
    return {
        "fid_floor": fl["fid"],
        "fid_floor_std": fl["std"],
        "fid_floor_n": fl["n"],
        "fid_floor_draws": fl["draws"],
        "fid_floor_n_train": int(len(train)),
        "fid_floor_n_test": int(len(test)),
        "fid_floor_full": fl["full"],
        "fid_inf_floor": inf["fid_inf"],
        "fid_inf_floor_slope": inf["slope"],
        "kid_floor": k["kid_mean"],
        "kid_floor_std": k["kid_std"],
        "kid_floor_subset_size": k["subset_size"],
    }


def generated_scores(
    gen,
    train,
    n: int,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    inf_points: int = DEFAULT_POINTS,
    inf_n_min: int = DEFAULT_N_MIN,
    kid_subset_size: int = DEFAULT_SUBSET_SIZE,
    kid_n_subsets: int = DEFAULT_N_SUBSETS,
    kid_seed: int = 0,
) -> dict:
    """FID, FID-infinity and KID of generated vs real train features at exactly ``n`` per side (``n`` <= both).

    Returns ``fid`` (mean over draws), ``fid_std``, ``fid_n``, ``fid_draws``,
    ``fid_full`` (every generated vs every train row), ``fid_inf`` (+ ``_slope``,
    ``fid_inf_n_min``, ``fid_inf_n_max``, ``fid_inf_points``), ``kid_mean``,
    ``kid_std``, ``kid_subset_size``, ``kid_n_subsets``.
    """
    gen, train = as_matrix(gen, "generated features"), as_matrix(train, "train features")
    f, inf, k = _three_scores(
        (gen, train), (train, gen), n, draws, seed, inf_points, inf_n_min, kid_subset_size, kid_n_subsets, kid_seed
    )
    return {
        "fid": f["fid"],
        "fid_std": f["std"],
        "fid_n": f["n"],
        "fid_draws": f["draws"],
        "fid_full": f["full"],
        "fid_inf": inf["fid_inf"],
        "fid_inf_slope": inf["slope"],
        "fid_inf_n_min": inf["n_min"],
        "fid_inf_n_max": inf["n_max"],
        "fid_inf_points": inf["points"],
        "kid_mean": k["kid_mean"],
        "kid_std": k["kid_std"],
        "kid_subset_size": k["subset_size"],
        "kid_n_subsets": k["n_subsets"],
    }


def finite_or_none(rec: dict) -> dict:
    """``rec`` with every non-finite float as None (JSON has no NaN: FID-infinity of fewer than 3 images)."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in rec.items()}


def ratios(rec: dict) -> dict:
    """``fid_ratio`` (matched FID over matched floor) and ``fid_inf_ratio`` (FID-infinity over its floor); NaN where undefined."""

    def div(a, b):
        a, b = float("nan" if a is None else a), float("nan" if b is None else b)
        return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")

    return {"fid_ratio": div(rec["fid"], rec["fid_floor"]), "fid_inf_ratio": div(rec["fid_inf"], rec["fid_inf_floor"])}


def matched_scores(
    gen,
    train,
    test,
    n: int = 250,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    *,
    inf_points: int = DEFAULT_POINTS,
    inf_n_min: int = DEFAULT_N_MIN,
    kid_subset_size: int = DEFAULT_SUBSET_SIZE,
    kid_n_subsets: int = DEFAULT_N_SUBSETS,
    kid_seed: int = 0,
) -> dict:
    """Every matched-N score of one generated set from three feature matrices (N, D): generated, real train, real test.

    ``n_eff = min(n, N_gen, N_train, N_test)``; the FID (gen vs train) and the
    floor (train vs test) are both at ``n_eff`` per side, averaged over ``draws``
    seeded draws; FID-infinity and its floor on the same grid of N; KID and its
    floor at one subset size. Returns the keys of :func:`generated_scores`,
    :func:`floor_scores` and :func:`ratios`, plus ``kid`` (= ``kid_mean``) and
    ``n_generated`` (rows given).
    """
    gen = as_matrix(gen, "generated features")
    train, test = as_matrix(train, "train features"), as_matrix(test, "test features")
    n_eff = min(int(n), len(gen), len(train), len(test))
    opts = dict(
        draws=draws,
        seed=seed,
        inf_points=inf_points,
        inf_n_min=inf_n_min,
        kid_subset_size=kid_subset_size,
        kid_n_subsets=kid_n_subsets,
        kid_seed=kid_seed,
    )
    rec = {**generated_scores(gen, train, n_eff, **opts), **floor_scores(train, test, n_eff, **opts)}
    rec.update(ratios(rec), kid=rec["kid_mean"], n_generated=int(len(gen)))
    return rec
