"""Matched-N FID, FID-infinity and the real floors (ganaug.metrics.fid_inf, ganaug.metrics.matched)."""

import numpy as np
import pytest

from ganaug.metrics.features import feature_stats
from ganaug.metrics.fid import fid_between_features, fid_from_stats_and_features
from ganaug.metrics.fid_inf import fid_inf, fit_inverse_n, inverse_n_grid, subsampled_fid
from ganaug.metrics.kid import kid
from ganaug.metrics.matched import floor_scores, matched_scores


def gaussians(n_x, n_y, dim=32, seed=1):
    """N(0, I) vs N(m, diag(s^2)) samples and their true Fréchet distance |m|^2 + sum (1 + s^2 - 2 s)."""
    rng = np.random.default_rng(seed)
    m, s = np.full(dim, 0.3), np.linspace(0.7, 1.3, dim)
    return rng.normal(size=(n_x, dim)), m + s * rng.normal(size=(n_y, dim)), float(m @ m + np.sum(1 + s**2 - 2 * s))


def test_fid_between_features_is_the_pipeline_fid():
    rng = np.random.default_rng(0)
    a, b = np.abs(rng.normal(size=(30, 256))), np.abs(rng.normal(size=(20, 256))) + 0.1
    assert fid_between_features(a, b) == pytest.approx(fid_from_stats_and_features(*feature_stats(a), b), rel=1e-9)
    assert fid_between_features(a, b) == pytest.approx(fid_between_features(b, a), rel=1e-9)
    with pytest.raises(ValueError, match="one dimension"):
        fid_between_features(a, b[:, :10])


def test_fit_recovers_an_exact_inverse_n_curve():
    ns = inverse_n_grid(250, 50, 15)
    a, b = fit_inverse_n(ns, 12.5 + 340.0 / ns)
    assert (a, b) == (pytest.approx(12.5), pytest.approx(340.0))


def test_inverse_n_grid():
    grid = inverse_n_grid(250, 50, 15)
    assert grid[0] == 50 and grid[-1] == 250 and len(grid) == 15 and np.all(np.diff(grid) > 0)
    np.testing.assert_allclose(1.0 / grid, np.linspace(1 / 50, 1 / 250, 15), atol=2e-4)  # evenly spaced in 1/N
    small = inverse_n_grid(42, 50, 15)
    assert small[0] == 21 and small[-1] == 42  # at most half the largest N
    assert inverse_n_grid(8, 50, 15).tolist() == [4, 5, 6, 7, 8]


def test_fid_inf_is_closer_to_the_truth_than_fid_at_small_n():
    x, y, true = gaussians(400, 400)
    res = fid_inf(x, y, n_min=50, points=15, draws=5, seed=0)
    assert res["n_min"] == 50 and res["n_max"] == 400 and res["points"] == len(res["n"]) == len(res["fid"])
    at_50, at_400 = subsampled_fid(x, y, 50)["fid"], subsampled_fid(x, y, 400)["fid"]
    assert abs(res["fid_inf"] - true) < 0.1 * true
    assert abs(res["fid_inf"] - true) < abs(at_400 - true) < abs(at_50 - true)
    assert res["slope"] > 0  # FID is biased upward by 1/N


def test_subsampled_fid_draws():
    x, y, _ = gaussians(60, 40)
    full = subsampled_fid(x[:40], y, 40, draws=5)
    assert full["draws"] == 1 and full["std"] == 0.0  # nothing to subsample: one draw
    assert full["fid"] == pytest.approx(fid_between_features(x[:40], y))
    sub = subsampled_fid(x, y, 40, draws=5, seed=3)
    assert sub["draws"] == 5 and sub["std"] > 0 and sub == subsampled_fid(x, y, 40, draws=5, seed=3)
    with pytest.raises(ValueError, match="n must be"):
        subsampled_fid(x, y, 41)


def test_matched_scores_put_the_fid_and_its_floor_at_one_n():
    gen, train, _ = gaussians(250, 151, seed=2)
    test = gaussians(2, 42, seed=3)[1]  # the same distribution as train
    rec = matched_scores(gen, train, test, n=250, draws=5, seed=0, kid_subset_size=100, kid_n_subsets=20)
    assert rec["fid_n"] == rec["fid_floor_n"] == 42 and rec["fid_draws"] == rec["fid_floor_draws"] == 5
    assert (rec["fid_floor_n_train"], rec["fid_floor_n_test"], rec["n_generated"]) == (151, 42, 250)
    assert rec["fid_ratio"] == pytest.approx(rec["fid"] / rec["fid_floor"])
    assert rec["fid_inf_ratio"] == pytest.approx(rec["fid_inf"] / rec["fid_inf_floor"])
    assert rec["fid_inf_n_max"] == 42 and rec["fid_inf_n_min"] == 21
    assert rec["fid_full"] == pytest.approx(fid_between_features(gen, train))
    assert rec["fid_floor_full"] == pytest.approx(fid_between_features(train, test))
    assert rec["kid_subset_size"] == 42 and rec["kid"] == rec["kid_mean"]
    assert rec["kid_floor"] == kid(train, test, subset_size=42, n_subsets=20, seed=0)["kid_mean"]
    # the floor depends on the real features and settings only, so rule fid_floor caches it once per class
    floor = floor_scores(train, test, 42, draws=5, seed=0, kid_subset_size=100, kid_n_subsets=20)
    assert all(rec[k] == v for k, v in floor.items())
    # the generated side is far (N(0, I) vs N(m, s)), the floor is two draws of one distribution
    assert rec["fid_ratio"] > 1 and rec["kid_mean"] > rec["kid_floor"]
    # n caps the matched N
    assert matched_scores(gen, train, test, n=30, draws=2)["fid_n"] == 30
