"""Unit tests for the generative-side metrics: KID, precision/recall, the 1-NN test,
memorisation, full-reference scores and the mode-collapse flag.

Every metric is checked on a case with a known answer (hand-computed values,
identical sets, far-apart sets, a copy of the training set, one image repeated).
No Inception network runs here: the feature-based metrics take any feature
matrix, so small random features and pixel vectors of real chest X-rays stand in.
"""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from ganaug.metrics import features as feat_mod
from ganaug.metrics.fullref import METRICS as FULLREF_METRICS
from ganaug.metrics.fullref import fullref_scores, fullref_summary
from ganaug.metrics.kid import kid, mmd2_unbiased, polynomial_kernel
from ganaug.metrics.memorisation import (
    memorisation,
    near_copy_threshold,
    nearest_neighbours,
    pixel_vectors,
    plot_nearest_pairs,
)
from ganaug.metrics.msssim import DEFAULT_COLLAPSE_MARGIN, mode_collapse, msssim_diversity
from ganaug.metrics.nn1 import nn1_accuracy
from ganaug.metrics.precision_recall import knn_radii, precision_recall
from ganaug.report import gan_scores_table
from helpers import load_xrays

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def rng_feats():
    rng = np.random.default_rng(0)
    return rng.normal(size=(120, 8)), rng.normal(size=(120, 8))


@pytest.fixture(scope="module")
def xrays():
    """80 real NORMAL training X-rays at 32 px (fails loudly if ../shared/data is missing)."""
    return load_xrays("train", "NORMAL", 80, 32)


# ---------------------------------------------------------------------------------------------- KID


def test_kid_hand_computed():
    # 1-D, k(a, b) = (a*b + 1)^3. gen {0, 1}: k(0,1) = 1; real {0, 2}: k(0,2) = 1;
    # cross: k(0,0) = k(0,2) = k(1,0) = 1, k(1,2) = 27 -> sum 30.
    # MMD²_u = (2*1)/(2*1) + (2*1)/(2*1) - 2*30/4 = 1 + 1 - 15 = -13
    gen, real = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
    assert mmd2_unbiased(gen, real) == pytest.approx(-13.0)
    res = kid(real, gen, subset_size=2, n_subsets=5, seed=0)
    assert res["kid_mean"] == pytest.approx(-13.0) and res["kid_std"] == pytest.approx(0.0, abs=1e-12)
    assert res["subset_size"] == 2 and res["n_subsets"] == 5


def test_kid_matches_brute_force_formula(rng_feats):
    x, y = rng_feats[0][:7], rng_feats[1][:7]
    m, d = 7, x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_identical_independent_and_disjoint(rng_feats):
    a, b = rng_feats
    # the whole set against itself: MMD²_u = -(2/m) (mean diagonal - mean off-diagonal of K), every subset equal
    K = polynomial_kernel(a, a)
    m = a.shape[0]
    expected = -2.0 / m * (np.diag(K).mean() - (K.sum() - np.trace(K)) / (m * (m - 1)))
    same = kid(a, a, subset_size=m, n_subsets=3)
    assert same["kid_mean"] == pytest.approx(expected) and same["kid_std"] == pytest.approx(0.0, abs=1e-12)
    indep = kid(a, b, subset_size=50, n_subsets=50, seed=1)
    far = kid(a, a + 5.0, subset_size=50, n_subsets=50, seed=1)
    # "identical ~ 0": tiny next to far-apart sets (its small negative value is the O(1/m) term above);
    # two independent samples of one distribution: 0 within the subset noise
    assert abs(indep["kid_mean"]) < 3 * indep["kid_std"]
    assert far["kid_mean"] > 100 * max(abs(indep["kid_mean"]), abs(same["kid_mean"]))
    assert indep["kid_std"] > 0


def test_kid_subset_clamped_and_seeded(rng_feats):
    a, b = rng_feats
    r1 = kid(a[:30], b, subset_size=1000, n_subsets=10, seed=3)
    assert r1["subset_size"] == 30
    assert r1 == kid(a[:30], b, subset_size=1000, n_subsets=10, seed=3)
    assert r1 != kid(a[:30], b, subset_size=20, n_subsets=10, seed=4)
    with pytest.raises(ValueError):
        kid(a, b[:, :4])
    with pytest.raises(ValueError):
        kid(a[:1], b)


