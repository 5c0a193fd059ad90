"""Tests for ganaug.classifier on real data (../shared/data; see its README.md).

Missing data is a failure, never a skip.  Kept under ~2 minutes on 2 CPU cores.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ganaug.classifier import (
    STRATEGIES,
    build_classifier,
    evaluate,
    mix_training_set,
    n_synthetic,
    plot_confusion,
    predict_proba,
    predictions_frame,
    resnet18_small,
    train_classifier,
)
from ganaug.classifier.train import _is_better
from ganaug.io import load_npz
from helpers import multiclass_example

DATA = Path(os.environ.get("GANAUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CHEST = DATA / "chest_xray"
BREAST = DATA / "breastmnist.npz"
BREAST_CLASSES = ["malignant", "benign"]  # label 0, label 1 (MedMNIST)


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (expected the shared real-data folder, see {DATA}/README.md)")
    return path


def _load_chest(split: str, cls: str, n: int, size: int, mode: str) -> np.ndarray:
    """First ``n`` (sorted) images of one class folder, resized, as uint8 (n, size, size, C)."""
    from PIL import Image

    folder = _require(CHEST / split / cls)
    files = sorted(folder.glob("*.jpeg"))[:n]
    if len(files) < n:
        pytest.fail(f"{folder}: expected at least {n} images, found {len(files)}")
    out = []
    for f in files:
        with Image.open(f) as im:
            im.draft(mode, (size * 2, size * 2))  # fast JPEG decode at reduced scale
            arr = np.asarray(im.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.uint8)
        out.append(arr if arr.ndim == 3 else arr[..., None])
    return np.stack(out)


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def breast():
    d = load_npz(_require(BREAST))
    for split in ("train", "val", "test"):
        assert d[f"{split}_images"].dtype == np.uint8 and d[f"{split}_images"].ndim == 3
    return d


@pytest.fixture(scope="module")
def chest28():
    """Real chest X-rays at 28 px grayscale: 'real' from train/, a 'synthetic' stand-in pool from test/."""
    real = {c: _load_chest("train", c, n, 28, "L") for c, n in (("NORMAL", 45), ("PNEUMONIA", 135))}
    synth = {c: _load_chest("test", c, n, 28, "L") for c, n in (("NORMAL", 50), ("PNEUMONIA", 140))}
    rx = np.concatenate([real["NORMAL"], real["PNEUMONIA"]])
    ry = np.repeat([0, 1], [45, 135])
    sx = np.concatenate([synth["NORMAL"], synth["PNEUMONIA"]])
    sy = np.repeat([0, 1], [50, 140])
    # Interleave classes so that the class rows are not contiguous blocks.
    p = np.random.default_rng(0).permutation(len(ry))
    q = np.random.default_rng(1).permutation(len(sy))
    return rx[p], ry[p], sx[q], sy[q]


# --------------------------------------------------------------------------- resnet
@pytest.mark.parametrize("res", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_forward_shapes(res, channels):
    torch.manual_seed(0)
    model = resnet18_small(num_classes=3, in_channels=channels, width=8).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, channels, res, res))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()


def test_resnet_standard_width_on_real_images():
    x = _load_chest("train", "PNEUMONIA", 2, 64, "RGB")  # (2, 64, 64, 3)
    model = build_classifier("resnet18_small", num_classes=2, in_channels=3, width=64)
    n_params = sum(p.numel() for p in model.parameters())
    assert 11.1e6 < n_params < 11.3e6, n_params  # ResNet-18 body (11.17 M) + 2-class head
    probs = predict_proba(model, x, "cpu")
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    # A 3x3 stride-1 stem and no max-pool: the first stage sees full resolution.
    feats = model.stem(torch.zeros(1, 3, 28, 28))
    assert feats.shape == (1, 64, 28, 28)


def test_basic_block_matches_torchvision(monkeypatch):
    """The local BasicBlock is torchvision's: same parameter names, same seeded init, same outputs."""
    import torchvision.models.resnet as tv

    from ganaug.classifier import resnet as local

    def build(block):
        monkeypatch.setattr(local, "BasicBlock", block)
        torch.manual_seed(3)
        return local.resnet18_small(num_classes=2, in_channels=1, width=8).eval()

    ours, theirs = build(local.BasicBlock), build(tv.BasicBlock)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    x = torch.from_numpy(_load_chest("test", "NORMAL", 4, 28, "L")).float().permute(0, 3, 1, 2) / 127.5 - 1
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def test_build_classifier_unknown_arch():
    with pytest.raises(ValueError, match="unknown classifier arch 'vgg'"):
        build_classifier("vgg", 2, 1, 16)


