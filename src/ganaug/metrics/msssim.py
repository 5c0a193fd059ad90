"""Sample diversity as mean MS-SSIM over random pairs (Odena et al. 2017, AC-GAN).

A set of generated images is scored by the mean MS-SSIM (Wang et al. 2003) of
``pairs`` random pairs of *different* images of the set: lower = more diverse; a
collapsed generator (all samples alike) scores close to 1. Compare a GAN's score
with the same score on the real images of the class: :func:`mode_collapse` flags
a generated set whose score exceeds the real one by more than a margin.

Settings for small images
-------------------------
Standard MS-SSIM uses 5 scales (4 halvings) and an 11-tap Gaussian window
(sigma 1.5). At every scale the window must fit in the image, which needs::

    min(H, W) > (win_size - 1) * 2 ** (scales - 1)

i.e. > 160 px for the standard settings. For the resolutions this project uses
:func:`msssim_settings` picks, by the smaller image side ``s``:

=============  ========  ======  ====================================
``s``          win_size  scales  weights
=============  ========  ======  ====================================
>= 176         11        5       0.0448 0.2856 0.3001 0.2363 0.1333
128 – 175      7         5       same 5 (pytorch-msssim's defaults)
64 – 127       7         4       first 4, renormalised
9 – 63         3         3       first 3, renormalised  (28, 32 px)
5 – 8          3         2       first 2, renormalised
=============  ========  ======  ====================================

Truncated weight lists are the first *k* standard weights divided by their sum.
The Gaussian sigma stays 1.5 and K = (0.01, 0.03), data range 255. Values are
only comparable between image sets of the same resolution (same settings).

Implementation
--------------
pytorch-msssim's ``ms_ssim`` asserts ``s > (win_size - 1) * 16`` whatever the
number of scales, which rules out any window wider than one pixel at 28–32 px.
:func:`ms_ssim` here is that function's multi-scale loop (same average-pool
downsampling, same ReLU on the contrast terms and on the last-scale SSIM, same
weighted product) built on pytorch-msssim's per-scale ``_ssim`` and Gaussian
window, with the scale-aware size check above instead. For settings the library
accepts it returns the library's values (checked in ``tests/test_metrics.py``).
"""

from __future__ import annotations

import numpy as np

STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIGMA = 1.5
K = (0.01, 0.03)
DATA_RANGE = 255.0

# (minimum smaller side, win_size, scales), first match wins.
_TIERS = ((176, 11, 5), (128, 7, 5), (64, 7, 4), (9, 3, 3), (5, 3, 2))

# Mode collapse: generated MS-SSIM diversity this far above the real one. Real 28-32 px chest X-ray
# subsets differ by up to ~0.07 from one another (pairs=200); a set that is half one repeated image
# scores ~+0.08-0.10 and a fully collapsed one ~+0.3-0.4 (real ~0.57-0.71, collapsed ~1.0).
DEFAULT_COLLAPSE_MARGIN = 0.1


def msssim_settings(resolution: int) -> dict:
    """MS-SSIM ``win_size`` and scale ``weights`` valid for images whose smaller side is ``resolution``."""
    resolution = int(resolution)
    for min_side, win_size, scales in _TIERS:
        if resolution >= min_side:
            if scales == len(STANDARD_WEIGHTS):
                weights = list(STANDARD_WEIGHTS)  # exactly pytorch-msssim's defaults
            else:
                w = np.asarray(STANDARD_WEIGHTS[:scales], dtype=np.float64)
                weights = [float(x) for x in w / w.sum()]
            settings = {"win_size": win_size, "weights": weights}
            check_settings(resolution, **settings)
            return settings
    raise ValueError(f"images of {resolution} px are too small for MS-SSIM (need >= {_TIERS[-1][0]} px)")


def check_settings(min_side: int, win_size: int, weights) -> None:
    scales = len(weights)
    if win_size < 1 or win_size % 2 != 1:
        raise ValueError(f"win_size must be a positive odd integer, got {win_size}")
    if scales < 1:
        raise ValueError("need at least one scale weight")
    need = (win_size - 1) * 2 ** (scales - 1)
    if not min_side > need:
        raise ValueError(
            f"MS-SSIM with win_size={win_size} and {scales} scales needs images larger than {need} px, got {min_side} px"
        )


def ms_ssim(X, Y, win_size: int, weights, data_range: float = DATA_RANGE):
    """Per-image MS-SSIM of float tensors (N, C, H, W) -> (N,), averaged over channels."""
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    if X.shape != Y.shape or X.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of one shape, got {tuple(X.shape)} and {tuple(Y.shape)}")
    check_settings(min(X.shape[-2:]), win_size, weights)
    weights_t = X.new_tensor(list(weights))
    win = _fspecial_gauss_1d(win_size, WIN_SIGMA).repeat([X.shape[1], 1, 1, 1])
    levels = weights_t.shape[0]
    mcs = []
    for i in range(levels):
        ssim_per_channel, cs = _ssim(X, Y, win=win, data_range=data_range, size_average=False, K=K)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in X.shape[2:]]
            X = F.avg_pool2d(X, kernel_size=2, padding=padding)
            Y = F.avg_pool2d(Y, kernel_size=2, padding=padding)
    ssim_per_channel = torch.relu(ssim_per_channel)
    stacked = torch.stack(mcs + [ssim_per_channel], dim=0)  # (levels, N, C)
    value = torch.prod(stacked ** weights_t.view(-1, 1, 1), dim=0)
    return value.mean(1)


def _to_tensor(images: np.ndarray):
    import torch

    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (N, H, W, C), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have shape (N, H, W, C) with C in {{1, 3}}, got {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float64)


def msssim_pairs(a: np.ndarray, b: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """MS-SSIM of each pair (a[i], b[i]) of uint8 images (N, H, W, C) -> float64 (N,)."""
    import torch

    if np.shape(a) != np.shape(b):
        raise ValueError(f"a and b must have one shape, got {np.shape(a)} and {np.shape(b)}")
    ta, tb = _to_tensor(a), _to_tensor(b)
    settings = msssim_settings(min(ta.shape[-2:]))
    out = []
    with torch.inference_mode():
        for s in range(0, ta.shape[0], batch_size):
            out.append(ms_ssim(ta[s : s + batch_size], tb[s : s + batch_size], **settings))
    return torch.cat(out).cpu().numpy().astype(np.float64)


def sample_pairs(n: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` index pairs (i, j), i != j, drawn uniformly from range(n); deterministic by seed."""
    if n < 2:
        raise ValueError(f"MS-SSIM diversity needs at least 2 images, got {n}")
    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n  # uniform over the n - 1 other images
    return i, j


def msssim_diversity(images: np.ndarray, pairs: int = 200, seed: int = 0) -> float:
    """Mean MS-SSIM over ``pairs`` random pairs of different images of the set (lower = more diverse)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got {images.shape}")
    i, j = sample_pairs(images.shape[0], pairs, seed)
    return float(np.mean(msssim_pairs(images[i], images[j])))


def mode_collapse(msssim_generated: float, msssim_real: float, margin: float = DEFAULT_COLLAPSE_MARGIN) -> bool:
    """Whether the generated images' MS-SSIM exceeds the real images' by more than ``margin`` (less diverse)."""
    if margin < 0:
        raise ValueError(f"collapse margin must be >= 0, got {margin}")
    return bool(float(msssim_generated) - float(msssim_real) > float(margin))