# ------------------------------------------------------------------------------- precision / recall


def test_knn_radii_brute_force(rng_feats):
    a = rng_feats[0][:40]
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    expected = np.sort(d, axis=1)[:, 3]  # column 0 is the point itself
    np.testing.assert_allclose(knn_radii(a, k=3, batch_size=7), expected, rtol=1e-12)
    with pytest.raises(ValueError):
        knn_radii(a[:3], k=3)


def test_precision_recall_identical_and_disjoint(rng_feats):
    a, b = rng_feats
    same = precision_recall(a, a.copy(), k=3)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = precision_recall(a, a + 100.0, k=3)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    indep = precision_recall(a, b, k=3, batch_size=16)
    assert 0.3 < indep["precision"] < 1.0 and 0.3 < indep["recall"] < 1.0
    assert indep == precision_recall(a, b, k=3)  # batching does not change the result


def test_precision_recall_subset_covering(rng_feats):
    # real: two far-apart clusters of 60; generated: a copy of the first cluster only
    a = rng_feats[0][:60]
    real = np.concatenate([a, a + 50.0])
    res = precision_recall(real, a.copy(), k=3)
    assert res["precision"] == 1.0  # every generated point is a real point
    assert res["recall"] == 0.5  # the second cluster is not covered
    # a generated set spread over both clusters but half of it far outside: precision 0.5, recall 1
    res = precision_recall(a, np.concatenate([a, a - 50.0]), k=3)
    assert res["precision"] == 0.5 and res["recall"] == 1.0


# -------------------------------------------------------------------------------------- 1-NN test


def test_nn1_same_distribution_near_half():
    rng = np.random.default_rng(5)
    res = nn1_accuracy(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)), seed=0)
    assert abs(res["nn1_accuracy"] - 0.5) < 0.1 and res["nn1_n_per_side"] == 200


def test_nn1_copy_disjoint_and_ties(rng_feats):
    a, b = rng_feats
    copy = nn1_accuracy(a, a.copy())  # each point's nearest other point is its copy in the other set
    assert copy == {"nn1_accuracy": 0.0, "nn1_real_accuracy": 0.0, "nn1_fake_accuracy": 0.0, "nn1_n_per_side": 120}
    far = nn1_accuracy(a, a + 100.0)
    assert far["nn1_accuracy"] == far["nn1_real_accuracy"] == far["nn1_fake_accuracy"] == 1.0
    # ties, by hand (1-D): real {0, 0, 10}, generated {0, 50, 60}
    #   real 0 (x2): tied at 0 with the other real 0 and generated 0 -> 1/2 each
    #   real 10: tied at 10 with real 0, real 0, generated 0 -> 2/3
    #   generated 0: tied at 0 with the two real 0 -> 0; generated 50 and 60: each other -> 1
    res = nn1_accuracy(np.array([[0.0], [0.0], [10.0]]), np.array([[0.0], [50.0], [60.0]]), batch_size=2)
    assert res["nn1_real_accuracy"] == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert res["nn1_fake_accuracy"] == pytest.approx(2 / 3)
    assert res["nn1_accuracy"] == pytest.approx((0.5 + 0.5 + 2 / 3 + 0 + 1 + 1) / 6)


def test_nn1_equalises_set_sizes(rng_feats):
    a, b = rng_feats
    res = nn1_accuracy(a, b[:50], seed=2)
    assert res["nn1_n_per_side"] == 50
    assert res == nn1_accuracy(a, b[:50], seed=2)
    with pytest.raises(ValueError):
        nn1_accuracy(a, b[:1])


# ----------------------------------------------------------------------------------- memorisation


