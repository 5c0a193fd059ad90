"""The honest low-data arm (``train_on: n_real``, ganaug.config.low_data) and the study configs that use it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from ganaug.classifier.cell import Cell, training_set
from ganaug.classifier.mixing import low_data_set
from ganaug.config import (
    ConfigError,
    add_low_data_gans,
    classifier_cells,
    gan_settings,
    gan_train_settings,
    generator_of,
    pretrain_settings,
    primary_cell,
    transfer_base,
    validate_config,
)
from ganaug.config.checks import check_statistics
from helpers import SCHEMA, deep_update, shipped_config

REPO = Path(__file__).resolve().parents[1]
STUDIES = ("study_chest_xray.yaml", "study_breastmnist.yaml")


@pytest.fixture
def cfg() -> dict:
    return shipped_config("study_chest_xray.yaml")


def test_low_data_copies_per_n_real_below_all(cfg):
    """One copy per n_real < all of the cell's classifier runs, the recipe unchanged but real_n; the copies are no
    classifier sources, and at n_real all the cell trains exactly as a cell without train_on (no rerun)."""
    out = add_low_data_gans(cfg)
    assert list(out["gans"]) == ["dcgan", "dcgan_n25", "dcgan_n50"]
    low = out["gans"]["dcgan_n25"]
    assert low["real_n"] == 25 and low["derived_from"] == "dcgan" and "train_on" not in low
    assert {k: v for k, v in low.items() if k not in ("real_n", "derived_from")} == {
        k: v for k, v in cfg["gans"]["dcgan"].items() if k != "train_on"
    }
    assert classifier_cells(out) == classifier_cells(cfg)  # the copies add GANs, not classifier runs
    plain = copy.deepcopy(cfg)
    del plain["gans"]["dcgan"]["train_on"]
    assert gan_train_settings(out, "dcgan") == gan_train_settings(plain, "dcgan")
    assert pretrain_settings(out, "dcgan") == pretrain_settings(plain, "dcgan")
    assert gan_train_settings(out, "dcgan_n25") == dict(gan_train_settings(plain, "dcgan"), real_n=25)
    assert generator_of(out, "dcgan", "25") == "dcgan_n25" and generator_of(out, "dcgan", "all") == "dcgan"
    assert generator_of(out, "real", "25") == "real"
    assert cfg["gans"].keys() == {"dcgan"}  # the input is not modified


def test_a_transfer_source_gets_its_low_data_copy_too(cfg):
    cfg["gans"]["cdcgan"] = {"mode": "conditional", "transfer": {"from": "dcgan"}, "steps": 10, "train_on": "n_real"}
    cfg["gans"]["dcgan"].pop("classes")
    cfg["classifier"]["extra_cells"] = [{"source": "cdcgan", "strategy": "balance", "fraction": 1.0, "n_real": 25}]
    out = add_low_data_gans(cfg)
    assert set(out["gans"]) == {"dcgan", "cdcgan", "cdcgan_n25", "dcgan_n25"}
    settings = gan_settings(out, "cdcgan_n25")
    assert transfer_base("cdcgan_n25", settings, 3) == "results/gan/dcgan_n25/rep3/transfer/base/checkpoint.pt"


@pytest.mark.parametrize(
    "edit, match",
    [
        ({"classifier": {"classifiers_per_generator": 2, "seeds": [0, 1, 2, 3]}},
         r"gans\.dcgan\.train_on = n_real needs classifier\.classifiers_per_generator: 1"),
        ({"classifier": {"classifiers_per_generator": "all"}}, r"classifiers_per_generator: 1 \(got 'all'\)"),
        ({"gans": {"dcgan_n25": {"mode": "per_class"}}}, r"gans\.dcgan_n25: the name is taken"),
        ({"gans": {"base": {"mode": "per_class", "transfer": {"steps": 5}},
                   "dcgan": {"transfer": {"from": "base"}}}},
         r"gans\.dcgan\.transfer\.from = 'base': dcgan trains on n_real images, but base's shared GAN has seen"),
    ],
)  # fmt: skip
def test_designs_that_cannot_be_honest_fail_with_one_line(cfg, edit, match):
    deep_update(cfg, edit)
    if "base" in cfg["gans"]:
        cfg["gans"]["dcgan"]["transfer"] = {"from": "base"}
    with pytest.raises(ConfigError, match=match) as err:
        add_low_data_gans(cfg)
    assert "\n" not in str(err.value)


def test_the_generator_sees_the_images_its_classifier_sees():
    """low_data_set draws, for replicate r, exactly the minority images classifier seed r keeps at that n_real
    (limit_class with the seed): the generator and the classifier see the same real images."""
    rng = np.random.default_rng(0)
    labels = np.array([0] * 40 + [1] * 90)
    rng.shuffle(labels)
    data = {"images": rng.integers(0, 255, (130, 1, 8, 8), dtype=np.uint8), "labels": labels,
            "classes": np.array(["NORMAL", "PNEUMONIA"]), "indices": np.arange(130) + 1000}  # fmt: skip
    for seed in (0, 3):
        sub = low_data_set(data, "NORMAL", 25, seed)
        x, y, is_synth, classes = training_set(Cell("none", "real", "none", "0", "25", seed), data, None, "NORMAL")
        assert classes == ["NORMAL", "PNEUMONIA"] and not is_synth.any()
        assert (sub["labels"] == 0).sum() == 25 and (sub["labels"] == 1).sum() == 90
        seen = {img.tobytes() for img, lab in zip(x, y) if lab == 0}
        assert seen == {img.tobytes() for img, lab in zip(sub["images"], sub["labels"]) if lab == 0}
        rows = sub["indices"] - 1000
        assert np.array_equal(data["images"][rows], sub["images"])  # indices: rows of the prepared train split
    assert not np.array_equal(
        low_data_set(data, "NORMAL", 25, 0)["indices"], low_data_set(data, "NORMAL", 25, 3)["indices"]
    )
    nested = low_data_set(data, "NORMAL", 10, 0)["indices"]
    assert set(nested) <= set(low_data_set(data, "NORMAL", 25, 0)["indices"])  # nested, as the classifier's
    with pytest.raises(ValueError, match="'benign' is not one of"):
        low_data_set(data, "benign", 25, 0)


@pytest.mark.parametrize("name", STUDIES)
def test_the_study_configs_validate_and_declare_their_question(name):
    cfg = validate_config(shipped_config(name), SCHEMA)
    check_statistics(cfg)
    out = add_low_data_gans(cfg)
    assert list(out["gans"]) == ["dcgan", "dcgan_n25", "dcgan_n50"]
    assert primary_cell(cfg) == {"baseline": "none", "source": "dcgan", "strategy": "balance", "fraction": 1.0,
                                 "n_real": "all"}  # fmt: skip
    cells = {(c.baseline, c.source, c.strategy, c.frac, c.n_real) for c in classifier_cells(cfg)}
    for n in ("25", "50", "all"):  # the reference and the comparison at every n_real of the low-data arm
        assert {("classic", "real", "none", "0", n), ("none", "dcgan", "balance", "1", n)} <= cells
    seeds = cfg["classifier"]["seeds"]  # at least the 6 replicates that detect 0.02 at the default run's sd (0.014)
    assert seeds == list(range(len(seeds))) and len(seeds) >= 6 and cfg["classifier"]["classifiers_per_generator"] == 1
