"""Full-reference image-quality scores (via ``piq``) of generated images against their nearest training image.

Each generated image is compared with the real training image nearest to it in
pixel space (:mod:`~ganaug.metrics.memorisation`), pixels scaled to [0, 1]:

==========  ===================  =========  =============================================
name        piq function         better     minimum image side
==========  ===================  =========  =============================================
psnr        ``psnr``             higher     1; identical images give 80 dB (piq's eps cap)
ssim        ``ssim`` (11x11)     higher     11 (the Gaussian window must fit)
ms_gmsd     ``multi_scale_gmsd`` lower      17 (4 scales: ``2 ** 4 + 1``)
mdsi        ``mdsi``             lower      1
haarpsi     ``haarpsi``          higher     16 (3 scales: Haar kernel ``2 ** (3 + 1)``)
==========  ===================  =========  =============================================

All five run at the project's 28 and 32 px with piq's default settings. For
smaller images a metric whose window does not fit is **skipped, not silently**:
its per-image values are NaN and :func:`fullref_scores` reports it in
``skipped`` with the reason (and warns), which the metrics JSON carries as
``fullref_skipped``.

Channels: grayscale images are fed to PSNR, SSIM, MS-GMSD and HaarPSI as one
channel (their grayscale definitions; piq takes the luma channel of RGB input for
MS-GMSD and HaarPSI). MDSI is defined on RGB only, so a grayscale image is
repeated to three channels first (what piq would do itself, with a warning).
RGB images go to every metric as they are.

What these scores can and cannot say
------------------------------------
They measure how close a generated image is to *one particular training image*.
They are not a quality measure of the generator: a perfect score (PSNR 80 dB,
SSIM 1, MS-GMSD 0) means the generator reproduced a training image, i.e.
memorisation, while a novel but realistic image scores poorly because no
training image matches it pixel for pixel. Read them with the memorisation
summary and the distribution metrics (FID, KID, precision/recall), never as
"higher is better" for the GAN; their use is to show how near the nearest
training images are in perceptual terms, not only in RMS pixel difference.
"""

from __future__ import annotations

import warnings

import numpy as np

from ganaug.metrics.utils import check_images

METRICS = ("psnr", "ssim", "ms_gmsd", "mdsi", "haarpsi")
MIN_SIZE = {"psnr": 1, "ssim": 11, "ms_gmsd": 17, "mdsi": 1, "haarpsi": 16}
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ms_gmsd": False, "mdsi": False, "haarpsi": True}


def _score(name: str, x, y):
    import piq

    if name == "psnr":
        return piq.psnr(x, y, data_range=1.0, reduction="none")
    if name == "ssim":
        return piq.ssim(x, y, data_range=1.0, reduction="none")
    if name == "ms_gmsd":
        return piq.multi_scale_gmsd(x, y, data_range=1.0, reduction="none")
    if name == "mdsi":
        if x.shape[1] == 1:
            x, y = x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1)
        return piq.mdsi(x, y, data_range=1.0, reduction="none")
    if name == "haarpsi":
        return piq.haarpsi(x, y, data_range=1.0, reduction="none")
    raise ValueError(f"unknown full-reference metric {name!r} (known: {', '.join(METRICS)})")


def fullref_scores(x_images: np.ndarray, y_images: np.ndarray, metrics=METRICS, batch_size: int = 256) -> dict:
    """Per-pair scores of uint8 images x[i] vs reference y[i] -> ``{"scores": {name: (N,) float64}, "skipped": {name: reason}}``.

    A metric the image size does not allow has NaN scores and an entry in ``skipped``.
    """
    import torch

    x_images, y_images = check_images(x_images, "images"), check_images(y_images, "reference images")
    if x_images.shape != y_images.shape:
        raise ValueError(f"images and references must have one shape, got {x_images.shape} and {y_images.shape}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown full-reference metric(s) {', '.join(unknown)} (known: {', '.join(METRICS)})")
    side = min(x_images.shape[1:3])
    n = x_images.shape[0]
    scores: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name in metrics:
        if side < MIN_SIZE[name]:
            skipped[name] = f"needs images of >= {MIN_SIZE[name]} px, got {side} px"
            warnings.warn(f"full-reference metric {name} skipped: {skipped[name]}", stacklevel=2)
            scores[name] = np.full(n, np.nan)
            continue
        out = np.empty(n, dtype=np.float64)
        with torch.inference_mode():
            for s in range(0, n, batch_size):
                x = (
                    torch.from_numpy(np.ascontiguousarray(x_images[s : s + batch_size])).permute(0, 3, 1, 2).double()
                    / 255.0
                )
                y = (
                    torch.from_numpy(np.ascontiguousarray(y_images[s : s + batch_size])).permute(0, 3, 1, 2).double()
                    / 255.0
                )
                out[s : s + x.shape[0]] = _score(name, x, y).reshape(-1).cpu().numpy()
        scores[name] = out
    return {"scores": scores, "skipped": skipped}


def fullref_summary(result: dict) -> dict:
    """``{fullref_<name>_mean: float | None}`` (None for a skipped metric) and ``fullref_skipped`` (text, "" if none)."""
    out = {}
    for name, values in result["scores"].items():
        out[f"fullref_{name}_mean"] = None if name in result["skipped"] else float(np.mean(values))
    out["fullref_skipped"] = "; ".join(f"{k}: {v}" for k, v in result["skipped"].items())
    return out