def test_nearest_neighbours_known_case():
    ref = np.array([[0.0, 1.0], [1.0, 0.0], [3.0, 3.0]])
    q = np.array([[2.0, 0.1], [0.0, 4.0]])
    d, j = nearest_neighbours(q, ref, "l2")
    np.testing.assert_array_equal(j, [1, 0])
    np.testing.assert_allclose(d, [np.hypot(1.0, 0.1), 3.0])
    d, j = nearest_neighbours(q, ref, "cosine")
    np.testing.assert_array_equal(j, [1, 0])
    assert d[1] == pytest.approx(0.0, abs=1e-12)
    d, j = nearest_neighbours(ref, ref, "l2", exclude_self=True)
    np.testing.assert_array_equal(j, [1, 0, 0])  # ties go to the lowest index
    np.testing.assert_allclose(d, [np.sqrt(2), np.sqrt(2), np.sqrt(13)])


def test_memorisation_copy_and_noise_random_images():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(30, 16, 16, 1), dtype=np.uint8)
    feats = rng.random(size=(30, 12))
    copy = memorisation(train.copy(), train, feats.copy(), feats, near_copy_quantile=0.01)
    assert copy.per_image["near_copy"].all() and copy.summary["near_copy_fraction"] == 1.0
    np.testing.assert_array_equal(copy.per_image["pixel_nn_index"], np.arange(30))
    np.testing.assert_array_equal(copy.per_image["feature_nn_index"], np.arange(30))
    assert copy.summary["pixel_nn_max"] == 0.0 and copy.summary["feature_nn_max"] < 1e-12
    assert copy.summary["pixel_nn_ratio"] == 0.0 and copy.summary["same_nn_fraction"] == 1.0
    # threshold = the 1% quantile of the leave-one-out distances within the training set
    px = pixel_vectors(train)
    loo = np.sort(np.sqrt(((px[:, None] - px[None]) ** 2).sum(-1)), axis=1)[:, 1]
    assert copy.summary["near_copy_threshold"] == pytest.approx(near_copy_threshold(loo, 0.01))
    np.testing.assert_allclose(np.sort(copy.train_pixel_nn), np.sort(loo))
    assert (copy.per_image["pixel_nn2_dist"] > 0).all()
    # random noise vs smooth low-contrast "training images": nothing flagged (no features needed)
    smooth = np.kron(rng.integers(100, 156, size=(30, 4, 4, 1)), np.ones((1, 4, 4, 1))).astype(np.uint8)
    noise = rng.integers(0, 256, size=(25, 16, 16, 1), dtype=np.uint8)
    none = memorisation(noise, smooth)
    assert not none.per_image["near_copy"].any() and none.summary["near_copy_count"] == 0
    assert none.summary["pixel_nn_min"] > 2 * none.summary["near_copy_threshold"]
    assert "feature_nn_dist" not in none.per_image and "feature_nn_median" not in none.summary
    with pytest.raises(ValueError, match="both"):
        memorisation(train, train, feats, None)
    with pytest.raises(ValueError, match="one to one"):
        memorisation(train[:5], train, feats, feats)


