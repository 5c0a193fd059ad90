"""Statistics over seeds (ganaug.stats) and the report's summary / paired-difference tables, against hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ganaug import report
from ganaug.classifier.evaluate import auc_score
from ganaug.stats import (
    P_ADJUST_METHODS,
    adjust_pvalues,
    binary_auc_rows,
    bootstrap_auc_ci,
    bootstrap_auc_samples,
    decide,
    mean_ci,
    min_detectable_difference,
    paired_difference,
    paired_t_power,
    paired_t_pvalue,
    replicate_differences,
    seeds_needed,
    simulate_coverage,
    tost_pvalues,
    verdict,
)

T975_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables: 4.303)


def test_mean_ci_hand_computed():
    s = mean_ci([0.80, 0.82, 0.84])
    # mean 0.82; std sqrt((0.02^2 + 0 + 0.02^2) / 2) = 0.02; half width 4.3027 * 0.02 / sqrt(3) = 0.049683
    assert s["n"] == 3
    assert s["mean"] == pytest.approx(0.82)
    assert s["std"] == pytest.approx(0.02)
    assert s["ci_low"] == pytest.approx(0.82 - 0.049683, abs=1e-6)
    assert s["ci_high"] == pytest.approx(0.82 + 0.049683, abs=1e-6)
    assert s["ci_high"] - s["mean"] == pytest.approx(T975_2 * 0.02 / math.sqrt(3))
    # two values: t(0.975, 1) = 12.706; 90 % level: t(0.95, 2) = 2.920
    assert mean_ci([1.0, 3.0])["ci_high"] == pytest.approx(2.0 + 12.7062047 * math.sqrt(2) / math.sqrt(2), abs=1e-6)
    assert mean_ci([0.80, 0.82, 0.84], level=0.90)["ci_high"] == pytest.approx(0.82 + 2.9199856 * 0.02 / math.sqrt(3))
    # NaN values are dropped; one value has no spread; none has no mean
    assert mean_ci([0.5, float("nan"), 0.7])["n"] == 2
    one = mean_ci([0.7])
    assert one["mean"] == 0.7 and math.isnan(one["std"]) and math.isnan(one["ci_low"])
    assert math.isnan(mean_ci([])["mean"])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=95)


def test_paired_difference_hand_computed():
    cell = {0: 0.85, 1: 0.86, 2: 0.90}
    base = {0: 0.80, 1: 0.82, 2: 0.84, 3: 0.99}  # seed 3 has no partner and is left out
    d = paired_difference(cell, base)
    # differences 0.05, 0.04, 0.06: mean 0.05, std 0.01, half width 4.3027 * 0.01 / sqrt(3) = 0.024842
    assert d["n_pairs"] == 3
    assert d["diff_mean"] == pytest.approx(0.05)
    assert d["diff_std"] == pytest.approx(0.01)
    assert (d["diff_ci_low"], d["diff_ci_high"]) == pytest.approx((0.025158, 0.074842), abs=1e-6)
    assert d["verdict"] == "better"
    assert paired_difference(base, cell)["verdict"] == "worse"
    # differences 0.01, -0.02, 0.04: mean 0.01, std 0.03, half width 0.074524 -> [-0.0645, 0.0845]
    mixed = paired_difference({0: 0.81, 1: 0.80, 2: 0.88}, base)
    assert mixed["diff_mean"] == pytest.approx(0.01) and mixed["diff_std"] == pytest.approx(0.03)
    assert mixed["diff_ci_low"] == pytest.approx(0.01 - 0.074524, abs=1e-6)
    assert mixed["verdict"] == "inconclusive"
    # pairing matters: the unpaired CIs of cell and base overlap, the paired one excludes 0
    a, b = mean_ci(list(cell.values())), mean_ci([0.80, 0.82, 0.84])
    assert a["ci_low"] < b["ci_high"]
    single = paired_difference({0: 0.9}, {0: 0.8})
    assert single["n_pairs"] == 1 and math.isnan(single["diff_ci_low"]) and single["verdict"] == "inconclusive"


def test_replicate_differences_average_within_each_generator_replicate():
    # seeds 0-1 share generator replicate 0, seeds 2-3 replicate 1 (classifiers_per_generator 2); seed 4 is unpaired
    cell = {0: 0.83, 1: 0.85, 2: 0.82, 3: 0.84, 4: 0.99}
    base = {0: 0.80, 1: 0.80, 2: 0.80, 3: 0.80}
    units = {0: 0, 1: 0, 2: 1, 3: 1, 4: 2}
    values, n_pairs = replicate_differences(cell, base, units)
    assert n_pairs == 4 and values == pytest.approx([0.04, 0.03])  # (0.03 + 0.05) / 2, (0.02 + 0.04) / 2
    d = paired_difference(cell, base, units=units)
    # over the 2 replicates: mean 0.035, std 0.0070711, df 1: half width 12.7062 * 0.0070711 / sqrt 2 = 0.063531
    assert (d["n_pairs"], d["n_units"], d["unit"]) == (4, 2, "replicate")
    assert d["diff_mean"] == pytest.approx(0.035) and d["diff_std"] == pytest.approx(0.00707107, abs=1e-8)
    assert d["diff_ci_high"] == pytest.approx(0.035 + 0.063531, abs=1e-6)
    # the seeds as units (the naive analysis) would claim 3 degrees of freedom for the same data
    assert paired_difference(cell, base)["n_units"] == 4
    # one replicate only (a generator shared by every seed): the seeds become the units
    shared = paired_difference(cell, base, units={s: 0 for s in cell})
    assert (shared["n_units"], shared["unit"]) == (4, "seed")
    assert shared["diff_mean"] == pytest.approx(0.035)


def test_tost_hand_computed():
    d = [0.01, -0.005, 0.02, 0.0, 0.012]
    # mean 0.0074, std 0.0099398189, se = std / sqrt 5 = 0.0044452222; margin 0.02, df 4:
    # H0 delta <= -0.02: t = (0.0074 + 0.02) / se = 6.1639214, p = t.sf(6.1639214, 4) = 0.0017582770
    # H0 delta >= +0.02: t = (0.0074 - 0.02) / se = -2.8345040, p = t.cdf(-2.8345040, 4) = 0.0235646629
    r = tost_pvalues(d, 0.02)
    assert r["p_lower"] == pytest.approx(0.0017582770, abs=1e-9)
    assert r["p_upper"] == pytest.approx(0.0235646629, abs=1e-9)
    assert r["p_tost"] == r["p_upper"]  # equivalent at alpha 0.05, not at 0.01
    # the same as the 1 - 2 alpha interval inside the margin: at alpha 0.05 the 90 % CI is [-0.00208, 0.01688]
    ci = mean_ci(d, level=0.90)
    assert -0.02 < ci["ci_low"] < ci["ci_high"] < 0.02 and ci["ci_high"] == pytest.approx(0.0168766, abs=1e-6)
    # a narrower margin, the test fails: 0.0168766 is past 0.015
    assert tost_pvalues(d, 0.015)["p_tost"] > 0.05
    # equal differences: inside the margin certain (0), at or outside it never (1); one value: no test
    assert tost_pvalues([0.01, 0.01, 0.01], 0.02)["p_tost"] == 0.0
    assert tost_pvalues([0.02, 0.02], 0.02)["p_tost"] == 1.0 and tost_pvalues([-0.03, -0.03], 0.02)["p_lower"] == 1.0
    assert math.isnan(tost_pvalues([0.01], 0.02)["p_tost"])
    with pytest.raises(ValueError, match="margin"):
        tost_pvalues(d, 0.0)


def test_decide():
    assert decide(0.03, 0.01, 0.9) == "better" and decide(-0.03, 0.01, 0.9) == "worse"
    assert decide(0.005, 0.01, 0.01) == "better"  # significant and inside the margin: the difference wins
    assert decide(0.005, 0.3, 0.01) == "equivalent"
    assert decide(0.005, 0.3, 0.2) == decide(float("nan"), float("nan"), float("nan")) == "inconclusive"
    assert decide(0.0, 0.0, 0.5) == "inconclusive"  # no sign


#: (generator replicates G, classifier seeds per generator C, sigma_g / sigma_c)
COVERAGE_SETTINGS = [(5, 1, 1.0), (3, 3, 1.0), (5, 3, 2.0), (10, 2, 0.5), (4, 3, 0.0)]


@pytest.mark.parametrize(("g", "c", "ratio"), COVERAGE_SETTINGS)
def test_replicate_intervals_cover_and_naive_seed_intervals_do_not(g, c, ratio):
    """4,000 simulated studies per setting: the interval over replicate means covers the true difference
    95 % of the time (within 4 binomial standard errors, 0.0138); treating seeds that share a generator as
    independent units under-covers as soon as the generator varies (sigma_g > 0) and C > 1."""
    n = 4000
    r = simulate_coverage(g, c, sigma_g=ratio * 0.01, sigma_c=0.01, delta=0.02, n_studies=n, seed=g * 100 + c)
    tol = 4 * math.sqrt(0.95 * 0.05 / n)
    assert abs(r["replicate"] - 0.95) < tol, r
    if c == 1 or ratio == 0:  # nothing to ignore: the naive interval is valid too
        assert abs(r["naive"] - 0.95) < tol, r
    else:
        assert r["naive"] < 0.95 - tol and r["naive_half_width"] < r["replicate_half_width"], r
    if (g, c, ratio) == (5, 3, 2.0):  # sigma_g twice sigma_c: the naive 95 % interval covers ~3 studies in 4
        assert r["naive"] < 0.80


def test_verdict():
    assert verdict(0.01, 0.2) == "better"
    assert verdict(-0.2, -0.01) == "worse"
    assert verdict(-0.1, 0.1) == verdict(0.0, 0.1) == verdict(float("nan"), float("nan")) == "inconclusive"


def test_mean_ci_bounds_and_min_n():
    # two seeds, 0.2 and 0.99: mean 0.595, std 0.79 / sqrt(2) = 0.558614, half width 12.7062 * 0.79 / 2 = 5.018951
    raw = mean_ci([0.2, 0.99])
    assert raw["ci_low"] == pytest.approx(0.595 - 12.7062047 * 0.79 / 2, abs=1e-6)  # -4.42395: far outside [0, 1]
    assert raw["ci_high"] == pytest.approx(0.595 + 12.7062047 * 0.79 / 2, abs=1e-6)  # 5.61395
    clipped = mean_ci([0.2, 0.99], bounds=(0, 1))
    assert (clipped["ci_low"], clipped["ci_high"]) == (0.0, 1.0)
    assert (clipped["mean"], clipped["std"]) == (raw["mean"], raw["std"])
    # an interval inside the bounds is not touched; only the side that crosses is clipped
    assert mean_ci([0.80, 0.82, 0.84], bounds=(0, 1)) == mean_ci([0.80, 0.82, 0.84])
    one_side = mean_ci([0.95, 0.99, 1.0], bounds=(0.0, 1.0))
    assert one_side["ci_high"] == 1.0 and one_side["ci_low"] == mean_ci([0.95, 0.99, 1.0])["ci_low"]
    # min_n: below it no interval, but the std is still there
    few = mean_ci([0.2, 0.99], min_n=3)
    assert few["std"] == pytest.approx(0.79 / math.sqrt(2)) and math.isnan(few["ci_low"]) and math.isnan(few["ci_high"])
    assert mean_ci([0.2, 0.5, 0.99], min_n=3)["ci_low"] == mean_ci([0.2, 0.5, 0.99])["ci_low"]
    with pytest.raises(ValueError, match="bounds"):
        mean_ci([0.2, 0.99], bounds=(1, 0))
    with pytest.raises(ValueError, match="min_n"):
        mean_ci([0.2, 0.99], min_n=0)


def test_paired_t_pvalue_closed_forms():
    # df = 2: P(|T| > t) = 1 - t / sqrt(t^2 + 2). Differences 0.05, 0.04, 0.06: t = 0.05 / (0.01 / sqrt 3) = sqrt(75)
    assert paired_t_pvalue([0.05, 0.04, 0.06]) == pytest.approx(1 - math.sqrt(75 / 77), rel=1e-9)  # 0.0130725
    # df = 1 (Cauchy): P(|T| > t) = 1 - (2 / pi) atan(t). Differences 1, 3: t = 2 / (sqrt 2 / sqrt 2) = 2
    assert paired_t_pvalue([1.0, 3.0]) == pytest.approx(1 - 2 / math.pi * math.atan(2.0), rel=1e-9)  # 0.295167
    assert paired_t_pvalue([-1.0, -3.0]) == paired_t_pvalue([1.0, 3.0])  # two-sided
    # NaNs dropped; fewer than two values: no test
    assert paired_t_pvalue([1.0, float("nan"), 3.0]) == paired_t_pvalue([1.0, 3.0])
    assert math.isnan(paired_t_pvalue([0.3])) and math.isnan(paired_t_pvalue([]))
    # zero spread: a constant non-zero difference is certain, a constant zero one is no evidence
    assert paired_t_pvalue([0.2, 0.2, 0.2]) == 0.0
    assert paired_t_pvalue([0.0, 0.0]) == 1.0
    rounded = [0.5 - 0.3, 0.55 - 0.35, 0.6 - 0.4]  # 0.2 three times, but not bit for bit
    assert len(set(rounded)) > 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "catastrophic cancellation" warning from scipy
        assert paired_t_pvalue(rounded) == 0.0
    assert 0 < paired_t_pvalue([0.2, 0.2, 0.2 + 1e-9]) < 1e-6  # a real spread is a real test
    d = paired_difference({0: 0.85, 1: 0.86, 2: 0.90}, {0: 0.80, 1: 0.82, 2: 0.84})
    assert d["p_value"] == pytest.approx(1 - math.sqrt(75 / 77), rel=1e-6)
    assert list(d) == [
        "n_pairs", "n_units", "unit", "diff_mean", "diff_std", "diff_ci_low", "diff_ci_high", "p_value", "verdict"
    ]  # fmt: skip
    assert (d["n_units"], d["unit"]) == (3, "seed")
    assert math.isnan(paired_difference({0: 0.9}, {0: 0.8})["p_value"])


def _holm_closed_testing(p):
    """Holm as the closed test of Bonferroni intersection tests: adj_i = max over subsets S containing i of
    min(1, |S| min_{j in S} p_j) (Marcus, Peritz & Gabriel 1976; Holm 1979)."""
    from itertools import combinations

    idx = [i for i, v in enumerate(p) if not math.isnan(v)]
    out = [float("nan")] * len(p)
    for i in idx:
        others = [j for j in idx if j != i]
        out[i] = max(
            min(1.0, (len(rest) + 1) * min(p[j] for j in (i, *rest)))
            for r in range(len(others) + 1)
            for rest in combinations(others, r)
        )
    return out


def test_adjust_pvalues_holm_hand_computed():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust_pvalues(p), [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02], rtol=1e-12)
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)
    assert "holm" in P_ADJUST_METHODS and adjust_pvalues(p).dtype == np.float64
    # capped at 1
    np.testing.assert_allclose(adjust_pvalues([0.3, 0.6]), [0.6, 0.6])
    np.testing.assert_allclose(adjust_pvalues([0.3, 0.6], "bonferroni"), [0.6, 1.0])
    # ties: equal p-values get equal adjusted values (0.01 x 3 = 0.03 for both; 0.02 x 1 = 0.02 -> 0.03)
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.02, 0.01]), [0.03, 0.03, 0.03])
    # NaN: stays NaN, not counted in m (m = 2 here)
    got = adjust_pvalues([0.01, float("nan"), 0.04])
    assert math.isnan(got[1]) and got[[0, 2]] == pytest.approx([0.02, 0.04])
    assert adjust_pvalues([0.01, float("nan")], "bonferroni")[0] == 0.01
    assert all(math.isnan(v) for v in adjust_pvalues([float("nan")] * 3))
    # a family of one is unchanged
    assert adjust_pvalues([0.037]).tolist() == [0.037] == adjust_pvalues([0.037], "bonferroni").tolist()
    assert adjust_pvalues([]).size == 0
    with pytest.raises(ValueError, match="holm, bonferroni, none"):
        adjust_pvalues(p, "fdr")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_pvalues([0.5, 1.5])


def test_adjust_pvalues_holm_matches_closed_testing():
    rng = np.random.default_rng(4)
    for m in (1, 2, 3, 5, 8):
        for _ in range(20):
            p = np.round(rng.random(m) ** 3, 2)  # rounding makes ties, powers make small p-values
            if m > 2:
                p[rng.integers(m)] = np.nan
            holm = adjust_pvalues(p)
            np.testing.assert_allclose(holm, _holm_closed_testing(list(p)), rtol=1e-12, equal_nan=True)
            ok = ~np.isnan(p)
            # Holm is between the raw p-values and Bonferroni, and keeps their order
            assert np.all(holm[ok] >= p[ok]) and np.all(holm[ok] <= adjust_pvalues(p, "bonferroni")[ok])
            order = np.argsort(p[ok], kind="stable")
            assert np.all(np.diff(holm[ok][order]) >= 0)


def test_seeds_needed_textbook_values():
    # paired t test, two-sided alpha 0.05, power 0.8 (Cohen 1988; G*Power): dz 0.5 -> 34, 0.8 -> 15, 1.0 -> 10
    z_a, z_b = 1.959963984540054, 0.8416212335729143
    for dz, n in ((0.5, 34), (0.8, 15), (1.0, 10)):
        assert seeds_needed(1.0, dz) == n
        assert seeds_needed(0.02, 0.02 * dz) == n  # only delta / sd matters
        assert seeds_needed(1.0, -dz) == n  # two-sided: the sign does not matter
        assert paired_t_power(dz, n) >= 0.8 > paired_t_power(dz, n - 1)
        # the normal approximation with the t correction agrees within one pair
        approx = ((z_a + z_b) / dz) ** 2 + z_a**2 / 2
        assert abs(n - approx) <= 1
    # G*Power's actual power at these n: 0.8078, 0.8213, 0.8031
    assert paired_t_power(0.5, 34) == pytest.approx(0.8078, abs=1e-4)
    assert paired_t_power(1.0, 10) == pytest.approx(0.8031, abs=1e-4)
    # power at no difference is the test's level
    assert paired_t_power(0.0, 12) == pytest.approx(0.05, abs=1e-12)
    assert seeds_needed(1.0, 0.5, alpha=0.05, power=0.9) > 34
    assert seeds_needed(0.0, 0.01) == 2
    assert seeds_needed(1.0, 0.0) is None and seeds_needed(float("nan"), 0.5) is None
    assert seeds_needed(1.0, 0.01, max_n=1000) is None  # needs ~78 500 pairs
    assert seeds_needed(1.0, 0.5, max_n=34) == 34 and seeds_needed(1.0, 0.5, max_n=33) is None
    assert seeds_needed(1.0, 100.0) == 2
    with pytest.raises(ValueError, match="power"):
        seeds_needed(1.0, 0.5, power=0.01)


def test_paired_t_power_matches_simulation():
    # Monte Carlo with a fixed seed: 20 000 experiments of 34 pairs with dz = 0.5
    from scipy.stats import t

    rng = np.random.default_rng(0)
    n, reps = 34, 20_000
    x = rng.normal(0.5, 1.0, size=(reps, n))
    stat = x.mean(axis=1) / (x.std(axis=1, ddof=1) / math.sqrt(n))
    simulated = float(np.mean(np.abs(stat) > t.ppf(0.975, n - 1)))
    se = math.sqrt(0.8 * 0.2 / reps)
    assert simulated == pytest.approx(paired_t_power(0.5, n), abs=4 * se)


def test_min_detectable_difference_inverts_seeds_needed():
    for sd, n in ((0.02, 5), (0.05, 10), (1.0, 34), (0.3, 2)):
        delta = min_detectable_difference(sd, n)
        assert paired_t_power(delta / sd, n) == pytest.approx(0.8, abs=1e-6)
        assert seeds_needed(sd, delta * (1 + 1e-6)) == n
        assert seeds_needed(sd, delta * (1 - 1e-6)) == n + 1
    # dz 0.5 needs 34 pairs: 34 pairs detect a bit less than 0.5 sd, 33 pairs need a bit more
    assert min_detectable_difference(1.0, 34) < 0.5 < min_detectable_difference(1.0, 33)
    # many pairs: the normal approximation (z_{0.975} + z_{0.8}) sd / sqrt(n)
    assert min_detectable_difference(1.0, 10_000) == pytest.approx(2.8015852 / 100, rel=1e-3)
    assert min_detectable_difference(0.01, 5, power=0.9) > min_detectable_difference(0.01, 5)
    assert min_detectable_difference(0.0, 5) == 0.0
    assert math.isnan(min_detectable_difference(0.02, 1)) and math.isnan(min_detectable_difference(float("nan"), 5))


# --------------------------------------------------------------------------- bootstrap
def test_binary_auc_rows_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((5, 30)), 1)  # many ties
    y = np.r_[np.zeros(12), np.ones(18)].astype(bool)
    got = binary_auc_rows(scores[:, y], scores[:, ~y])
    want = [roc_auc_score(y, s) for s in scores]
    np.testing.assert_allclose(got, want, atol=1e-12)
    # hand computed: positives {0.4, 0.9} vs negatives {0.1, 0.6}: 3 of 4 pairs; a tie counts 1/2
    assert binary_auc_rows([0.4, 0.9], [0.1, 0.6])[0] == pytest.approx(0.75)
    assert binary_auc_rows([0.6, 0.9], [0.1, 0.6])[0] == pytest.approx(0.875)


def _reference_bootstrap(probs, y, n_boot, seed, pos=1):
    """The same stratified resamples, one sklearn AUC at a time."""
    rng = np.random.default_rng(seed)
    draws = {
        c: rng.choice(np.flatnonzero(y == c), size=(n_boot, int((y == c).sum())), replace=True) for c in np.unique(y)
    }
    out = []
    for b in range(n_boot):
        idx = np.concatenate([draws[c][b] for c in sorted(draws)])
        out.append(
            roc_auc_score(y[idx] == pos, probs[idx, pos]) if probs.shape[1] == 2 else auc_score(probs[idx], y[idx])
        )
    return np.array(out)


def test_bootstrap_auc_binary():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(40, int), np.ones(80, int)]
    p1 = np.clip(0.35 * y + 0.65 * rng.random(len(y)), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    samples = bootstrap_auc_samples(probs, y, n_boot=300, seed=7)
    np.testing.assert_allclose(samples, _reference_bootstrap(probs, y, 300, 7), atol=1e-12)
    lo, hi = bootstrap_auc_ci(probs, y, n_boot=300, seed=7)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(samples, [0.025, 0.975])))
    point = roc_auc_score(y, p1)
    assert lo < point < hi and 0.05 < hi - lo < 0.4
    assert bootstrap_auc_ci(probs, y, n_boot=300, seed=7) == (lo, hi)  # seeded
    assert bootstrap_auc_ci(probs, y, n_boot=300, seed=8) != (lo, hi)
    # the positive class does not change a binary AUC
    assert bootstrap_auc_ci(probs, y, n_boot=300, seed=7, positive_index=0) == pytest.approx((lo, hi))
    # a perfect ranking stays perfect in every stratified resample (both classes always present)
    perfect = np.stack([1 - y, y], axis=1).astype(float)
    assert bootstrap_auc_ci(perfect, y, n_boot=50) == (1.0, 1.0)
    # one class only: undefined
    assert all(math.isnan(v) for v in bootstrap_auc_ci(probs[y == 1], y[y == 1], n_boot=20))


def test_bootstrap_auc_multiclass_matches_reference():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [15, 25, 20])
    logits = rng.normal(size=(len(y), 3)) + 1.5 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    samples = bootstrap_auc_samples(probs, y, n_boot=60, seed=3)
    np.testing.assert_allclose(samples, _reference_bootstrap(probs, y, 60, 3), atol=1e-12)


# --------------------------------------------------------------------------- report tables
def _runs() -> pd.DataFrame:
    """Hand-made runs: two real-only baselines, one GAN cell, at n_real all; one baseline and one GAN cell at n_real 50."""
    rows = []

    def add(baseline, source, strategy, fraction, n_real, aucs, recalls):
        for seed, (auc, rec) in enumerate(zip(aucs, recalls)):
            rows.append(
                dict(
                    baseline=baseline,
                    source=source,
                    strategy=strategy,
                    fraction=fraction,
                    n_real=n_real,
                    seed=seed,
                    auc=auc,
                    balanced_accuracy=auc - 0.1,
                    recall_NORMAL=rec,
                )
            )

    add("none", "real", "none", 0.0, "all", [0.80, 0.82, 0.84], [0.30, 0.35, 0.40])
    add("oversample", "real", "none", 0.0, "all", [0.78, 0.80, 0.79], [0.50, 0.55, 0.60])
    add("none", "dcgan", "replace", 1.0, "all", [0.85, 0.86, 0.90], [0.30, 0.34, 0.41])
    add("oversample", "real", "none", 0.0, "50", [0.70, 0.71, 0.72], [0.20, 0.20, 0.20])
    add("none", "dcgan", "balance", 1.0, "50", [0.68, 0.69, 0.70], [0.40, 0.50, 0.60])
    return pd.DataFrame(rows)


def test_summary_and_paired_differences_hand_computed(tmp_path):
    runs = _runs()
    summary = report.summarise_runs(runs, minority_class="NORMAL")
    assert list(summary["n_real"]) == ["50", "50", "all", "all", "all"]  # n_real ascending, real-only first
    row = summary[(summary["baseline"] == "none") & (summary["source"] == "real")].iloc[0]
    assert row["n_seeds"] == 3
    assert (row["auc_mean"], row["auc_std"]) == pytest.approx((0.82, 0.02))
    assert (row["auc_ci_low"], row["auc_ci_high"]) == pytest.approx((0.770317, 0.869683), abs=1e-6)
    # the reference is declared; `none` has no real-only run at n_real 50, oversample runs at both
    assert report.missing_reference(summary, "none") == ["50"] and report.missing_reference(summary, "oversample") == []

    paired = report.paired_differences(runs, minority_class="NORMAL")  # reference none, no primary: all secondary
    assert set(paired["metric"]) == {"auc", "balanced_accuracy", "recall_NORMAL"}
    # no row for the reference itself and none at n_real 50 (no reference there); the 2 other cells x 3 metrics
    assert len(paired) == 2 * 3 and set(paired["n_real"]) == {"all"} and set(paired["role"]) == {"secondary"}
    assert set(paired["variance_sources"]) == {"classifier (no generator)", "classifier only (no replicate column)"}
    gan = paired[(paired["source"] == "dcgan") & (paired["n_real"] == "all")].set_index("metric")
    assert gan.loc["auc", "reference"] == "none"
    assert gan.loc["auc", "diff_mean"] == pytest.approx(0.05)
    assert (gan.loc["auc", "diff_ci_low"], gan.loc["auc", "diff_ci_high"]) == pytest.approx(
        (0.025158, 0.074842), abs=1e-6
    )
    assert gan.loc["auc", "verdict"] == gan.loc["balanced_accuracy", "verdict"] == "better"
    # recall differences 0, -0.01, 0.01: mean 0 -> inconclusive
    assert gan.loc["recall_NORMAL", "diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert gan.loc["recall_NORMAL", "verdict"] == "inconclusive"
    over = paired[(paired["baseline"] == "oversample") & (paired["n_real"] == "all")].set_index("metric")
    # AUC differences -0.02, -0.02, -0.05: mean -0.03, std 0.017321 -> [-0.073028, 0.013028]
    assert over.loc["auc", "diff_mean"] == pytest.approx(-0.03)
    assert over.loc["auc", "diff_ci_low"] == pytest.approx(-0.03 - T975_2 * 0.017320508 / math.sqrt(3), abs=1e-6)
    assert over.loc["auc", "verdict"] == "inconclusive"
    assert over.loc["recall_NORMAL", "verdict"] == "better"  # +0.20 every seed: std 0, CI [0.2, 0.2]
    # paired t p-values and Holm across each metric's family of 2 comparisons. AUC: dcgan/all diffs
    # 0.05, 0.04, 0.06: t = 0.05 / (0.01 / sqrt 3) = 8.660, df 2: p = 1 - t / sqrt(t^2 + 2) = 0.013072;
    # oversample/all t = 3: p = 0.095466. Holm: 0.013072 x 2 = 0.026144, then max(0.095466, 0.026144).
    assert gan.loc["auc", "p_value"] == pytest.approx(1 - 8.660254 / math.sqrt(8.660254**2 + 2), abs=1e-6)
    assert gan.loc["auc", "p_adjusted"] == pytest.approx(2 * 0.013072, abs=1e-6)
    assert over.loc["auc", "p_adjusted"] == pytest.approx(1 - 3 / math.sqrt(11), abs=1e-6)
    assert gan.loc["auc", "family_size"] == 2
    # recall of dcgan/all: diffs 0, -0.01, 0.01 inside the margin 0.02: TOST t = 0.02 / (0.01 / sqrt 3) = 3.4641,
    # p = (1 - t / sqrt(t^2 + 2)) / 2 = 0.037090 each side; Holm over the family (oversample's TOST p is 1): x 2
    assert gan.loc["recall_NORMAL", "p_tost"] == pytest.approx(0.5 * (1 - 3.4641016 / math.sqrt(14)), abs=1e-6)
    assert gan.loc["recall_NORMAL", "p_tost_adjusted"] == pytest.approx(1 - 3.4641016 / math.sqrt(14), abs=1e-6)
    assert gan.loc["recall_NORMAL", "equivalence_margin"] == 0.02
    # detectable difference at alpha / 2 with 80 % power from the paired std, and the seeds 0.01 would need
    from ganaug.stats import min_detectable_difference, seeds_needed

    assert gan.loc["auc", "min_detectable_difference"] == pytest.approx(min_detectable_difference(0.01, 3, 0.05 / 2))
    assert gan.loc["auc", "seeds_needed"] == seeds_needed(0.01, 0.01, 0.05 / 2) == 13

    # against oversample (which ran at both n_real), with Bonferroni: at n_real 50 the AUC falls 0.02 on each seed
    by_over = report.paired_differences(runs, minority_class="NORMAL", reference="oversample", correction="bonferroni")
    small = by_over[(by_over["n_real"] == "50")].set_index("metric")
    assert small.loc["auc", "reference"] == "oversample" and small.loc["auc", "verdict"] == "worse"
    assert small.loc["auc", "p_adjusted"] == 0.0
    # minority recall at n_real 50: diffs 0.2, 0.3, 0.4: t = 5.196, p = 0.035099; x 3 (family of 3) = 0.105297 >
    # 0.05, so inconclusive after correction although the uncorrected CI [0.052, 0.548] excludes 0
    assert small.loc["recall_NORMAL", "p_value"] == pytest.approx(0.035099, abs=1e-6)
    assert small.loc["recall_NORMAL", "p_adjusted"] == pytest.approx(3 * 0.035099, abs=1e-5)
    assert small.loc["recall_NORMAL", "verdict_unadjusted"] == "better"
    assert small.loc["recall_NORMAL", "verdict"] == "inconclusive"

    report.write_summary(summary, tmp_path / "s.csv", tmp_path / "s.md", minority_class="NORMAL")
    report.write_paired(paired, tmp_path / "p.csv", tmp_path / "p.md")
    assert "0.820 ± 0.020 [0.770, 0.870]" in (tmp_path / "s.md").read_text()
    md = (tmp_path / "p.md").read_text()
    assert "+0.050 [0.025, 0.075]" in md and "better 3, worse 0, equivalent 0, inconclusive 3" in md
    assert "| 0.013  | 0.026      |" in md and "| secondary | none" in md
    back = pd.read_csv(tmp_path / "p.csv")
    assert set(back["verdict"]) <= {"better", "worse", "equivalent", "inconclusive"}

    for name, draw in (
        ("fraction.png", lambda p: report.plot_metrics_vs_fraction(summary, p, "NORMAL", "PNEUMONIA")),
        ("delta.png", lambda p: report.plot_delta_vs_n_real(paired, p)),
    ):
        draw(tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _nested_runs(per_generator: int | None = 2) -> pd.DataFrame:
    """Hand-made nested runs: 6 seeds, generator replicate ``seed // per_generator`` (None: no replicate column).

    Reference classic 0.80 on every seed. Per replicate (seeds 0-1, 2-3, 4-5) the mean difference to it:
    g balance 1.0 (the primary) 0.04, 0.03, 0.05; g replace 0.5: 0.01, 0.00, 0.02; g replace 1.0: -0.05,
    -0.03, -0.04; the real-only baseline none -0.02 on every seed. ``ap_N`` = AUC - 0.3 (same differences).
    ``val_auc``: on seeds 0-1 replace 0.5 (0.88) beats replace 1.0 (0.70); over all six 1.0 (0.893) wins.
    """
    cells = {
        ("classic", "real", "none", 0.0): [0.80] * 6,
        ("none", "real", "none", 0.0): [0.78] * 6,
        ("none", "g", "balance", 1.0): [0.83, 0.85, 0.82, 0.84, 0.84, 0.86],
        ("none", "g", "replace", 0.5): [0.80, 0.82, 0.79, 0.81, 0.82, 0.82],
        ("none", "g", "replace", 1.0): [0.74, 0.76, 0.76, 0.78, 0.75, 0.77],
    }
    rows = []
    for (baseline, source, strategy, fraction), aucs in cells.items():
        for seed, auc in enumerate(aucs):
            val = {0.5: 0.88, 1.0: 0.70 if seed < 2 else 0.99}.get(fraction, 0.8) if strategy == "replace" else 0.8
            row = dict(baseline=baseline, source=source, strategy=strategy, fraction=fraction, n_real="all",
                       seed=seed, auc=auc, ap_N=auc - 0.3, val_auc=val)  # fmt: skip
            if per_generator is not None:
                row["replicate"] = seed // per_generator
            rows.append(row)
    return pd.DataFrame(rows)


PRIMARY = {"baseline": "none", "source": "g", "strategy": "balance", "fraction": 1.0, "n_real": "all"}


def _t2_p(t: float) -> float:
    """Two-sided p of Student t with 2 degrees of freedom: 1 - |t| / sqrt(t^2 + 2)."""
    return 1 - abs(t) / math.sqrt(t**2 + 2)


def test_primary_and_secondary_families_hand_computed(tmp_path):
    paired = report.paired_differences(_nested_runs(), "N", reference="classic", primary=PRIMARY)
    assert paired.iloc[0]["role"] == "primary" and (paired["role"] == "primary").sum() == 1  # the primary row first
    by = paired.set_index(["metric", "strategy", "fraction", "source"])
    prim = by.loc[("auc", "balance", 1.0, "g")]
    # primary: replicate differences 0.04, 0.03, 0.05: mean 0.04, std 0.01, t = 0.04 / (0.01 / sqrt 3) = 6.9282,
    # df 2 (3 replicates, not 6 seeds): p = 0.020204 < 0.05, tested alone: better
    assert (prim["n_pairs"], prim["replicates"], prim["family_size"]) == (6, 3, 1)
    assert prim["variance_sources"] == "generator + classifier"
    assert prim["p_value"] == prim["p_adjusted"] == pytest.approx(_t2_p(6.9282032), abs=1e-6)
    assert prim["verdict"] == "better"
    # TOST within 0.02: t = (0.04 + 0.02) / se = 10.392, (0.04 - 0.02) / se = 3.4641 (se = 0.0057735);
    # p_upper = t.cdf(3.4641, 2) = (1 + 3.4641 / sqrt 14) / 2 = 0.962910: far from equivalent
    assert prim["p_tost"] == prim["p_tost_adjusted"] == pytest.approx(0.5 * (1 + 3.4641016 / math.sqrt(14)), abs=1e-6)
    # detectable at alpha itself (no penalty): from std 0.01 over 3 replicates
    assert prim["min_detectable_difference"] == pytest.approx(min_detectable_difference(0.01, 3, 0.05))
    # secondary AUC family of 3: none (real, by seed) -0.02 each seed: p = 0; replace 1.0: t = -6.9282, p = 0.020204;
    # replace 0.5: replicate diffs 0.01, 0, 0.02: t = sqrt 3, p = 0.225403. Holm: 0 x 3 = 0, 0.020204 x 2 = 0.040408,
    # max(0.225403, 0.040408) = 0.225403
    none = by.loc[("auc", "none", 0.0, "real")]
    assert (none["replicates"], none["variance_sources"], none["p_adjusted"]) == (6, "classifier (no generator)", 0)
    assert none["verdict"] == "worse"
    r10, r05 = by.loc[("auc", "replace", 1.0, "g")], by.loc[("auc", "replace", 0.5, "g")]
    assert r10["p_adjusted"] == pytest.approx(2 * _t2_p(6.9282032), abs=1e-6) and r10["verdict"] == "worse"
    assert r05["p_adjusted"] == pytest.approx(_t2_p(math.sqrt(3)), abs=1e-6) and r05["verdict"] == "inconclusive"
    assert {r10["role"], r05["role"], none["role"], int(r10["family_size"])} == {"secondary", 3}
    # secondaries are detectable at Holm's first step, alpha / 3
    assert r05["min_detectable_difference"] == pytest.approx(min_detectable_difference(0.01, 3, 0.05 / 3))
    # average precision has no primary: the primary cell's AP row is secondary, in a family of 4. Holm: 0 x 4;
    # the two p = 0.020204 x 3 and x 2 -> both max(0.060612, 0.040408) = 0.060612: inconclusive after correction
    ap = by.loc[("ap_N", "balance", 1.0, "g")]
    assert ap["role"] == "secondary" and ap["family_size"] == 4
    assert ap["p_adjusted"] == pytest.approx(3 * _t2_p(6.9282032), abs=1e-6) and ap["verdict"] == "inconclusive"
    assert by.loc[("ap_N", "replace", 1.0, "g"), "p_adjusted"] == pytest.approx(ap["p_adjusted"])

    report.write_paired(paired, tmp_path / "p.csv", tmp_path / "p.md")
    md = (tmp_path / "p.md").read_text()
    table = md[md.index("| role") :].splitlines()
    assert table[2].startswith("| primary   | none") and "generator + classifier" in table[2]
    back = pd.read_csv(tmp_path / "p.csv")
    assert {"role", "p_tost", "p_tost_adjusted", "equivalence_margin", "replicates", "variance_sources"} <= set(back)


def test_shared_generator_and_no_replicate_column_fall_back_to_seeds():
    # classifiers_per_generator: all -> one replicate: the 6 seeds are the units, classifier variance only
    shared = report.paired_differences(_nested_runs(per_generator=6), "N", reference="classic", primary=PRIMARY)
    prim = shared[shared["role"] == "primary"].iloc[0]
    assert (prim["replicates"], prim["variance_sources"]) == (6, "classifier only (shared generator)")
    # per-seed differences 0.03, 0.05, 0.02, 0.04, 0.04, 0.06: mean 0.04, five degrees of freedom
    assert prim["diff_mean"] == pytest.approx(0.04) and prim["diff_std"] == pytest.approx(0.0141421, abs=1e-6)
    plain = report.paired_differences(_nested_runs(per_generator=None), "N", reference="classic", primary=PRIMARY)
    assert plain.iloc[0]["variance_sources"] == "classifier only (no replicate column)"
    assert plain.iloc[0]["replicates"] == 6


def test_pilot_replicates_choose_the_primary_and_are_not_tested():
    spec = {"choose": "best_on_validation", "strategy": "replace", "pilot_seeds": [0, 1], "n_real": "all"}
    runs = _nested_runs()
    # on the pilot replicate (seeds 0-1) replace 0.5 has the higher validation AUC; over all seeds 1.0 would
    assert report.choose_primary(runs, "replace", [0, 1]) == ("none", "g", "replace", 0.5, "all")
    assert report.choose_primary(runs, "replace", [0, 1, 2, 3, 4, 5])[3] == 1.0
    paired = report.paired_differences(runs, "N", reference="classic", primary=spec)
    prim = paired.iloc[0]
    assert (prim["role"], prim["strategy"], prim["fraction"]) == ("primary", "replace", 0.5)
    # tested on the fresh replicates only: diffs 0.00, 0.02 -> mean 0.01 over 2 replicates
    assert (prim["n_pairs"], prim["replicates"]) == (4, 2) and prim["diff_mean"] == pytest.approx(0.01)
    assert (paired["n_pairs"] <= 4).all()
    with pytest.raises(ValueError, match="split a generator replicate"):
        report.paired_differences(runs, "N", reference="classic", primary={**spec, "pilot_seeds": [0]})


def test_detectable_difference_not_past_the_scale():
    mdd = min_detectable_difference(0.05, 3, 0.05)
    assert 0.1 < mdd < 0.5
    assert report.detectable_difference(0.05, 3, 0.05, 0.8, reference_mean=0.5) == pytest.approx(mdd)
    # the reference at 0.95: no AUC can rise by mdd above it, so the table says NaN ("not detectable")
    assert math.isnan(report.detectable_difference(0.05, 3, 0.05, 0.8, reference_mean=0.95))
    assert math.isnan(report.detectable_difference(2.0, 3, 0.05, 0.8, reference_mean=0.0))  # past 1 whatever
    assert report.detectable_difference(0.0, 3, 0.05, 0.8, reference_mean=1.0) == 0.0


def test_runs_table_fills_keys_of_old_records(tmp_path):
    import json

    old = {"source": "real", "fraction": 0.0, "seed": 0, "auc": 0.8, "confusion": [[1, 0], [0, 1]]}
    new = {
        "baseline": "classic",
        "source": "dcgan",
        "strategy": "balance",
        "fraction": 1.0,
        "n_real": "50",
        "seed": 1,
        "auc": 0.7,
    }
    paths = []
    for i, rec in enumerate((new, old)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(rec))
    runs = report.classifier_runs_table(paths)
    assert list(runs.columns[:6]) == ["baseline", "source", "strategy", "fraction", "n_real", "seed"]
    assert runs[["baseline", "source", "strategy", "n_real"]].values.tolist() == [
        ["classic", "dcgan", "balance", "50"],
        ["none", "real", "none", "all"],
    ]
    assert "confusion" not in runs