# --------------------------------------------------------------------------- mixing
def test_n_synthetic_rounding():
    assert n_synthetic(0.1, 150) == 15
    assert n_synthetic(0.1, 45) == 5  # 4.5 -> 5: halves round up
    assert n_synthetic(0.5, 135) == 68  # 67.5 -> 68
    assert n_synthetic(0.2, 135) == 27
    assert n_synthetic(0.15, 10) == 2  # 1.4999999999999998 in floating point
    assert n_synthetic(0.0, 7) == 0 and n_synthetic(1.0, 7) == 7


# fraction -> number synthetic of (NORMAL=45, PNEUMONIA=135), computed by hand
EXPECTED = {0.0: (0, 0), 0.1: (5, 14), 0.5: (23, 68), 1.0: (45, 135)}


@pytest.mark.parametrize("fraction", sorted(EXPECTED))
def test_mix_replace_counts_and_content(chest28, fraction):
    rx, ry, sx, sy = chest28
    x, y, is_synth = mix_training_set(rx, ry, sx, sy, fraction, seed=3)

    assert x.shape == rx.shape and x.dtype == np.uint8
    assert is_synth.dtype == bool and is_synth.shape == ry.shape
    np.testing.assert_array_equal(y, ry)  # labels and class proportions unchanged
    for c, expected in enumerate(EXPECTED[fraction]):
        assert int(is_synth[y == c].sum()) == expected
    # Unflagged rows are the untouched real images, in place.
    np.testing.assert_array_equal(x[~is_synth], rx[~is_synth])
    # Flagged rows are synthetic images of the same class, each used at most once.
    for c in (0, 1):
        used = Counter(img.tobytes() for img in x[is_synth & (y == c)])
        pool = Counter(img.tobytes() for img in sx[sy == c])
        assert not (used - pool), f"class {c}: a synthetic row is not from the class-{c} synthetic pool"
        real_pool = Counter(img.tobytes() for img in rx[ry == c])
        assert not (used & real_pool) or fraction == 0.0
    # The inputs are not modified.
    assert not np.shares_memory(x, rx)


def test_mix_fraction_zero_needs_no_synthetic(chest28):
    rx, ry, _, _ = chest28
    x, y, is_synth = mix_training_set(rx, ry, None, None, 0.0, seed=0)
    np.testing.assert_array_equal(x, rx)
    np.testing.assert_array_equal(y, ry)
    assert not is_synth.any()
    with pytest.raises(ValueError, match="needs synthetic images"):
        mix_training_set(rx, ry, None, None, 0.1, seed=0)


def test_mix_reproducible_by_seed(chest28):
    rx, ry, sx, sy = chest28
    a = mix_training_set(rx, ry, sx, sy, 0.5, seed=11)
    b = mix_training_set(rx, ry, sx, sy, 0.5, seed=11)
    c = mix_training_set(rx, ry, sx, sy, 0.5, seed=12)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[2], c[2])