def test_memorisation_real_xrays(xrays, tmp_path):
    train, held_out = xrays[:60], xrays[60:]
    rng = np.random.default_rng(1)
    # near copies: training images with +-2 grey levels of noise
    jitter = np.clip(train[:20].astype(int) + rng.integers(-2, 3, size=train[:20].shape), 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, size=(20, 32, 32, 1), dtype=np.uint8)
    gen = np.concatenate([train[:20], jitter, noise, held_out])
    res = memorisation(gen, train, pixel_vectors(gen), pixel_vectors(train))  # pixel vectors as stand-in features
    flags = res.per_image["near_copy"].to_numpy()
    assert flags[:40].all(), "copies and jittered copies of training X-rays must be flagged"
    assert not flags[40:60].any(), "uniform noise must not be flagged"
    assert flags[60:].mean() <= 0.25, "held-out real X-rays are mostly not near copies"
    np.testing.assert_array_equal(res.per_image["pixel_nn_index"][:40], np.r_[np.arange(20), np.arange(20)])
    ratio = (res.per_image["pixel_nn_dist"] / res.per_image["pixel_nn2_dist"]).to_numpy()
    assert ratio[20:40].max() < 0.5 < ratio[60:].min()  # a copy is far nearer one image than the next
    assert 0.0 < res.summary["near_copy_threshold"] < res.summary["train_pixel_nn_median"]

    out = tmp_path / "fig" / "nearest.png"
    plot_nearest_pairs(gen, train, res.per_image, out, top_k=6, title="test")
    assert out.stat().st_size > 1000
    assert sorted(p.name for p in out.parent.iterdir()) == ["nearest.png"]  # written atomically

    # full-reference scores against the nearest training image: perfect for copies, worse for noise
    fr = fullref_scores(gen, train[res.per_image["pixel_nn_index"].to_numpy()])
    assert fr["skipped"] == {}
    s = fr["scores"]
    np.testing.assert_allclose(s["psnr"][:20], 80.0)
    np.testing.assert_allclose(s["ssim"][:20], 1.0)
    np.testing.assert_allclose(s["haarpsi"][:20], 1.0)
    np.testing.assert_allclose(s["ms_gmsd"][:20], 0.0, atol=1e-12)
    np.testing.assert_allclose(s["mdsi"][:20], 0.0, atol=1e-6)
    for name in ("psnr", "ssim", "haarpsi"):  # higher is better
        assert s[name][20:40].min() > s[name][40:60].max(), name
    for name in ("ms_gmsd", "mdsi"):  # lower is better
        assert s[name][20:40].max() < s[name][40:60].min(), name


# --------------------------------------------------------------------------------- full reference


@pytest.mark.parametrize("res", [28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_fullref_identical_images_all_metrics(res, channels):
    rng = np.random.default_rng(res + channels)
    x = rng.integers(0, 256, size=(4, res, res, channels), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no metric skipped, no piq grey-to-RGB warning
        fr = fullref_scores(x, x.copy(), batch_size=3)
    assert fr["skipped"] == {} and set(fr["scores"]) == set(FULLREF_METRICS)
    perfect = {"psnr": 80.0, "ssim": 1.0, "ms_gmsd": 0.0, "mdsi": 0.0, "haarpsi": 1.0}
    for name, value in perfect.items():
        np.testing.assert_allclose(fr["scores"][name], value, atol=1e-6)
    summary = fullref_summary(fr)
    assert summary["fullref_psnr_mean"] == pytest.approx(80.0) and summary["fullref_skipped"] == ""


def test_fullref_small_images_skipped_loudly():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 16, 16, 1), dtype=np.uint8)
    with pytest.warns(UserWarning, match="ms_gmsd skipped"):
        fr = fullref_scores(x, x[::-1].copy())
    assert set(fr["skipped"]) == {"ms_gmsd"} and "17 px" in fr["skipped"]["ms_gmsd"]
    assert np.isnan(fr["scores"]["ms_gmsd"]).all() and np.isfinite(fr["scores"]["haarpsi"]).all()
    summary = fullref_summary(fr)
    assert summary["fullref_ms_gmsd_mean"] is None and "ms_gmsd" in summary["fullref_skipped"]
    with pytest.warns(UserWarning):
        tiny = fullref_scores(x[:, :8, :8], x[:, :8, :8])
    assert set(tiny["skipped"]) == {"ssim", "ms_gmsd", "haarpsi"}
    with pytest.raises(ValueError):
        fullref_scores(x, x[:2])


# --------------------------------------------------------------------------------- mode collapse


def test_mode_collapse_flag_real_vs_repeated(xrays):
    a, b = xrays[:40], xrays[40:]
    ms_a, ms_b = msssim_diversity(a, pairs=100, seed=0), msssim_diversity(b, pairs=100, seed=0)
    collapsed = np.repeat(a[:1], 40, axis=0)  # one image, duplicated
    ms_c = msssim_diversity(collapsed, pairs=100, seed=0)
    assert ms_c == pytest.approx(1.0)
    assert mode_collapse(ms_c, ms_a) and mode_collapse(ms_c, ms_b)
    assert not mode_collapse(ms_b, ms_a) and not mode_collapse(ms_a, ms_b)
    assert not mode_collapse(ms_c, ms_a, margin=0.5)  # the margin is configurable
    assert DEFAULT_COLLAPSE_MARGIN == 0.1
    with pytest.raises(ValueError):
        mode_collapse(0.5, 0.4, margin=-1)


def test_gan_scores_table_new_columns(tmp_path):
    base = {"model": "dcgan", "mode": "per_class", "fid": 10.0, "fid_floor": 1.0, "msssim_real": 0.6}
    rows = [
        dict(
            base,
            gan="g",
            **{"class": "A"},
            msssim_generated=0.95,
            mode_collapse=True,
            collapse_margin=0.1,
            kid_mean=0.01,
            kid_std=0.001,
            precision=0.5,
            recall=0.4,
            nn1_accuracy=0.8,
            memo_near_copy_fraction=0.0,
            fullref_ms_gmsd_mean=None,
            memorisation={"pixel_nn_q05": 0.1},
        ),
        dict(base, gan="g", **{"class": "B"}, msssim_generated=0.65),  # older file: flag computed from msssim
        dict(base, gan="h", **{"class": "A"}, msssim_generated=0.95, collapse_margin=0.5),
    ]
    paths = []
    for i, row in enumerate(rows):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(row))
    df = gan_scores_table(paths, minority_class="A")
    for col in (
        "fid",
        "fid_floor",
        "msssim_generated",
        "msssim_real",
        "mode_collapse",
        "kid_mean",
        "precision",
        "recall",
        "nn1_accuracy",
        "memo_near_copy_fraction",
        "fullref_ms_gmsd_mean",
    ):
        assert col in df.columns, col
    assert "memorisation" not in df.columns  # nested summaries stay in the JSON
    assert df["mode_collapse"].tolist() == [True, False, False]
    assert df["minority"].tolist() == [True, False, True]
    assert pd.isna(df.loc[0, "fullref_ms_gmsd_mean"])


