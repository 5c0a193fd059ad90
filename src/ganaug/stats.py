"""Statistics over seeds: t confidence intervals, paired differences with a verdict and a p-value,
multiplicity adjustment, power of the paired t test, bootstrap AUC CIs.

* :func:`mean_ci` - mean, sample standard deviation (ddof 1) and the two-sided
  Student-t confidence interval ``mean +- t_{(1+level)/2, n-1} * std / sqrt(n)``
  of the values of one sweep cell over its seeds.  One value: std and CI are NaN.
  ``bounds=(lo, hi)`` clips the interval to the metric's range (a t interval of
  an AUC over two seeds easily reaches past 1); ``min_n`` withholds the
  interval (NaN) below that many finite values while still giving the std.
* :func:`paired_difference` - ``a - b`` paired by seed (only seeds present in
  both), its mean, std, t CI, :func:`paired_t_pvalue` and :func:`verdict`:
  ``better`` when the CI lies above 0, ``worse`` when below, ``inconclusive``
  otherwise (including fewer than two pairs, where no CI exists).  Pairing by
  seed removes the seed-to-seed variance shared by both runs (same
  initialisation seed, same real subset for ``n_real``), so it is more
  sensitive than comparing two independent CIs.  The verdict is per
  comparison, unadjusted; a report that makes many comparisons should decide
  from :func:`adjust_pvalues` instead.
* :func:`paired_t_pvalue` - two-sided p-value of the paired t test (one-sample
  t test of the differences against 0, :func:`scipy.stats.ttest_1samp`).
* :func:`replicate_differences` - the unit of a nested design: the per-seed
  differences ``a[seed] - b[seed]`` averaged within each *unit* (the generator
  replicate a seed belongs to, ``units``: seed -> replicate), one value per unit.
  :func:`paired_difference` with ``units`` tests over those values (df = units - 1),
  so its interval contains the generator's training variance as well as the
  classifier's; with one unit only it falls back to seeds (``unit = 'seed'``).
* :func:`tost_pvalues` - equivalence within ``±margin``: two one-sided t tests
  (H0: Δ <= -margin, H0: Δ >= +margin); ``p_tost`` is the larger p-value.
* :func:`simulate_coverage` - coverage of the replicate-unit interval and of the
  naive seeds-as-units interval on simulated nested data (G generators × C seeds).
* :func:`adjust_pvalues` - family-wise error control over many comparisons:
  Holm's step-down (uniformly more powerful than Bonferroni, same guarantee),
  Bonferroni, or none (:data:`P_ADJUST_METHODS`).  NaN p-values are not
  tests: they stay NaN and do not count in the family size.
* :func:`min_detectable_difference` / :func:`seeds_needed` - power analysis of
  the two-sided paired t test from the noncentral t distribution: the smallest
  true mean difference ``n`` seeds detect with the given power, and the number
  of seeds a difference ``delta`` needs, for a paired standard deviation ``sd``
  (e.g. the observed ``diff_std``).
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

from ganaug.names import P_ADJUST_METHODS  # the methods of adjust_pvalues (and the config's choices)

__all__ = [
    "VERDICTS",
    "EQUIVALENCE_VERDICTS",
    "P_ADJUST_METHODS",
    "mean_ci",
    "paired_difference",
    "paired_t_pvalue",
    "replicate_differences",
    "tost_pvalues",
    "decide",
    "simulate_coverage",
    "verdict",
    "adjust_pvalues",
    "paired_t_power",
    "min_detectable_difference",
    "seeds_needed",
    "bootstrap_auc_ci",
    "bootstrap_auc_samples",
    "binary_auc_rows",
]

VERDICTS = ("better", "worse", "inconclusive")
#: the verdicts of a comparison with an equivalence margin (:func:`decide`)
EQUIVALENCE_VERDICTS = ("better", "worse", "equivalent", "inconclusive")


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def mean_ci(
    values: Sequence[float],
    level: float = 0.95,
    bounds: tuple[float, float] | None = None,
    min_n: int = 2,
) -> dict[str, float]:
    """``{n, mean, std, ci_low, ci_high}`` of the finite ``values`` (t interval, ``n - 1`` degrees of freedom).

    ``bounds=(lo, hi)``: the metric's range; the interval is clipped to it
    (the mean of values inside the range is inside it already).  ``min_n``:
    with fewer finite values than this, ``ci_low`` / ``ci_high`` are NaN while
    ``mean`` and (from two values on) ``std`` are still given.  One value never
    has a std or an interval; the default ``min_n=2`` asks for nothing more.
    """
    from scipy.stats import t

    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if int(min_n) != min_n or min_n < 1:
        raise ValueError(f"min_n must be an integer >= 1, got {min_n}")
    if bounds is not None:
        lo_b, hi_b = (float(b) for b in bounds)
        if not lo_b < hi_b:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
    v = _finite(values)
    n = int(v.size)
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    mean = float(v.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": nan, "ci_low": nan, "ci_high": nan}
    std = float(v.std(ddof=1))
    if n < min_n:
        return {"n": n, "mean": mean, "std": std, "ci_low": nan, "ci_high": nan}
    half = float(t.ppf(0.5 + level / 2.0, df=n - 1)) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, lo_b), min(high, hi_b)
    return {"n": n, "mean": mean, "std": std, "ci_low": low, "ci_high": high}


def paired_t_pvalue(diffs: Sequence[float]) -> float:
    """Two-sided p-value of the paired t test: one-sample t test of ``mean(diffs) = 0`` over the finite ``diffs``.

    Fewer than two finite values: NaN (no test).  All differences equal (zero
    standard deviation, where t is ``±inf`` or ``0/0``): 0.0 if they are
    non-zero, 1.0 if they are all zero - scipy gives NaN for ``0/0`` (and,
    depending on the version, NaN or 0 for the other case) and warns.  "Equal"
    allows a relative spread of 1e-12, so that the float rounding of equal
    differences (``0.5 - 0.3`` vs ``0.6 - 0.4``) does not make a t statistic of 1e15.
    """
    from scipy.stats import ttest_1samp

    v = _finite(diffs)
    if v.size < 2:
        return float("nan")
    scale = float(np.abs(v).max())
    if float(np.ptp(v)) <= 1e-12 * scale:
        return 0.0 if scale > 0 else 1.0
    return float(ttest_1samp(v, 0.0).pvalue)


def verdict(ci_low: float, ci_high: float) -> str:
    """``better`` if the CI of a difference excludes 0 from above, ``worse`` from below, else ``inconclusive``."""
    if ci_low is None or ci_high is None or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0:
        return "better"
    if ci_high < 0:
        return "worse"
    return "inconclusive"


def replicate_differences(
    a: Mapping[int, float], b: Mapping[int, float], units: Mapping[int, int] | None = None
) -> tuple[np.ndarray, int]:
    """``(values, n_pairs)``: ``a[seed] - b[seed]`` over the seeds both have (finite differences only),
    averaged within each unit of ``units`` (seed -> unit, e.g. the generator replicate), one value per
    unit in ascending unit order; ``units=None``: every seed is its own unit.  ``n_pairs``: the paired
    seeds.  A seed missing from ``units`` raises ``KeyError``.
    """
    seeds = sorted(set(a) & set(b))
    diffs = {s: float(a[s]) - float(b[s]) for s in seeds}
    diffs = {s: d for s, d in diffs.items() if math.isfinite(d)}
    if units is None:
        return np.array([diffs[s] for s in sorted(diffs)], dtype=np.float64), len(diffs)
    groups: dict[int, list[float]] = {}
    for s, d in diffs.items():
        groups.setdefault(int(units[s]), []).append(d)
    return np.array([float(np.mean(groups[u])) for u in sorted(groups)], dtype=np.float64), len(diffs)


def tost_pvalues(diffs: Sequence[float], margin: float) -> dict[str, float]:
    """Equivalence of the mean of ``diffs`` to 0 within ``±margin``: two one-sided one-sample t tests.

    ``p_lower``: H0 ``Δ <= -margin``, ``t = (mean + margin) / se``, ``p = t.sf(t, n - 1)``;
    ``p_upper``: H0 ``Δ >= +margin``, ``t = (mean - margin) / se``, ``p = t.cdf(t, n - 1)``;
    ``p_tost = max(p_lower, p_upper)``: equivalence is shown at level alpha when ``p_tost < alpha``,
    i.e. when the ``1 - 2 alpha`` t interval lies inside ``(-margin, margin)``.  Fewer than two finite
    values: NaN.  Equal differences (zero spread, as in :func:`paired_t_pvalue`): each p is 0 when the
    difference lies strictly on the alternative's side, else 1.
    """
    from scipy.stats import t

    m = float(margin)
    if not m > 0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin}")
    v = _finite(diffs)
    nan = float("nan")
    if v.size < 2:
        return {"p_lower": nan, "p_upper": nan, "p_tost": nan}
    mean, scale = float(v.mean()), float(np.abs(v).max())
    if float(np.ptp(v)) <= 1e-12 * scale:
        lower, upper = (0.0 if mean > -m else 1.0), (0.0 if mean < m else 1.0)
    else:
        se = float(v.std(ddof=1)) / math.sqrt(v.size)
        lower = float(t.sf((mean + m) / se, v.size - 1))
        upper = float(t.cdf((mean - m) / se, v.size - 1))
    return {"p_lower": lower, "p_upper": upper, "p_tost": max(lower, upper)}


def decide(diff_mean: float, p_difference: float, p_tost: float, alpha: float = 0.05) -> str:
    """``better`` / ``worse`` when ``p_difference < alpha`` (by the sign of ``diff_mean``), else
    ``equivalent`` when ``p_tost < alpha``, else ``inconclusive``.  A significant difference wins: it
    may at the same time lie within the margin (a real but negligible effect; the summary says so)."""
    d, p, q = (float("nan") if x is None else float(x) for x in (diff_mean, p_difference, p_tost))
    if math.isfinite(p) and p < alpha and math.isfinite(d) and d != 0:
        return "better" if d > 0 else "worse"
    if math.isfinite(q) and q < alpha:
        return "equivalent"
    return "inconclusive"


def paired_difference(
    a: Mapping[int, float],
    b: Mapping[int, float],
    level: float = 0.95,
    *,
    units: Mapping[int, int] | None = None,
    margin: float | None = None,
) -> dict:
    """Mean of ``a[seed] - b[seed]`` over the units both have (finite values), with its t CI and verdict.

    ``units`` (seed -> unit, e.g. the generator replicate of each seed): the differences are first
    averaged within each unit (:func:`replicate_differences`) and the t interval and test run over
    the units (``n_units - 1`` degrees of freedom); with a single unit among the paired seeds this
    falls back to the seeds as units (``unit = 'seed'``: the interval then holds the seed-to-seed
    variance only).  ``units=None``: every seed is its own unit.

    Returns ``{n_pairs, n_units, unit, diff_mean, diff_std, diff_ci_low, diff_ci_high, p_value,
    verdict}`` (+ ``p_lower, p_upper, p_tost`` of :func:`tost_pvalues` with a ``margin``);
    ``n_pairs``: the paired seeds; ``diff_std``: the standard deviation over the units; ``p_value``:
    :func:`paired_t_pvalue` over the units (NaN below two).  The verdict reads the unadjusted CI only.
    """
    values, n_pairs = replicate_differences(a, b, units)
    unit = "seed" if units is None else "replicate"
    if units is not None and values.size < 2:
        values, n_pairs = replicate_differences(a, b, None)
        unit = "seed"
    s = mean_ci(values, level)
    out = {
        "n_pairs": n_pairs,
        "n_units": s["n"],
        "unit": unit,
        "diff_mean": s["mean"],
        "diff_std": s["std"],
        "diff_ci_low": s["ci_low"],
        "diff_ci_high": s["ci_high"],
        "p_value": paired_t_pvalue(values),
        "verdict": verdict(s["ci_low"], s["ci_high"]),
    }
    if margin is not None:
        out.update(tost_pvalues(values, margin))
    return out


# --------------------------------------------------------------------------- coverage of the nested design


def simulate_coverage(
    n_generators: int,
    per_generator: int,
    sigma_g: float,
    sigma_c: float,
    *,
    delta: float = 0.0,
    n_studies: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Coverage of the true ``delta`` by the ``level`` t interval, on simulated nested studies.

    Each study draws ``d[g, c] = delta + u[g] + e[g, c]`` for ``n_generators`` generator replicates
    ``g`` (``u ~ N(0, sigma_g^2)``: what retraining the generator changes) times ``per_generator``
    classifier seeds ``c`` (``e ~ N(0, sigma_c^2)``) - the paired difference of a GAN cell to the
    reference.  ``replicate``: the interval over the replicate means (df ``G - 1``, the analysis of
    :func:`paired_difference` with ``units``); ``naive``: the seeds as independent units (df
    ``G C - 1``), which ignores that seeds sharing a generator are correlated.  Returns the fraction
    of the ``n_studies`` intervals that contain ``delta`` for each, and their mean half-widths.
    """
    from scipy.stats import t

    g, c = int(n_generators), int(per_generator)
    if g < 2 or c < 1:
        raise ValueError(f"need >= 2 generator replicates and >= 1 seed each, got {g} x {c}")
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, sigma_g, size=(n_studies, g, 1))
    e = rng.normal(0.0, sigma_c, size=(n_studies, g, c))
    d = delta + u + e
    out: dict[str, float] = {}
    for name, values in (("replicate", d.mean(axis=2)), ("naive", d.reshape(n_studies, g * c))):
        n = values.shape[1]
        half = t.ppf(0.5 + level / 2.0, n - 1) * values.std(axis=1, ddof=1) / math.sqrt(n)
        out[name] = float(np.mean(np.abs(values.mean(axis=1) - delta) <= half))
        out[f"{name}_half_width"] = float(half.mean())
    return out