def test_mix_not_enough_synthetic(chest28):
    rx, ry, sx, sy = chest28
    keep = np.flatnonzero(sy == 1).tolist() + np.flatnonzero(sy == 0)[:10].tolist()
    with pytest.raises(ValueError, match=r"class 0.*needs 23.*only 10"):
        mix_training_set(rx, ry, sx[keep], sy[keep], 0.5, seed=0)
    # 0.2 * 45 = 9 NORMAL images are needed: 10 are enough.
    mix_training_set(rx, ry, sx[keep], sy[keep], 0.2, seed=0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_mix_fraction_out_of_range(chest28, bad):
    rx, ry, sx, sy = chest28
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        mix_training_set(rx, ry, sx, sy, bad, seed=0)


def test_mix_unknown_strategy_and_shape_mismatch(chest28):
    rx, ry, sx, sy = chest28
    assert "replace" in STRATEGIES
    with pytest.raises(ValueError, match="unknown mixing strategy"):
        mix_training_set(rx, ry, sx, sy, 0.1, seed=0, strategy="nope")
    with pytest.raises(ValueError, match="shape"):
        mix_training_set(rx, ry, sx[:, :14, :14], sy, 0.1, seed=0)


# --------------------------------------------------------------------------- training
CFG = dict(arch="resnet18_small", width=16, epochs=3, batch_size=32, lr=1.0e-3, weight_decay=1.0e-4)


def test_train_breastmnist_learns(breast, tmp_path):
    """Full BreastMNIST train split (546 images), width 16, 3 epochs.

    Measured test AUC for seeds 0-3: 0.86, 0.82, 0.88, 0.78; threshold 0.7.
    (A 200-image subset reached only 0.56-0.74, mean 0.63: too close to chance
    for a robust threshold.)  About 3 s on 2 idle cores.
    """
    log_csv = tmp_path / "history.csv"
    cfg = {**CFG, "seeds": [0, 1], "synthetic_fractions": [0.0]}  # extra config keys are ignored
    model, hist = train_classifier(
        breast["train_images"],
        breast["train_labels"],
        breast["val_images"],
        breast["val_labels"],
        num_classes=2,
        cfg=cfg,
        device="cpu",
        seed=0,
        progress=True,
        log_path=log_csv,
    )
    assert list(hist.columns[:6]) == ["epoch", "train_loss", "val_loss", "val_auc", "val_acc", "seconds"]
    assert hist["epoch"].tolist() == [1, 2, 3]
    assert np.isfinite(hist[["train_loss", "val_loss", "val_auc", "val_acc"]].to_numpy()).all()
    assert hist["selected"].sum() == 1
    best = hist.loc[hist["selected"]].iloc[0]
    assert best["val_auc"] == hist["val_auc"].max()
    assert pd.read_csv(log_csv)["epoch"].tolist() == [1, 2, 3]

    probs = predict_proba(model, breast["test_images"], "cpu")
    metrics, confusion = evaluate(probs, breast["test_labels"], BREAST_CLASSES, positive_class="malignant")
    assert metrics["n_test"] == 156 and confusion.sum() == 156
    assert metrics["auc"] > 0.7, metrics

    # The returned model carries the selected epoch's weights: its val AUC is the recorded one.
    val_probs = predict_proba(model, breast["val_images"], "cpu")
    val_metrics, _ = evaluate(val_probs, breast["val_labels"], BREAST_CLASSES, "benign")
    assert val_metrics["auc"] == pytest.approx(best["val_auc"], abs=1e-9)


def test_train_deterministic_on_cpu(breast):
    x, y = breast["train_images"][:160], breast["train_labels"][:160]
    cfg = {**CFG, "epochs": 1}
    runs = []
    for seed in (5, 5, 6):
        model, hist = train_classifier(
            x, y, breast["val_images"], breast["val_labels"], 2, cfg, "cpu", seed=seed, progress=False
        )
        runs.append((predict_proba(model, breast["test_images"], "cpu"), hist))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    cols = ["train_loss", "val_loss", "val_auc", "val_acc"]
    pd.testing.assert_frame_equal(runs[0][1][cols], runs[1][1][cols])
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_train_single_class_val_falls_back_to_loss(breast):
    x, y = breast["train_images"][:64], breast["train_labels"][:64]
    vy = breast["val_labels"]
    vx = breast["val_images"][vy == 1][:16]
    cfg = {**CFG, "width": 4, "epochs": 2}
    with pytest.warns(RuntimeWarning, match="single class"):
        _, hist = train_classifier(x, y, vx, np.ones(len(vx)), 2, cfg, "cpu", seed=0, progress=False)
    assert hist["val_auc"].isna().all()
    assert hist.loc[hist["selected"], "val_loss"].iloc[0] == hist["val_loss"].min()


def test_train_without_validation_keeps_last_epoch(breast):
    x, y = breast["train_images"][:48], breast["train_labels"][:48]
    cfg = {**CFG, "width": 4, "epochs": 2, "lr_schedule": "none"}
    model, hist = train_classifier(x, y, None, None, 2, cfg, "cpu", seed=0, progress=False)
    assert hist["selected"].tolist() == [False, True]
    assert hist["val_auc"].isna().all() and hist["lr"].tolist() == [1.0e-3, 1.0e-3]
    assert predict_proba(model, x[:4], "cpu").shape == (4, 2)


def test_train_bf16_autocast(breast):
    """amp: bf16 trains under autocast: float32 weights and logits, numbers other than
    float32's, the same AUC quality (BreastMNIST, width 16, 3 epochs), and the test images
    scored under the same autocast give the recorded validation AUC back."""
    x, y = breast["train_images"], breast["train_labels"]
    out = {}
    for amp in ("none", "bf16"):
        model, hist = train_classifier(
            x, y, breast["val_images"], breast["val_labels"], 2, {**CFG, "amp": amp}, "cpu", seed=0, progress=False
        )
        assert all(p.dtype == torch.float32 for p in model.parameters())
        probs = predict_proba(model, breast["test_images"], "cpu", amp=amp)
        val_probs = predict_proba(model, breast["val_images"], "cpu", amp=amp)
        val_auc, _ = evaluate(val_probs, breast["val_labels"], BREAST_CLASSES, "malignant")
        assert val_auc["auc"] == pytest.approx(hist.loc[hist["selected"], "val_auc"].iloc[0], abs=1e-9)
        out[amp] = (probs, evaluate(probs, breast["test_labels"], BREAST_CLASSES, "malignant")[0]["auc"])
    assert not np.array_equal(out["none"][0], out["bf16"][0])  # autocast was on
    assert out["bf16"][1] > 0.7 and abs(out["bf16"][1] - out["none"][1]) < 0.1, out
    # float32 head: bf16 logits would leave at most 256 distinct values per octave and tie the ranks
    assert len(np.unique(out["bf16"][0][:, 1])) == len(breast["test_images"])


def test_resnet_head_runs_in_float32_under_autocast():
    model = build_classifier("resnet18_small", 2, in_channels=1, width=8).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        feats = model.embed(x)
    assert feats.dtype == torch.bfloat16 and logits.dtype == torch.float32
    with torch.inference_mode():
        np.testing.assert_allclose(logits.numpy(), model.fc(feats.float()).numpy(), rtol=1e-6, atol=1e-6)


def test_amp_resolution(monkeypatch):
    from ganaug import runtime

    assert runtime.resolve_amp("none", "cpu") == "none"
    assert runtime.resolve_amp("bf16", "cpu") == "bf16"
    assert runtime.resolve_amp("fp16", "cpu") == "none"  # fp16 autocast is CUDA-only
    with pytest.raises(ValueError, match="amp must be one of"):
        runtime.resolve_amp("fp8", "cpu")
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    assert runtime.resolve_amp("auto", "cpu") == "bf16"
    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)
    assert runtime.resolve_amp("auto", "cpu") == "none"
    a = torch.ones(2, 2)
    with runtime.autocast(torch.device("cpu"), "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with runtime.autocast(torch.device("cpu"), "none"):
        assert (a @ a).dtype == torch.float32
    # what this machine says matches its CPU flags (Linux)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if "flags" in flags:
        monkeypatch.undo()
        assert runtime.native_bf16("cpu") == ("avx512_bf16" in flags or "amx_tile" in flags)


def test_is_better_ties_and_nan():
    a = {"val_auc": 0.8, "val_acc": 0.7, "val_loss": 0.5}
    assert _is_better("auc", a, None)
    assert _is_better("auc", {**a, "val_auc": 0.9, "val_loss": 9.0}, a)
    assert not _is_better("auc", {**a, "val_auc": 0.7, "val_loss": 0.1}, a)
    assert _is_better("auc", {**a, "val_loss": 0.4}, a)  # tie -> loss
    assert _is_better("auc", {**a, "val_auc": math.nan, "val_loss": 0.4}, {**a, "val_auc": math.nan})
    assert _is_better("loss", {**a, "val_auc": 0.1, "val_loss": 0.4}, a)
    assert not _is_better("auc", {**a, "val_auc": 0.9, "val_loss": math.nan}, {**a, "val_auc": math.nan})


def test_train_config_errors(breast):
    x, y = breast["train_images"][:8], breast["train_labels"][:8]
    with pytest.raises(ValueError, match="missing key"):
        train_classifier(x, y, None, None, 2, {"arch": "resnet18_small"}, "cpu", 0, progress=False)
    with pytest.raises(ValueError, match="select_metric"):
        train_classifier(x, y, None, None, 2, {**CFG, "select_metric": "f1"}, "cpu", 0, progress=False)
    with pytest.raises(ValueError, match="unknown classifier arch"):
        train_classifier(x, y, None, None, 2, {**CFG, "arch": "vgg"}, "cpu", 0, progress=False)
    with pytest.raises(ValueError, match="labels must be in"):
        train_classifier(x, y + 5, None, None, 2, CFG, "cpu", 0, progress=False)
    with pytest.raises(ValueError, match="classifier amp must be one of"):
        train_classifier(x, y, None, None, 2, {**CFG, "amp": "float8"}, "cpu", 0, progress=False)


# --------------------------------------------------------------------------- evaluation
# Six samples; P(PNEUMONIA) for three NORMAL then three PNEUMONIA images.
P1 = np.array([0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
Y6 = np.array([0, 0, 0, 1, 1, 1])
CHEST_CLASSES = ["NORMAL", "PNEUMONIA"]


def test_evaluate_binary_hand_computed():
    probs = np.stack([1 - P1, P1], axis=1)
    m, cm = evaluate(probs, Y6, CHEST_CLASSES, positive_class="PNEUMONIA")
    # Positive scores {0.8, 0.3, 0.9} vs negative {0.1, 0.4, 0.35}: 3 + 1 + 3 = 7 of 9 pairs.
    assert m["auc"] == pytest.approx(7 / 9)
    # Predictions (p > 0.5): 0 0 0 1 0 1 -> TN 3, FP 0, FN 1, TP 2.
    np.testing.assert_array_equal(cm, [[3, 0], [1, 2]])
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(1.0)
    assert m["balanced_accuracy"] == pytest.approx(5 / 6)
    assert m["precision_PNEUMONIA"] == pytest.approx(1.0)
    assert m["recall_PNEUMONIA"] == pytest.approx(2 / 3)
    assert m["f1_PNEUMONIA"] == pytest.approx(0.8)
    assert m["precision_NORMAL"] == pytest.approx(3 / 4)
    assert m["recall_NORMAL"] == pytest.approx(1.0)
    assert m["f1_NORMAL"] == pytest.approx(6 / 7)
    assert m["n_test"] == 6

    # Swapping the positive class swaps sensitivity and specificity; AUC is unchanged.
    m2, _ = evaluate(probs, Y6, CHEST_CLASSES, positive_class="NORMAL")
    assert m2["auc"] == pytest.approx(7 / 9)
    assert (m2["sensitivity"], m2["specificity"]) == pytest.approx((1.0, 2 / 3))
    # None: binary data default to class_names[1].
    m3, _ = evaluate(probs, Y6, CHEST_CLASSES, positive_class=None)
    assert m3["sensitivity"] == pytest.approx(2 / 3)


def test_evaluate_multiclass_macro_ovr_hand_computed():
    probs, y = multiclass_example()
    m, cm = evaluate(probs, y, ["a", "b", "c"], positive_class="b")
    # One-vs-rest: a 7/8, b 7/8, c 8/8 -> macro 2.75 / 3.
    assert m["auc"] == pytest.approx(2.75 / 3)
    # Predictions 0 1 2 1 0 2.
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert m["sensitivity"] == pytest.approx(1 / 2)  # b recalled once of twice
    assert m["specificity"] == pytest.approx(3 / 4)  # not-b: one of four predicted b
    assert m["recall_c"] == pytest.approx(1.0) and m["precision_b"] == pytest.approx(1 / 2)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 1, 0], [0, 0, 2]])
    m_none, _ = evaluate(probs, y, ["a", "b", "c"], positive_class=None)
    assert math.isnan(m_none["sensitivity"]) and math.isnan(m_none["specificity"])


