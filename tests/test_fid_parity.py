"""ganaug's FID equals pytorch-fid's own file-based pipeline on real chest X-rays.

100 NORMAL vs 100 PNEUMONIA training X-rays at 64 px grayscale. ganaug: uint8
arrays -> extract_features -> fid_between_features (the exact small-N form the pipeline uses:
no 2048x2048 sqrtm). pytorch-fid: the same arrays
written as PNG files -> ``calculate_activation_statistics`` (PIL, convert('RGB'),
ToTensor) with pytorch-fid's ``InceptionV3([3])`` -> ``calculate_frechet_distance``.
Both networks carry the offline-mapped TF-FID weights (nothing is downloaded).

About 400 Inception forward passes and 2 FIDs: 1.5-2.5 minutes on one core (N = 200 took 284 s in the
suite; 100 per side keep the check, equal statistics from the same arrays, at half the cost).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from PIL import Image

from ganaug.io import save_image
from ganaug.metrics.features import extract_features
from ganaug.metrics.fid import fid_between_features
from ganaug.metrics.inception import build_pytorch_fid_inception
from helpers import load_xrays

torch.set_num_threads(2)

N, RES = 100, 64


def test_fid_matches_pytorch_fid_pipeline(tmp_path):
    from pytorch_fid.fid_score import calculate_activation_statistics, calculate_frechet_distance

    a = load_xrays("train", "NORMAL", N, RES)
    b = load_xrays("train", "PNEUMONIA", N, RES)

    t0 = time.perf_counter()
    fa = extract_features(a, batch_size=50, progress=False)
    fb = extract_features(b, batch_size=50, progress=False)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = fid_between_features(fa, fb)
    t_fid = time.perf_counter() - t0

    file_lists = []
    for name, imgs in (("normal", a), ("pneumonia", b)):
        files = []
        for k, img in enumerate(imgs):
            path = tmp_path / name / f"{k:04d}.png"
            save_image(path, img)
            files.append(str(path))
        file_lists.append(files)
    with Image.open(file_lists[0][0]) as probe:
        assert probe.mode == "L" and probe.size == (RES, RES)
        np.testing.assert_array_equal(np.asarray(probe), a[0, :, :, 0])

    model = build_pytorch_fid_inception()  # InceptionV3([3]), resize_input=True, normalize_input=True
    t0 = time.perf_counter()
    mu1, s1 = calculate_activation_statistics(
        file_lists[0], model, batch_size=50, dims=2048, device="cpu", num_workers=0
    )
    mu2, s2 = calculate_activation_statistics(
        file_lists[1], model, batch_size=50, dims=2048, device="cpu", num_workers=0
    )
    t_ref = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = float(calculate_frechet_distance(mu1, s1, mu2, s2))

    rel = abs(ours - ref) / abs(ref)
    print(
        f"\nFID NORMAL vs PNEUMONIA ({N} vs {N}, {RES} px gray): ganaug {ours:.6f}, pytorch-fid {ref:.6f}, "
        f"relative difference {rel:.3g}; max |mu diff| {max(np.abs(fa.mean(0) - mu1).max(), np.abs(fb.mean(0) - mu2).max()):.3g}"
        f"\nganaug features: {2 * N / t_ours:.2f} images/s; pytorch-fid pipeline: {2 * N / t_ref:.2f} images/s; "
        f"ganaug FID (no sqrtm): {t_fid:.2f} s"
    )
    np.testing.assert_allclose(fa.mean(0), mu1, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fb.mean(0), mu2, rtol=0, atol=1e-4)
    assert ours > 1.0
    assert rel < 1e-3
