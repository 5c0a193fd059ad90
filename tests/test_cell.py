"""ganaug.classifier.run_cell, the work of rule train_classifier, on real chest X-rays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganaug.classifier import Cell, n_synthetic, run_cell
from helpers import write_cell_inputs

CLASSES = ["NORMAL", "PNEUMONIA"]
SETTINGS = dict(arch="resnet18_small", width=8, epochs=1, batch_size=32, lr=1e-3, weight_decay=1e-4, amp="none")
BOOTSTRAP = dict(n=50, level=0.9, seed=0)


@pytest.mark.parametrize(
    "source,strategy,frac",
    [
        ("real", "replace", "0.5"),  # real-only runs have no strategy ...
        ("real", "none", "0.5"),  # ... and no synthetic fraction
        ("real", "balance", "0"),
        ("cdcgan", "none", "0.5"),  # runs with a GAN name a strategy ...
        ("cdcgan", "replace", "0"),  # ... and a fraction > 0
        ("cdcgan", "none", "0"),
    ],
)
def test_inconsistent_cell_is_refused_before_any_input_is_read(tmp_path, source, strategy, frac):
    missing = tmp_path / "no such file.npz"
    with pytest.raises(ValueError, match=rf"^inconsistent cell none/{source}/{strategy}/f{frac}: real-only runs"):
        run_cell(
            Cell("none", source, strategy, frac, "all", 0),
            real=missing, data=missing, synthetic=missing, settings=SETTINGS, bootstrap=BOOTSTRAP,
            positive_class="PNEUMONIA",
        )  # fmt: skip


def test_consistent_cells_pass_the_check():
    Cell("none", "real", "none", "0", "all", 0).check()
    Cell("classic", "real", "none", "0.0", "50", 1).check()
    Cell("none", "cdcgan", "replace", "0.5", "all", 0).check()
    Cell("oversample", "dcgan", "balance", "1", "10", 2).check()


@pytest.fixture(scope="module")
def cell_inputs(tmp_path_factory):
    """Real training npz (30 NORMAL / 40 PNEUMONIA), a prepared npz (val and test: 12 + 12 each) and a
    'synthetic' npz of 20 other real NORMAL images, all 28 px grayscale."""
    return write_cell_inputs(tmp_path_factory.mktemp("cell"), {"synthetic": 20}, CLASSES)


def test_run_cell_record_and_outputs(cell_inputs, tmp_path, capsys):
    """n_real 10 of NORMAL, balance at f = 0.5 with 'synthetic' NORMAL images, 1 epoch: the record holds the
    cell, consistent counts, the test metrics and the CI; write() puts it and the tables on disk."""
    cell = Cell("weighted_loss", "cdcgan", "balance", "0.5", "10", 3)
    result = run_cell(
        cell, real=cell_inputs / "real.npz", data=cell_inputs / "prepared.npz", synthetic=cell_inputs / "synthetic.npz",
        settings=SETTINGS, bootstrap=BOOTSTRAP, positive_class="PNEUMONIA", n_real_class="NORMAL", device="cpu",
        progress=False,
    )  # fmt: skip
    rec = result.record
    per_class = [f"{m}_{c}" for m in ("n_train", "n_synthetic", "n_real", "precision", "recall", "f1") for c in CLASSES]
    assert set(rec) == {
        "baseline", "source", "strategy", "fraction", "n_real", "seed", "n_train", "n_synthetic", *per_class,
        "accuracy", "auc", "balanced_accuracy", "sensitivity", "specificity", "n_test",
        "auc_ci_low", "auc_ci_high", "auc_ci_level", "auc_ci_bootstrap_n",
        "selected_epoch", "amp", "device", "confusion", "classes",
    }  # fmt: skip
    assert (rec["baseline"], rec["source"], rec["strategy"]) == ("weighted_loss", "cdcgan", "balance")
    assert (rec["fraction"], rec["n_real"], rec["seed"]) == (0.5, "10", 3)
    k = n_synthetic(0.5, 40 - 10)  # half the gap of the limited NORMAL class to PNEUMONIA
    assert k > 0
    assert (rec["n_real_NORMAL"], rec["n_real_PNEUMONIA"]) == (10, 40)
    assert (rec["n_synthetic_NORMAL"], rec["n_synthetic_PNEUMONIA"], rec["n_synthetic"]) == (k, 0, k)
    assert (rec["n_train_NORMAL"], rec["n_train_PNEUMONIA"], rec["n_train"]) == (10 + k, 40, 50 + k)
    assert rec["n_test"] == 24 and np.asarray(rec["confusion"]).sum() == 24
    assert 0.0 <= rec["auc"] <= 1.0 and rec["auc_ci_low"] <= rec["auc_ci_high"]
    assert (rec["auc_ci_level"], rec["auc_ci_bootstrap_n"]) == (0.9, 50)
    assert (rec["selected_epoch"], rec["amp"], rec["device"], rec["classes"]) == (1, "none", "cpu", CLASSES)
    assert "training images (" in capsys.readouterr().out

    out = {name: tmp_path / f"{name}{ext}" for name, ext in
           (("metrics", ".json"), ("predictions", ".csv"), ("val_predictions", ".csv"), ("history", ".csv"),
            ("confusion", ".png"))}  # fmt: skip
    result.write(**out)
    assert json.loads(out["metrics"].read_text()) == json.loads(json.dumps(rec))
    test_pred = pd.read_csv(out["predictions"])
    assert len(test_pred) == 24
    assert np.array_equal(test_pred["y_pred"], test_pred[["p_NORMAL", "p_PNEUMONIA"]].to_numpy().argmax(axis=1))
    val_pred = pd.read_csv(out["val_predictions"])
    assert list(val_pred.columns) == list(test_pred.columns) == ["index", "y_true", "y_pred", "p_NORMAL", "p_PNEUMONIA"]
    assert len(val_pred) == 24 and np.allclose(val_pred[["p_NORMAL", "p_PNEUMONIA"]].sum(axis=1), 1.0)
    # the validation AUC of the selected epoch, as the history recorded it, from the saved probabilities
    from sklearn.metrics import roc_auc_score

    val_auc = roc_auc_score(val_pred["y_true"], val_pred["p_PNEUMONIA"])
    assert val_auc == pytest.approx(pd.read_csv(out["history"])["val_auc"].iloc[0], abs=1e-6)
    assert pd.read_csv(out["history"])["selected"].tolist() == [True]
    assert out["confusion"].stat().st_size > 0
    assert "'auc':" in capsys.readouterr().out


def test_n_real_above_the_available_images_uses_all(cell_inputs, capsys):
    cell = Cell("none", "real", "none", "0", "500", 0)
    result = run_cell(
        cell, real=cell_inputs / "real.npz", data=cell_inputs / "prepared.npz", synthetic=None, settings=SETTINGS,
        bootstrap=BOOTSTRAP, positive_class="PNEUMONIA", n_real_class="NORMAL", device="cpu", progress=False,
    )  # fmt: skip
    assert "n_real 500 > the 30 real NORMAL images: all are used" in capsys.readouterr().out
    assert (result.record["n_real_NORMAL"], result.record["n_synthetic"], result.record["n_train"]) == (30, 0, 70)
