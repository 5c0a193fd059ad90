"""Test-set shift (ganaug.metrics.shift): FID train-vs-test over train-vs-train at one N."""

from __future__ import annotations

import numpy as np
import pytest

from ganaug.metrics import fid_from_stats_and_features, measure_test_shift
from ganaug.metrics.features import feature_stats


def _gaussian(n: int, dim: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)) + shift


def test_same_distribution_gives_a_ratio_near_one():
    r = measure_test_shift(_gaussian(400, 16, 0), _gaussian(150, 16, 1), draws=5, seed=0)
    assert (r["n"], r["draws"]) == (150, 5)  # min(400 // 2, 150)
    assert 0.8 < r["ratio"] < 1.25
    assert r["ratio"] == pytest.approx(r["fid_train_test"] / r["fid_train_train"])


def test_a_shifted_test_set_is_flagged_by_its_mean_offset():
    train, test = _gaussian(200, 16, 0), _gaussian(300, 16, 1, shift=1.0)
    r = measure_test_shift(train, test, draws=3, seed=0)
    assert r["n"] == 100  # min(200 // 2, 300)
    # a mean offset of 1 in each of 16 dimensions adds about |offset|^2 = 16 to the FID
    assert r["fid_train_test"] - r["fid_train_train"] == pytest.approx(16.0, rel=0.25)
    assert r["ratio"] > 3


def test_one_draw_by_hand():
    """draws=1 reproduces: permute the training rows, A = first n, B = next n, C = n test rows drawn after."""
    train, test = _gaussian(20, 4, 0), _gaussian(7, 4, 1)
    r = measure_test_shift(train, test, draws=1, seed=5)
    rng = np.random.default_rng(5)
    perm = rng.permutation(20)
    c = test[rng.choice(7, 7, replace=False)]
    mu, sigma = feature_stats(train[perm[:7]])
    assert r["fid_train_train"] == pytest.approx(fid_from_stats_and_features(mu, sigma, train[perm[7:14]]))
    assert r["fid_train_test"] == pytest.approx(fid_from_stats_and_features(mu, sigma, c))


@pytest.mark.parametrize(
    ("train", "test", "draws", "match"),
    [((3, 4), (5, 4), 1, "needs >= 4 training"), ((10, 4), (5, 3), 1, "one dimension"), ((10, 4), (5, 4), 0, "draws")],
)
def test_bad_input_is_refused(train, test, draws, match):
    with pytest.raises(ValueError, match=match):
        measure_test_shift(np.zeros(train), np.zeros(test), draws=draws)
