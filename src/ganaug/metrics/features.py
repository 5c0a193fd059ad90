"""Shared TF-FID Inception feature extractor and feature statistics.

One extractor serves every metric that needs Inception features (FID, KID,
precision/recall, the 1-NN test, memorisation). The network is built once per
process and device. Real-image statistics are cached on disk with
:func:`save_stats` / :func:`load_stats` (npz, never pickled); the cache also
holds the features themselves (``features``, stored as float32, which is what
the network computes, and ``indices``: the rows of the image set they belong
to), so every metric reuses one extraction.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import numpy as np

from ganaug.io import PathLike, load_npz, save_npz

FEATURE_DIM = 2048

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def get_model(device="cpu"):
    """The FID Inception extractor for ``device``, built on first use and cached."""
    import torch

    from ganaug.metrics.inception import build_fid_inception

    dev = torch.device(device)
    key = str(dev)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = build_fid_inception(dev)
            _models[key] = model
    return model


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (N, H, W, C), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have shape (N, H, W, C) with C in {{1, 3}}, got {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("no images given")
    return images


def extract_features(
    images: np.ndarray,
    device="cpu",
    batch_size: int = 50,
    progress: bool = True,
) -> np.ndarray:
    """TF-FID pool3 features of uint8 images (N, H, W, C), C in {1, 3} -> float64 (N, 2048).

    Grayscale images are repeated to three channels (as PIL's ``convert('RGB')``
    does in pytorch-fid's file pipeline), scaled by 1/255 to float32, then fed
    to pytorch-fid's ``InceptionV3`` (bilinear resize to 299, ``2x - 1``).
    """
    import torch
    from tqdm.auto import tqdm

    images = _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = get_model(device)
    dev = torch.device(device)
    n = images.shape[0]
    out = np.empty((n, FEATURE_DIM), dtype=np.float64)
    with (
        torch.inference_mode(),
        tqdm(total=n, desc="inception features", unit="img", file=sys.stderr, disable=not progress, leave=False) as bar,
    ):
        for start in range(0, n, batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            x = chunk.to(dev).permute(0, 3, 1, 2).float().div_(255.0)  # NHWC storage == channels_last
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            x = x.contiguous(memory_format=torch.channels_last)
            feats = model(x)
            out[start : start + feats.shape[0]] = feats.double().cpu().numpy()
            bar.update(feats.shape[0])
    return out


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``np.cov(rowvar=False)``, as pytorch-fid) of features (N, D)."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need a (N, D) feature matrix with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def save_stats(
    path: PathLike,
    mu: np.ndarray,
    sigma: np.ndarray,
    n: int,
    *,
    features: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    **meta: Any,
) -> None:
    """Write FID statistics atomically as npz; ``meta`` (JSON-serialisable) is stored as a JSON string.

    ``features`` (n, D), if given (the features ``mu`` and ``sigma`` were computed
    from, i.e. :func:`feature_stats`), are stored instead of ``sigma``, as float32
    (what the network computes; float64 features of float32 values round-trip
    exactly), with ``indices`` (n,): the rows of the image set they belong to
    (default ``0 .. n-1``). :func:`load_stats` recomputes ``sigma`` from them with
    the same ``np.cov``, so FID is unchanged, and the file is smaller than
    the D x D float64 covariance whenever n < 2D (33 MB at D = 2048).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"inconsistent statistics: mu {mu.shape}, sigma {sigma.shape}")
    arrays = {
        "mu": mu,
        "n": np.asarray(int(n), dtype=np.int64),
        "meta_json": np.asarray(json.dumps(meta, sort_keys=True, default=_json_scalar)),
    }
    if features is not None:
        features = np.asarray(features)
        if features.shape != (int(n), mu.shape[0]) or int(n) < 2:
            raise ValueError(f"features {features.shape} do not match n={n} (>= 2) and dimension {mu.shape[0]}")
        if not np.allclose(features.mean(axis=0), mu, rtol=1e-5, atol=1e-6):
            raise ValueError("mu is not the mean of the features given")
        indices = np.arange(int(n)) if indices is None else np.asarray(indices)
        if indices.shape != (int(n),):
            raise ValueError(f"indices {indices.shape} do not match n={n}")
        arrays["features"] = features.astype(np.float32)
        arrays["indices"] = indices.astype(np.int64)
    elif indices is not None:
        raise ValueError("indices given without features")
    else:
        arrays["sigma"] = sigma
    save_npz(path, arrays)


def _json_scalar(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"stats metadata must be JSON-serialisable, got {type(obj).__name__}")


def load_stats(path: PathLike, require_features: bool = False) -> dict[str, Any]:
    """Read statistics written by :func:`save_stats` -> ``{mu, sigma, n, meta, features, indices}``; pickles are refused.

    ``features`` (float64) and ``indices`` are None in a file written without
    features; ``require_features`` makes that an error.
    """
    data = load_npz(path, required=("mu", "n"))
    if "sigma" not in data and "features" not in data:
        raise ValueError(f"{path}: missing array(s) sigma (and no features to compute it from)")
    mu = data["mu"].astype(np.float64)
    meta = json.loads(str(data["meta_json"])) if "meta_json" in data else {}
    n = int(data["n"])
    features = indices = None
    if "features" in data:
        features = data["features"].astype(np.float64)
        indices = data["indices"].astype(np.int64) if "indices" in data else np.arange(n, dtype=np.int64)
        if mu.ndim != 1 or features.shape != (n, mu.shape[0]) or indices.shape != (n,):
            raise ValueError(
                f"{path}: features {features.shape} / indices {indices.shape} do not match n={n}, mu {mu.shape}"
            )
        sigma = data["sigma"].astype(np.float64) if "sigma" in data else feature_stats(features)[1]
    elif require_features:
        raise ValueError(
            f"{path}: holds statistics only, no features (written by an older version: delete it to recompute)"
        )
    else:
        sigma = data["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: inconsistent statistics: mu {mu.shape}, sigma {sigma.shape}")
    return {"mu": mu, "sigma": sigma, "n": n, "meta": meta, "features": features, "indices": indices}


def select_subset(n_total: int, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a deterministic random subset of size ``n`` (all indices if ``n >= n_total``)."""
    if n_total < 0 or n < 0:
        raise ValueError(f"n_total and n must be >= 0, got {n_total}, {n}")
    if n >= n_total:
        return np.arange(n_total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=n, replace=False)).astype(np.int64)