def test_evaluate_errors_and_degenerate():
    probs = np.stack([1 - P1, P1], axis=1)
    with pytest.raises(ValueError, match="positive_class 'TUMOUR'"):
        evaluate(probs, Y6, CHEST_CLASSES, positive_class="TUMOUR")
    with pytest.raises(ValueError, match="shape"):
        evaluate(probs, Y6, ["a", "b", "c"], positive_class=None)
    with pytest.warns(RuntimeWarning, match="single class"):
        m, cm = evaluate(probs[3:], Y6[3:], CHEST_CLASSES, positive_class="PNEUMONIA")
    assert math.isnan(m["auc"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(m["specificity"])  # no negatives: undefined, not 0 or 1
    assert m["precision_NORMAL"] == 0.0


def test_predictions_frame_and_confusion_plot(tmp_path):
    probs = np.stack([1 - P1, P1], axis=1)
    df = predictions_frame(probs, Y6, CHEST_CLASSES)
    assert list(df.columns) == ["index", "y_true", "y_pred", "p_NORMAL", "p_PNEUMONIA"]
    assert df["y_pred"].tolist() == [0, 0, 0, 1, 0, 1]
    np.testing.assert_allclose(df["p_PNEUMONIA"], P1)

    _, cm = evaluate(probs, Y6, CHEST_CLASSES, "PNEUMONIA")
    out = tmp_path / "plots" / "confusion.png"
    plot_confusion(cm, CHEST_CLASSES, out, title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["confusion.png"]  # no temp files left
