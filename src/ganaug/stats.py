"""Statistics over seeds: t confidence intervals, paired differences with a verdict, bootstrap AUC CIs.

* :func:`mean_ci` - mean, sample standard deviation (ddof 1) and the two-sided
  Student-t confidence interval ``mean +- t_{(1+level)/2, n-1} * std / sqrt(n)``
  of the values of one sweep cell over its seeds.  One value: std and CI are NaN.
* :func:`paired_difference` - ``a - b`` paired by seed (only seeds present in
  both), its mean, std and t CI, and :func:`verdict`: ``better`` when the CI
  lies above 0, ``worse`` when below, ``inconclusive`` otherwise (including
  fewer than two pairs, where no CI exists).  Pairing by seed removes the
  seed-to-seed variance shared by both runs (same initialisation seed, same
  real subset for ``n_real``), so it is more sensitive than comparing two
  independent CIs.
* :func:`bootstrap_auc_ci` - percentile CI of one run's test AUC: the test set
  is resampled with replacement *within each class* (stratified, so every
  resample has both classes and the class sizes of the test set), ``n_boot``
  times from a seeded generator.

Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "VERDICTS",
    "mean_ci",
    "paired_difference",
    "verdict",
    "bootstrap_auc_ci",
    "bootstrap_auc_samples",
    "binary_auc_rows",
]

VERDICTS = ("better", "worse", "inconclusive")


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """``{n, mean, std, ci_low, ci_high}`` of the finite ``values`` (t interval, ``n - 1`` degrees of freedom)."""
    from scipy.stats import t

    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    v = _finite(values)
    n = int(v.size)
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    mean = float(v.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": nan, "ci_low": nan, "ci_high": nan}
    std = float(v.std(ddof=1))
    half = float(t.ppf(0.5 + level / 2.0, df=n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def verdict(ci_low: float, ci_high: float) -> str:
    """``better`` if the CI of a difference excludes 0 from above, ``worse`` from below, else ``inconclusive``."""
    if ci_low is None or ci_high is None or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0:
        return "better"
    if ci_high < 0:
        return "worse"
    return "inconclusive"


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95) -> dict:
    """Mean of ``a[seed] - b[seed]`` over the seeds both have (finite values), with its t CI and verdict.

    Returns ``{n_pairs, diff_mean, diff_std, diff_ci_low, diff_ci_high, verdict}``.
    """
    seeds = sorted(set(a) & set(b))
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    s = mean_ci(diffs, level)
    return {
        "n_pairs": s["n"],
        "diff_mean": s["mean"],
        "diff_std": s["std"],
        "diff_ci_low": s["ci_low"],
        "diff_ci_high": s["ci_high"],
        "verdict": verdict(s["ci_low"], s["ci_high"]),
    }


# --------------------------------------------------------------------------- bootstrap AUC


def binary_auc_rows(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC of each row: ``pos`` (B, n1) scores of positives, ``neg`` (B, n0) of negatives.

    Mann-Whitney form with average ranks, so ties count one half, exactly as
    :func:`sklearn.metrics.roc_auc_score`.
    """
    from scipy.stats import rankdata

    pos = np.atleast_2d(np.asarray(pos, dtype=np.float64))
    neg = np.atleast_2d(np.asarray(neg, dtype=np.float64))
    n1, n0 = pos.shape[1], neg.shape[1]
    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def bootstrap_auc_samples(
    probs: np.ndarray,
    y_true: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    positive_index: int | None = None,
) -> np.ndarray:
    """``n_boot`` AUCs of stratified bootstrap resamples of a test set (binary or macro one-vs-rest)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    if probs.ndim != 2 or len(probs) != len(y):
        raise ValueError(f"probs must be (N, K) with N = len(y_true); got {probs.shape} and {len(y)} labels")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    k = probs.shape[1]
    present = np.unique(y)
    if present.size < 2:
        return np.full(n_boot, np.nan)
    rng = np.random.default_rng(seed)
    # one draw per class, in class order: the same seed gives the same resamples
    draws = {c: rng.choice(np.flatnonzero(y == c), size=(n_boot, int((y == c).sum())), replace=True) for c in present}
    if k == 2:
        pos = 1 if positive_index is None else int(positive_index)
        score = probs[:, pos]
        return binary_auc_rows(score[draws[pos]], score[draws[1 - pos]])
    # multiclass: macro average of one-vs-rest AUCs over the classes present
    idx = np.concatenate([draws[c] for c in present], axis=1)  # (B, N), class blocks
    labels = np.concatenate([np.full(draws[c].shape[1], c) for c in present])
    aucs = []
    for c in present:
        score = probs[idx, c]
        aucs.append(binary_auc_rows(score[:, labels == c], score[:, labels != c]))
    return np.mean(aucs, axis=0)


def bootstrap_auc_ci(
    probs: np.ndarray,
    y_true: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    positive_index: int | None = None,
) -> tuple[float, float]:
    """Percentile ``level`` CI ``(low, high)`` of the test AUC from :func:`bootstrap_auc_samples` (NaN if undefined)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    samples = bootstrap_auc_samples(probs, y_true, n_boot=n_boot, seed=seed, positive_index=positive_index)
    if not np.isfinite(samples).any():
        return float("nan"), float("nan")
    lo, hi = np.quantile(samples, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)