# ------------------------------------------------------------------- evaluate_gan (rule gan_metrics)


def block_features(images, device="cpu", batch_size=50):
    """Stand-in for the Inception features: mean grey level of each 8 x 8 block of a 32 px image (16-D)."""
    x = np.asarray(images, dtype=np.float64)[..., 0]
    return x.reshape(len(x), 4, 8, 4, 8).mean(axis=(2, 4)).reshape(len(x), 16) / 255.0


def test_evaluate_gan_feeds_each_metric_its_images_and_maps_rows(xrays, tmp_path, monkeypatch):
    """evaluate_gan on small files: every metric gets the image set it should (generated subset, all generated
    images of the class, real train split, the GAN's training images), the nearest table points at rows of
    samples.npz / real_train.npz, and the record holds every column of the GAN table."""
    from ganaug.io import read_json, save_npz, write_json
    from ganaug.metrics import evaluate as ev
    from ganaug.metrics.features import feature_stats, load_stats, save_stats, select_subset
    from ganaug.metrics.fid import fid_from_stats_and_features
    from ganaug.metrics.matched import finite_or_none, floor_scores, generated_scores
    from ganaug.report import GAN_COLUMNS

    monkeypatch.setattr(ev, "extract_features", block_features)
    classes = np.array(["NORMAL", "PNEUMONIA"])
    other = xrays[60:80]  # stands in for every image of the other class
    # real_train.npz: the GAN's 25 NORMAL training images at the odd rows
    train = xrays[:25]
    rt_images = np.empty((50, 32, 32, 1), np.uint8)
    rt_images[0::2], rt_images[1::2] = other[np.arange(25) % 20], train
    rt_labels = np.tile([1, 0], 25)
    # samples.npz: 12 NORMAL images (6 exact copies of training images, 6 unseen real ones) after each PNEUMONIA one
    copied = [0, 5, 10, 15, 20, 24]
    gen_all = np.concatenate([train[copied], xrays[40:46]])
    s_images = np.empty((24, 32, 32, 1), np.uint8)
    s_images[0::2], s_images[1::2] = other[:12], gen_all
    real_split = xrays[25:60]  # the prepared train split's NORMAL images (the FID / MS-SSIM reference)
    names = ("samples", "real", "train_stats", "test_stats", "real_train", "train_features")
    paths = {k: tmp_path / f"{k}.npz" for k in names}
    save_npz(paths["samples"], {"images": s_images, "labels": np.tile([1, 0], 12), "classes": classes})
    save_npz(paths["real_train"], {"images": rt_images, "labels": rt_labels, "classes": classes})
    save_npz(paths["real"], {"train_images": np.concatenate([real_split, other]), "classes": classes,
                             "train_labels": np.repeat([0, 1], [len(real_split), len(other)])})  # fmt: skip
    real_feats = block_features(real_split)
    save_stats(paths["train_stats"], *feature_stats(real_feats), len(real_feats), features=real_feats)
    train_feats = block_features(train)
    save_stats(paths["train_features"], *feature_stats(train_feats), 25, features=train_feats, indices=np.arange(25))
    test_feats = block_features(other)  # stands in for the test split's NORMAL images
    save_stats(paths["test_stats"], *feature_stats(test_feats), len(test_feats), features=test_feats)
    real32, test32 = (load_stats(paths[k], require_features=True)["features"] for k in ("train_stats", "test_stats"))
    opts = {"draws": 3, "seed": 0, "inf_points": 15, "inf_n_min": 50, "kid_subset_size": 5, "kid_n_subsets": 3,
            "kid_seed": 0}  # fmt: skip
    paths["floor"] = tmp_path / "floor.json"
    floor = finite_or_none(floor_scores(real32, test32, 8, **opts))  # what rule fid_floor writes at fid.n = 8
    write_json(paths["floor"], floor)
    outputs = {"metrics": tmp_path / "m.json", "stats": tmp_path / "s.npz", "nearest_csv": tmp_path / "n.csv",
               "nearest": tmp_path / "n.png"}  # fmt: skip
    settings = {"fid": {"n": 8, "seed": 0, "draws": 3, "inf_points": 15, "inf_n_min": 50}, "msssim": {"pairs": 20, "seed": 0}, "kid": {"subset_size": 5, "n_subsets": 3, "seed": 0},
                "pr": {"k": 3}, "nn1": {"seed": 0}, "memorisation": {"near_copy_quantile": 0.01, "top_k": 4}}  # fmt: skip
    rec = ev.evaluate_gan(paths, outputs, gan="g", cls="NORMAL", model="dcgan", mode="per_class", settings=settings,
                          collapse_margin=0.1)  # fmt: skip

    idx = select_subset(12, 8, 0)
    gen_feats = block_features(gen_all[idx])
    ref = load_stats(paths["train_stats"], require_features=True)  # features stored as float32
    real_feats = ref["features"]
    matched = generated_scores(gen_feats, real_feats, 8, **opts)  # at the floor's N, 8 per side
    assert {k: rec[k] for k in ("fid", "fid_n", "fid_inf", "kid_mean")} == {
        k: matched[k] for k in ("fid", "fid_n", "fid_inf", "kid_mean")
    }
    assert rec["fid_full"] == pytest.approx(fid_from_stats_and_features(ref["mu"], ref["sigma"], gen_feats))
    assert rec["kid_mean"] == kid(real_feats, gen_feats, subset_size=5, n_subsets=3, seed=0)["kid_mean"]
    assert (rec["fid_floor"], rec["fid_inf_floor"], rec["kid_floor"]) == (floor["fid_floor"], floor["fid_inf_floor"],
                                                                          floor["kid_floor"])  # fmt: skip
    assert rec["fid_n"] == rec["fid_floor_n"] == 8 and rec["fid_floor_draws"] == 3 and rec["fid_floor_n_test"] == 20
    pr = precision_recall(real_feats, gen_feats, k=3)
    assert (rec["precision"], rec["recall"]) == (pr["precision"], pr["recall"])
    assert rec["nn1_accuracy"] == nn1_accuracy(real_feats, gen_feats, seed=0)["nn1_accuracy"]
    assert rec["msssim_generated"] == msssim_diversity(gen_all, pairs=20, seed=0)  # all 12, not the subset
    assert rec["msssim_real"] == msssim_diversity(real_split, pairs=20, seed=0)
    assert rec["mode_collapse"] is mode_collapse(rec["msssim_generated"], rec["msssim_real"], 0.1)
    assert (rec["fid_n_generated"], rec["fid_n_real"]) == (8, 35)
    assert rec["memo_n_generated"] == 8 and rec["memo_n_train"] == 25
    assert rec == read_json(outputs["metrics"])
    assert set(GAN_COLUMNS) - set(rec) == {"minority"}  # the report's table finds every column it lists
    stats = load_stats(outputs["stats"], require_features=True)
    np.testing.assert_array_equal(stats["features"], gen_feats.astype(np.float32))
    np.testing.assert_array_equal(stats["indices"], idx)
    assert stats["meta"] == {"gan": "g", "cls": "NORMAL"}

    table = pd.read_csv(outputs["nearest_csv"])
    np.testing.assert_array_equal(table["sample_row"], 2 * idx + 1)  # rows of samples.npz
    copies = idx < len(copied)
    assert 0 < copies.sum() < len(idx)
    train_row = 2 * np.asarray(copied)[idx[copies]] + 1  # rows of real_train.npz
    np.testing.assert_array_equal(table["pixel_nn_train_row"][copies], train_row)
    np.testing.assert_array_equal(table["feature_nn_train_row"][copies], train_row)
    assert table["near_copy"][copies].all() and (table["pixel_nn_dist"][copies] == 0).all()
    np.testing.assert_allclose(
        table.loc[copies, ["psnr", "ssim"]], [[80.0, 1.0]] * copies.sum(), atol=1e-6
    )  # piq's cap
    assert rec["memo_near_copy_count"] == int(table["near_copy"].sum()) >= copies.sum()
    assert outputs["nearest"].stat().st_size > 0

    # a floor at more images than the generated ones (fid.n = 20, 12 generated): evaluate_gan recomputes it at 12
    write_json(paths["floor"], finite_or_none(floor_scores(real32, test32, 20, **opts)))
    settings["fid"]["n"] = 20
    rec = ev.evaluate_gan(paths, outputs, gan="g", cls="NORMAL", model="dcgan", mode="per_class", settings=settings,
                          collapse_margin=0.1)  # fmt: skip
    assert rec["fid_n"] == rec["fid_floor_n"] == 12
    assert rec["fid_floor"] == floor_scores(real32, test32, 12, **opts)["fid_floor"]


