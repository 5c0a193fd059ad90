"""Test-set shift: are a class's real test images as close to its training images as these are to each other?

The FID floor (train vs test of one class) is read as "how close can any
generator get". When the test images come from elsewhere (the Kaggle chest
X-ray NORMAL test images differ from the training ones), that floor is far
above the FID between two halves of the training set itself, and every
classifier metric on that class measures transfer to a shifted test set as
much as the classifier. :func:`measure_test_shift` measures both at the same N
(FID's small-sample bias is the same on both sides), so their ratio means
something: about 1 without a shift, well above 1 with one.
"""

from __future__ import annotations

import numpy as np

from ganaug.metrics.features import feature_stats
from ganaug.metrics.fid import fid_from_stats_and_features


def measure_test_shift(train_features: np.ndarray, test_features: np.ndarray, draws: int = 5, seed: int = 0) -> dict:
    """FID train-vs-train and train-vs-test at one N, averaged over ``draws`` seeded draws.

    Each draw splits the training features into two disjoint sets A and B of
    ``n = min(N_train // 2, N_test)`` rows and draws ``n`` test rows C;
    ``fid_train_train`` = FID(A, B) and ``fid_train_test`` = FID(A, C), each
    averaged over the draws. Returns those, their ``ratio`` (train-vs-test over
    train-vs-train), ``n`` and ``draws``.
    """
    train = np.asarray(train_features, dtype=np.float64)
    test = np.asarray(test_features, dtype=np.float64)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"feature matrices of one dimension needed, got {train.shape} and {test.shape}")
    n = min(len(train) // 2, len(test))
    if n < 2:
        raise ValueError(f"test-set shift needs >= 4 training and >= 2 test images, got {len(train)} and {len(test)}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    rng = np.random.default_rng(seed)
    within, across = [], []
    for _ in range(draws):
        perm = rng.permutation(len(train))
        mu_a, sigma_a = feature_stats(train[perm[:n]])
        within.append(fid_from_stats_and_features(mu_a, sigma_a, train[perm[n : 2 * n]]))
        across.append(fid_from_stats_and_features(mu_a, sigma_a, test[rng.choice(len(test), n, replace=False)]))
    fid_tt, fid_te = float(np.mean(within)), float(np.mean(across))
    ratio = fid_te / fid_tt if fid_tt > 0 else float("inf")
    return {"n": int(n), "draws": int(draws), "fid_train_train": fid_tt, "fid_train_test": fid_te, "ratio": ratio}