# --------------------------------------------------------------------------- multiple comparisons


def adjust_pvalues(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Family-wise adjusted p-values, in the input order (float64 array).

    ``holm``: sort the ``m`` finite p-values ascending (stable), then
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` (Holm 1979; equal
    p-values get equal adjusted values).  ``bonferroni``: ``min(1, m p)``.
    ``none``: the p-values unchanged.  NaN entries stay NaN and do not count
    in ``m``.  Rejecting where the adjusted value is ``<= alpha`` keeps the
    probability of any false rejection in the family at most ``alpha``.
    """
    if method not in P_ADJUST_METHODS:
        raise ValueError(f"unknown p-value adjustment {method!r}; allowed: {', '.join(P_ADJUST_METHODS)}")
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1).copy()
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError(f"p-values must lie in [0, 1] (or be NaN), got {p[ok][(p[ok] < 0) | (p[ok] > 1)].tolist()}")
    m = int(ok.sum())
    if method == "none" or m == 0:
        return p
    idx = np.flatnonzero(ok)
    if method == "bonferroni":
        p[idx] = np.minimum(1.0, m * p[idx])
        return p
    order = idx[np.argsort(p[idx], kind="stable")]
    factors = m - np.arange(m)  # m, m - 1, ..., 1
    p[order] = np.maximum.accumulate(np.minimum(1.0, factors * p[order]))
    return p


# --------------------------------------------------------------------------- power of the paired t test


def _check_alpha_power(alpha: float, power: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1) = ({alpha}, 1), got {power}")


def paired_t_power(effect_size: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t test at level ``alpha`` with ``n`` pairs and effect size
    ``dz = delta / sd``: ``P(T > t_crit) + P(T < -t_crit)``, ``T ~ nct(n - 1, dz sqrt(n))``,
    ``t_crit = t_{1 - alpha/2, n - 1}``.  ``n < 2``: NaN."""
    from scipy.stats import nct, t

    if n < 2 or not math.isfinite(effect_size):
        return float("nan")
    df = n - 1
    t_crit = float(t.ppf(1.0 - alpha / 2.0, df))
    nc = abs(float(effect_size)) * math.sqrt(n)
    # P(T < -t_crit) written as P(T' > t_crit), T' ~ nct(df, -nc): scipy's nct.cdf returns NaN far in
    # the left tail for df = 1 (e.g. nc = 8 sqrt 2), the survival function of -nc does not
    power = float(nct.sf(t_crit, df, nc) + nct.sf(t_crit, df, -nc))
    if not math.isfinite(power) and nc > 1e3:
        # scipy's nct gives NaN for huge noncentralities (a standard deviation of float rounding,
        # ~1e-17, behind a difference that is the same on every seed); the test is then certain
        return 1.0
    return power


def min_detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean paired difference that a two-sided paired t test at level ``alpha``
    with ``n`` pairs detects with probability ``power``, for paired standard deviation ``sd``.

    Solves :func:`paired_t_power` ``(delta / sd, n, alpha) = power`` for ``delta > 0`` with
    :func:`scipy.optimize.brentq`.  ``n < 2`` or non-finite ``sd``: NaN; ``sd == 0``: 0.0
    (every non-zero difference is detected).
    """
    from scipy.optimize import brentq

    _check_alpha_power(alpha, power)
    sd = float(sd)
    if n < 2 or not math.isfinite(sd):
        return float("nan")
    if sd < 0:
        raise ValueError(f"sd must be >= 0, got {sd}")
    if sd == 0:
        return 0.0
    hi = 1.0
    while paired_t_power(hi, n, alpha) < power:  # power -> 1 as dz -> inf, so this ends
        hi *= 2.0
    dz = brentq(lambda d: paired_t_power(d, n, alpha) - power, 0.0, hi, xtol=1e-12, rtol=1e-12)
    return float(dz * sd)


def seeds_needed(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8, max_n: int = 100_000) -> int | None:
    """Smallest number of pairs ``n >= 2`` at which the two-sided paired t test at level ``alpha``
    detects a true mean difference ``delta`` (sign ignored) with probability ``>= power``.

    ``None`` when ``max_n`` pairs do not suffice, when ``delta`` is 0 (power stays
    ``alpha``) and when ``sd`` or ``delta`` is NaN; ``sd == 0`` (and ``delta != 0``): 2.
    Power grows with ``n``, so the answer is found by doubling and bisection.
    """
    _check_alpha_power(alpha, power)
    sd, delta = float(sd), abs(float(delta))
    if not (math.isfinite(sd) and math.isfinite(delta)) or delta == 0:
        return None
    if sd < 0:
        raise ValueError(f"sd must be >= 0, got {sd}")
    if sd == 0:
        return 2
    dz = delta / sd

    def enough(n: int) -> bool:
        return paired_t_power(dz, n, alpha) >= power

    if enough(2):
        return 2
    if not enough(max_n):
        return None
    lo, hi = 2, 4  # invariant: not enough(lo), enough(hi)
    while hi < max_n and not enough(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, max_n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid
    return hi


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
