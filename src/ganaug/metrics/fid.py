"""Fréchet Inception Distance (Heusel et al. 2017) on TF-FID Inception pool3 features.

The distance itself is pytorch-fid's :func:`calculate_frechet_distance`; features
come from :mod:`ganaug.metrics.features`, whose extractor matches pytorch-fid's
own pipeline (``tests/test_fid_parity.py``).

FID is biased upward at small N; only compare values computed with the same
number of images per side (``metrics.fid.n`` in config.yaml).

Cost: pytorch-fid takes ``scipy.linalg.sqrtm`` of a 2048x2048 matrix, about
15-30 s per FID on a 2-core CPU, independent of the number of images.
"""

from __future__ import annotations

import warnings

import numpy as np

from ganaug.metrics.features import feature_stats


def fid_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FID between two Gaussians, by ``pytorch_fid.fid_score.calculate_frechet_distance``."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    with warnings.catch_warnings():
        # with fewer images than feature dimensions the covariances are always
        # singular; scipy says so on every call. pytorch-fid handles that case.
        warnings.filterwarnings("ignore", message="Matrix is singular")
        warnings.filterwarnings("ignore", message="The `disp` argument is deprecated")
        value = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
    if not np.isfinite(value):
        raise ValueError(f"FID is not finite ({value})")
    return value


def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID between two feature matrices (N1, D) and (N2, D)."""
    return fid_from_stats(*feature_stats(f1), *feature_stats(f2))
