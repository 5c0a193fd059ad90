"""Domain-classifier metrics (ganaug.metrics.domain): classifier score, class agreement,
domain FID, and the pipeline steps on a classifier trained on real chest X-rays.

Known answers: identical prediction rows give a classifier score of 1, confident and
balanced rows give the number of classes, a hand-computed two-image case; a shifted
copy of a feature set has domain FID = |shift|^2; a trained X-ray classifier puts
real test images of the other class further away than those of the same class.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganaug.classifier import build_classifier, predict_proba, train_classifier
from ganaug.metrics.domain import (
    balanced_rows,
    class_agreement,
    classifier_outputs,
    classifier_score,
    domain_fid,
    domain_scores,
    load_domain_classifier,
    real_reference,
    save_domain_classifier,
)
from helpers import load_xrays

torch.set_num_threads(2)
CLASSES = ["NORMAL", "PNEUMONIA"]


# ------------------------------------------------------------------------------------ known answers
def test_classifier_score_bounds():
    same = np.tile([[0.7, 0.2, 0.1]], (10, 1))
    assert classifier_score(same) == pytest.approx(1.0)
    onehot = np.eye(3)[np.arange(12) % 3]  # confident, balanced over 3 classes
    assert classifier_score(onehot) == pytest.approx(3.0)
    one_class = np.eye(3)[np.zeros(12, dtype=int)]  # confident but one class only: no information
    assert classifier_score(one_class) == pytest.approx(1.0)


def test_classifier_score_hand_computed():
    # p(y) = (0.55, 0.45); KL rows: 0.9 ln(0.9/0.55) + 0.1 ln(0.1/0.45), 0.2 ln(0.2/0.55) + 0.8 ln(0.8/0.45)
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    kl1 = 0.9 * math.log(0.9 / 0.55) + 0.1 * math.log(0.1 / 0.45)
    kl2 = 0.2 * math.log(0.2 / 0.55) + 0.8 * math.log(0.8 / 0.45)
    assert classifier_score(p) == pytest.approx(math.exp((kl1 + kl2) / 2), rel=1e-12)


@pytest.mark.parametrize("bad", [np.ones((3, 1)), np.array([[0.5, 0.6]]), np.zeros((0, 2)), np.array([[1.2, -0.2]])])
def test_classifier_score_rejects_non_distributions(bad):
    with pytest.raises(ValueError, match="probs"):
        classifier_score(bad)


def test_class_agreement_hand_computed():
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    assert class_agreement(p, 0) == {"agreement": 0.5, "confidence": pytest.approx(0.55)}
    assert class_agreement(p, 1) == {"agreement": 0.5, "confidence": pytest.approx(0.45)}
    with pytest.raises(ValueError, match="class index 2"):
        class_agreement(p, 2)


def test_domain_fid_identical_and_shifted():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 16))
    assert domain_fid(f, f) == pytest.approx(0.0, abs=1e-6)
    shift = np.full(16, 0.5)
    assert domain_fid(f, f + shift) == pytest.approx(float(shift @ shift), rel=1e-6)  # same covariance


def test_balanced_rows():
    labels = np.array([0] * 10 + [1] * 4)
    rows = balanced_rows(labels, [0, 1], n=6, seed=0)
    assert np.bincount(labels[rows]).tolist() == [4, 4]  # capped by the smaller class
    assert np.array_equal(rows, balanced_rows(labels, [0, 1], n=6, seed=0))
    with pytest.raises(ValueError, match="a class has no images"):
        balanced_rows(labels, [0, 2], n=3, seed=0)


# --------------------------------------------------------------------------- on real chest X-rays
@pytest.fixture(scope="module")
def xray_splits():
    """32 px grayscale chest X-rays of Kaggle's training folders: per class the first 60 to train on, the next 40
    as the 'test' side. Kaggle's own test split is shifted from its training one (NORMAL test images look like
    PNEUMONIA to a small classifier: its NORMAL agreement went 0.0-0.9 with the seed or the thread count), so
    scores that need a classifier better than chance on each class are checked on unshifted held-out images."""
    xs = [load_xrays("train", c, 100, 32) for c in CLASSES]
    train = np.concatenate([x[:60] for x in xs]), np.repeat(np.arange(2), 60)
    test = np.concatenate([x[60:] for x in xs]), np.repeat(np.arange(2), 40)
    return train, test


@pytest.fixture(scope="module")
def trained(xray_splits):
    (tx, ty), (vx, vy) = xray_splits
    cfg = {"arch": "resnet18_small", "width": 8, "epochs": 10, "batch_size": 16, "lr": 3.0e-3, "weight_decay": 1.0e-4}
    model, _ = train_classifier(tx, ty, vx, vy, 2, cfg, "cpu", seed=0, progress=False)
    return model.eval()


def test_outputs_are_the_classifiers_own(trained, xray_splits):
    (_, _), (vx, _) = xray_splits
    feats, probs = classifier_outputs(trained, vx, "cpu", batch_size=16)
    assert feats.shape == (len(vx), 8 * 8) and probs.shape == (len(vx), 2)  # 8 x width features
    np.testing.assert_allclose(probs, predict_proba(trained, vx, "cpu"), atol=1e-6)


def test_save_load_round_trip(trained, xray_splits, tmp_path):
    (_, _), (vx, _) = xray_splits
    path = tmp_path / "domain.pt"
    save_domain_classifier(path, trained, arch="resnet18_small", width=8, num_classes=2, in_channels=1, classes=CLASSES)
    model, classes = load_domain_classifier(path)
    assert classes == CLASSES
    np.testing.assert_array_equal(classifier_outputs(model, vx)[1], classifier_outputs(trained, vx)[1])
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a domain classifier checkpoint"):
        load_domain_classifier(tmp_path / "other.pt")


def test_real_reference_and_scores_on_real_images(trained, xray_splits):
    """Scoring real test images as if generated: same class close to the reference, other class far;
    a 'GAN' whose labels are swapped loses its class agreement; real images score > 1."""
    train, test = xray_splits
    arrays, summary = real_reference(trained, train, test, CLASSES, n=40, seed=0)
    assert arrays["train_features_0"].shape == (40, 64) and arrays["test_features_1"].shape == (40, 64)
    assert summary["classifier_score_real_n_per_class"] == 40
    assert 1.0 < summary["classifier_score_real"] <= 2.0
    for cls in CLASSES:
        assert summary["classes"][cls]["domain_fid_floor"] > 0

    tx, ty = test
    right = domain_scores(trained, tx, ty, CLASSES, arrays, n=40, seed=0)
    swapped = domain_scores(trained, tx, 1 - ty, CLASSES, arrays, n=40, seed=0)
    for cls in CLASSES:
        # each class's real test images: the same class's reference is closer than the other's
        assert right["classes"][cls]["domain_fid"] < swapped["classes"][cls]["domain_fid"]
        assert right["classes"][cls]["domain_fid"] == pytest.approx(summary["classes"][cls]["domain_fid_floor"])
        assert right["classes"][cls]["class_agreement"] > 0.5 > swapped["classes"][cls]["class_agreement"]
        # the same images (class cls) under the other label: predicted cls + predicted other = all of them
        other = CLASSES[1 - CLASSES.index(cls)]
        assert right["classes"][cls]["class_agreement"] + swapped["classes"][other]["class_agreement"] == pytest.approx(
            1.0
        )
    assert right["classifier_score"] == pytest.approx(summary["classifier_score_real"])  # the same 40 + 40 images
    assert right["classifier_score"] == pytest.approx(swapped["classifier_score"])  # label-free


def test_domain_scores_rejects_mismatched_classes(trained, xray_splits):
    train, test = xray_splits
    arrays, _ = real_reference(trained, train, test, CLASSES, n=10, seed=0)
    with pytest.raises(ValueError, match="differ from the domain reference"):
        domain_scores(trained, test[0], test[1], ["A", "B"], arrays, n=10, seed=0)


def test_build_classifier_embed_matches_forward():
    torch.manual_seed(0)
    model = build_classifier("resnet18_small", 3, 1, width=4).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(model.fc(model.embed(x)), model(x))


def test_fit_domain_classifier_writes_the_rule_outputs(xray_splits, tmp_path):
    """Rule domain_classifier's work: train on the real training set, write the model, the real reference,
    the history and the info; the saved model gives back the reference arrays and the summary."""
    from ganaug.io import load_npz, read_json, save_npz
    from ganaug.metrics.domain import fit_domain_classifier

    (tx, ty), (vx, vy) = xray_splits
    classes = np.array(CLASSES)
    save_npz(tmp_path / "real_train.npz", {"images": tx, "labels": ty, "classes": classes})
    save_npz(tmp_path / "data.npz", {"train_images": tx, "train_labels": ty, "val_images": vx[::2],
                                     "val_labels": vy[::2], "test_images": vx[1::2], "test_labels": vy[1::2],
                                     "classes": classes})  # fmt: skip
    settings = {"arch": "resnet18_small", "width": 4, "epochs": 1, "batch_size": 32, "lr": 1.0e-3,
                "weight_decay": 1.0e-4, "amp": "none"}  # fmt: skip
    outputs = {"model": tmp_path / "classifier.pt", "info": tmp_path / "classifier.json",
               "reference": tmp_path / "real_reference.npz", "history": tmp_path / "history.csv"}  # fmt: skip
    job = dict(data=tmp_path / "data.npz", settings=settings, seed=0, fid={"n": 8, "seed": 0},
               positive_class="PNEUMONIA", device="cpu", threads=2)  # fmt: skip
    info = fit_domain_classifier(outputs, real=tmp_path / "real_train.npz", **job)
    assert read_json(outputs["info"]) == info
    assert (info["n_train"], info["epochs"], info["selected_epoch"], info["feature_dim"]) == (120, 1, 1, 32)
    assert len(outputs["history"].read_text().splitlines()) == 2  # header and one epoch
    model, saved_classes = load_domain_classifier(outputs["model"])
    assert saved_classes == CLASSES
    arrays, summary = real_reference(model, (tx, ty), (vx[1::2], vy[1::2]), CLASSES, n=8, seed=0)
    reference = load_npz(outputs["reference"])
    assert sorted(reference) == sorted(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(reference[key], value)
    assert {k: info[k] for k in summary} == summary

    save_npz(tmp_path / "other.npz", {"images": tx, "labels": ty, "classes": np.array(["A", "B"])})
    with pytest.raises(ValueError, match=r"data.npz: classes \['NORMAL', 'PNEUMONIA'\] differ from .*other.npz's"):
        fit_domain_classifier(outputs, real=tmp_path / "other.npz", **job)
