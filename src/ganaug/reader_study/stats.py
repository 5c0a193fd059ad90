"""Statistics of a reader study: how well readers tell generated images from real ones.

The positive class is *synthetic*: a reader "spots" a generated image by
answering ``synthetic``.

* :func:`clopper_pearson` - the exact binomial confidence interval of a
  proportion ``k / n`` from the beta distribution (Clopper & Pearson 1934):
  ``[Beta((1-level)/2; k, n-k+1), Beta((1+level)/2; k+1, n-k)]``, 0 and 1 at
  the ends. Equal to ``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``.
* :func:`binomial_p` - the two-sided exact binomial test of ``k`` of ``n``
  against a success probability of 0.5 (chance: the reader cannot tell), from
  :func:`scipy.stats.binomtest`. Two-sided, because a reader who calls the
  generated images real more often than the real ones (below 50 %) is a
  finding too.
* :func:`signed_score` - answer x confidence: ``+c`` for ``synthetic``, ``-c``
  for ``real``, ``c`` the 1-5 confidence (a missing confidence counts as the
  scale's middle, 3), so the scores rank the images from "surely real" to
  "surely synthetic" and :func:`reader_auc` is the reader's ROC AUC.
* :func:`fleiss_kappa` - Fleiss' kappa (Fleiss 1971) of several readers
  rating the same images: ``(P_bar - P_e) / (1 - P_e)`` with ``P_bar`` the mean
  agreement of pairs of readers per image and ``P_e`` the agreement expected
  by chance from the overall category shares.
* :func:`reader_metrics` - accuracy with its exact CI and p-value,
  sensitivity, specificity, AUC and the answering time of one set of answers.

Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "MISSING_CONFIDENCE",
    "binomial_p",
    "clopper_pearson",
    "fleiss_kappa",
    "reader_auc",
    "reader_metrics",
    "signed_score",
]

#: the confidence a missing one counts as in the signed score (the middle of 1-5)
MISSING_CONFIDENCE = 3


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of the proportion ``k / n``; NaNs for ``n = 0``."""
    from scipy.stats import beta

    k, n = int(k), int(n)
    if not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan
    alpha = 1.0 - float(level)
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def binomial_p(k: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` against probability ``p``; NaN for ``n = 0``."""
    from scipy.stats import binomtest

    if int(n) == 0:
        return math.nan
    return float(binomtest(int(k), int(n), p, alternative="two-sided").pvalue)


def signed_score(answers: Sequence[str], confidences: Sequence[float]) -> np.ndarray:
    """``+confidence`` for ``synthetic``, ``-confidence`` for ``real`` (NaN confidence: :data:`MISSING_CONFIDENCE`)."""
    conf = np.asarray(confidences, dtype=float)
    conf = np.where(np.isnan(conf), MISSING_CONFIDENCE, conf)
    sign = np.array([1.0 if a == "synthetic" else -1.0 for a in answers])
    if len(sign) != len(conf):
        raise ValueError(f"signed_score: {len(sign)} answers but {len(conf)} confidences")
    return sign * conf


def reader_auc(is_synthetic: Sequence[bool], scores: Sequence[float]) -> float:
    """ROC AUC of the signed scores for spotting synthetic images; NaN unless both kinds are present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(is_synthetic, dtype=bool)
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (images x categories) table of how many readers put each image in each category.

    Every image must have the same number of ratings ``m >= 2``. NaN when the
    chance agreement is 1 (every rating in one category: kappa is undefined).
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] < 1:
        raise ValueError(f"fleiss_kappa: need an (images x categories) table, got shape {table.shape}")
    m = table.sum(axis=1)
    if not np.all(m == m[0]) or m[0] < 2:
        raise ValueError(f"fleiss_kappa: every image needs the same number (>= 2) of ratings, got {sorted(set(m))}")
    m = m[0]
    p_j = table.sum(axis=0) / table.sum()  # share of all ratings in category j
    p_i = ((table * (table - 1)).sum(axis=1)) / (m * (m - 1))  # agreeing pairs of readers per image
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    if math.isclose(p_e, 1.0):
        return math.nan
    return float((p_bar - p_e) / (1 - p_e))


def reader_metrics(
    is_synthetic: Sequence[bool], answers: Sequence[str], confidences: Sequence[float], ms: Sequence[float], level=0.95
) -> dict:
    """Accuracy (exact CI, two-sided binomial p against 50 %), sensitivity and specificity for
    spotting synthetic images, the AUC of answer x confidence, and the answering time of one set of answers."""
    y = np.asarray(is_synthetic, dtype=bool)
    said = np.array([a == "synthetic" for a in answers], dtype=bool)
    if len(y) != len(said):
        raise ValueError(f"reader_metrics: {len(y)} images but {len(said)} answers")
    correct = int((y == said).sum())
    n = len(y)
    low, high = clopper_pearson(correct, n, level)
    n_syn, n_real = int(y.sum()), int((~y).sum())
    conf = np.asarray(confidences, dtype=float)
    times = np.asarray(ms, dtype=float)
    times = times[np.isfinite(times)]  # a file may leave ms empty
    return {
        "n_answers": n,
        "n_correct": correct,
        "accuracy": correct / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "p_value": binomial_p(correct, n),
        "sensitivity": float((said & y).sum() / n_syn) if n_syn else math.nan,
        "specificity": float((~said & ~y).sum() / n_real) if n_real else math.nan,
        "auc": reader_auc(y, signed_score(answers, conf)),
        "n_with_confidence": int(np.isfinite(conf).sum()),
        "median_seconds": float(np.median(times) / 1000) if len(times) else math.nan,
        "mean_seconds": float(np.mean(times) / 1000) if len(times) else math.nan,
    }