# ------------------------------------------------------------------------------ feature cache


def test_stats_cache_holds_features(tmp_path):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(10, 6)).astype(np.float32).astype(np.float64)
    mu, sigma = feat_mod.feature_stats(f)
    path = tmp_path / "s.npz"
    feat_mod.save_stats(path, mu, sigma, 10, features=f, indices=np.arange(10) * 3, split="train", cls="A")
    got = feat_mod.load_stats(path, require_features=True)
    np.testing.assert_array_equal(got["features"], f)
    np.testing.assert_array_equal(got["indices"], np.arange(10) * 3)
    assert got["meta"] == {"split": "train", "cls": "A"} and got["features"].dtype == np.float64
    # sigma is not stored beside the features but recomputed from them, bit for bit
    np.testing.assert_array_equal(got["mu"], mu)
    np.testing.assert_array_equal(got["sigma"], sigma)
    with np.load(path) as raw:
        assert "sigma" not in raw.files
    with pytest.raises(ValueError, match="mean"):
        feat_mod.save_stats(path, mu + 1, sigma, 10, features=f)
    feat_mod.save_stats(path, mu, sigma, 10)
    assert feat_mod.load_stats(path)["features"] is None
    with pytest.raises(ValueError, match="no features"):
        feat_mod.load_stats(path, require_features=True)
    with pytest.raises(ValueError):
        feat_mod.save_stats(path, mu, sigma, 10, features=f[:5])
