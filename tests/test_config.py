"""Config validation: the shipped configs pass; bad values fail with one line naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ganaug.config import (
    ClassifierCell,
    ConfigError,
    apply_replaced_mappings,
    canonical,
    check_statistics,
    classifier_cells,
    classifier_run_dir,
    classifier_settings,
    config_warnings,
    fraction_label,
    gan_settings,
    primary_cell,
    validate_config,
)
from helpers import SCHEMA, deep_update, shipped_config

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def load(*names: str) -> dict:
    """config.yaml with the named override files merged over it as snakemake --configfile does."""
    cfg = shipped_config(*names)
    if "chest_xray" in cfg["datasets"]:
        assert (SHARED / "chest_xray").is_dir(), f"real data missing: {SHARED / 'chest_xray'}"
        cfg["datasets"]["chest_xray"]["path"] = str(SHARED / "chest_xray")
    return cfg


#: config.yaml's default cell (since 2026-12-07): conditional, its own shared GAN, class_norm + mode seeking
CDCGAN_DEFAULT = {
    "mode": "conditional",
    "transfer": {"steps": 3000},
    "class_norm": True,
    "mode_seeking": 0.1,
    "steps": 3000,
    "balance_classes": True,
    "diffaugment": ["color", "translation", "cutout"],
    "ema": 0.999,
    "select": "best_fid",
}
#: the same started from a per-class cell's shared GAN (config/blood_cells.yaml's form)
CDCGAN = {**CDCGAN_DEFAULT, "transfer": {"from": "dcgan"}}
#: config.yaml's commented per-class recipe (the default until 2026-12-07)
DCGAN = {
    "mode": "per_class",
    "transfer": {"steps": 3000, "freeze_d": 1},
    "steps": 1500,
    "diffaugment": ["color", "translation", "cutout"],
    "ema": 0.999,
    "select": "best_fid",
}


def test_config_yamls_cells():
    """config.yaml's cell is CDCGAN_DEFAULT; its commented `# dcgan:` block, uncommented, is DCGAN."""
    text = (REPO / "config.yaml").read_text()
    assert yaml.safe_load(text)["gans"] == {"cdcgan": CDCGAN_DEFAULT}
    block = text.split("\n  # dcgan:\n", 1)[1].split("\n  # more cells", 1)[0]
    lines = [line.replace("  #", "", 1) for line in block.splitlines()]
    assert yaml.safe_load("\n".join(lines)) == DCGAN


@pytest.fixture
def base() -> dict:
    return load("chest_xray.yaml")


@pytest.mark.parametrize(
    "names",
    [
        (),
        ("chest_xray.yaml",),
        ("pneumoniamnist.yaml",),
        ("tiny.yaml",),
        ("chest_xray.yaml", "paper_gpu.yaml"),
        ("chest_xray.yaml", "paper_gpu.yaml", "paper_gpu_pretrained.yaml"),
        ("chest_xray.yaml", "reproduce_cxr_resnet152.yaml"),
        ("study_chest_xray.yaml",),
        ("study_breastmnist.yaml",),
        ("blood_cells.yaml",),
    ],
)
def test_shipped_configs_validate(names):
    cfg = validate_config(load(*names), SCHEMA)
    assert cfg["metrics"]["fid"]["n"] >= 2
    assert cfg["device"] == "auto"


def test_blood_cells_caps_every_class_of_the_pbc_folder():
    """config/blood_cells.yaml names the PBC set's eight class folders, basophil the rare and positive one."""
    root = SHARED / "pbc_blood"
    assert root.is_dir(), f"real data missing: {root}"
    cfg = validate_config(load("blood_cells.yaml"), SCHEMA)
    caps = cfg["experiment"]["subsample"]["max_per_class"]
    assert sorted(caps) == sorted(p.name for p in root.iterdir() if p.is_dir())
    assert cfg["experiment"]["minority_class"] == cfg["experiment"]["positive_class"] == "basophil"
    assert caps["basophil"] == 40 and {v for k, v in caps.items() if k != "basophil"} == {150}
    assert cfg["experiment"]["channels"] == 3


def test_defaults_are_filled():
    cfg = load()
    del cfg["metrics"]
    del cfg["threads"]
    validate_config(cfg, SCHEMA)
    assert cfg["metrics"]["fid"]["n"] == 250
    assert cfg["threads"]["train_gan"] == 2
    assert cfg["experiment"]["on_bad_image"] == "error"


@pytest.mark.parametrize(
    "path, value, match",
    [
        (("gan_defaults", "lr_g"), "1e-4", r"gan_defaults\.lr_g = '1e-4' is a string.*1\.0e-4"),
        (("gan_defaults", "lr_d"), -1.0e-4, r"gan_defaults\.lr_d = -0\.0001 must be > 0"),
        (("gan_defaults", "steps"), 0, r"gan_defaults\.steps = 0 must be >= 1"),
        (("gan_defaults", "batch_size"), -8, r"gan_defaults\.batch_size = -8 must be >= 1"),
        (("gan_defaults", "model"), "stylegan9", r"gan_defaults\.model = 'stylegan9' is not allowed"),
        (
            ("experiment", "resolution"),
            30,
            r"experiment\.resolution = 30 is not allowed; choose one of 28, 32, 64, 128",
        ),
        (("experiment", "dataset"), "nope", r"experiment\.dataset = 'nope' names no entry of datasets"),
        (("experiment", "positive_class"), "COVID", r"experiment\.positive_class = 'COVID' is not a class"),
        (("classifier", "seeds"), [], r"classifier\.seeds = \[\] must have at least 1"),
        (("classifier", "synthetic_fractions"), [0.0, 1.5], r"classifier\.synthetic_fractions\.1 = 1\.5 must be <= 1"),
        (("datasets", "chest_xray", "source"), "zip", r"datasets\.chest_xray\.source = 'zip' is not allowed"),
        (
            ("datasets", "chest_xray", "path"),
            "/no/such/dir",
            r"datasets\.chest_xray\.path.*/no/such/dir.*does not exist",
        ),
        (("gans", "cdcgan", "mode"), "both", r"gans\.cdcgan\.mode = 'both' is not allowed"),
    ],
)
def test_bad_values_fail_with_one_line(base, path, value, match):
    cfg = copy.deepcopy(base)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=match) as info:
        validate_config(cfg, SCHEMA)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "key, value, match",
    [
        (
            "window",
            "soft",
            r"^config key experiment\.window = 'soft' is not allowed; choose one of 'auto', 'dicom', 'minmax' "
            r"\(or \[center, width\]: two numbers, width > 0\)$",
        ),
        ("window", [40.5, 0], r"^config key experiment\.window\.1 = 0 must be > 0$"),
        ("window", [40], r"^config key experiment\.window = \[40\] must have at least 2 item\(s\)$"),
        ("window", [1, 2, 3], r"^config key experiment\.window = \[1, 2, 3\] must have at most 2 item\(s\)$"),
        ("window", ["a", 1], r"^config key experiment\.window\.0 = 'a' must be of type number$"),
        (
            "resize",
            "stretch",
            r"experiment\.resize = 'stretch' is not allowed; choose one of 'squash', 'pad', 'center_crop'",
        ),
        ("pad_value", "white", r"experiment\.pad_value = 'white' is not allowed; choose one of 'border', 'black'$"),
        ("multiframe", "all", r"experiment\.multiframe = 'all' is not allowed; choose one of 'reject', 'first'$"),
    ],
)
def test_image_settings_are_checked(key, value, match):
    cfg = load()
    cfg["experiment"][key] = value
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, SCHEMA)


def test_image_settings_defaults_and_forms():
    cfg = load()
    for key in ("window", "resize", "pad_value", "multiframe"):
        del cfg["experiment"][key]
    validate_config(cfg, SCHEMA)
    assert {k: cfg["experiment"][k] for k in ("window", "resize", "pad_value", "multiframe")} == {
        "window": "auto",
        "resize": "squash",
        "pad_value": "border",
        "multiframe": "reject",
    }
    for window in ("dicom", "minmax", [40, 400], [32767.5, 65535.0], [-600, 1500]):
        cfg["experiment"]["window"] = window
        validate_config(cfg, SCHEMA)


def test_unknown_key_is_named(base):
    base["classifier"]["epochz"] = 3
    with pytest.raises(ConfigError, match=r"config key classifier: .*'epochz'"):
        validate_config(base, SCHEMA)


def test_fid_n_must_not_exceed_generated(base):
    base["metrics"]["fid"]["n"] = base["generate"]["n_per_class"] + 1
    with pytest.raises(ConfigError, match=r"metrics\.fid\.n"):
        validate_config(base, SCHEMA)


def test_sweep_cells(base):
    cfg = validate_config(base, SCHEMA)
    cells = classifier_cells(cfg)
    c = cfg["classifier"]
    seeds = c["seeds"]
    assert (
        len(seeds) >= 3 and c["gan_baselines"] == ["none"] and c["strategies"] == ["replace"] and c["n_real"] == ["all"]
    )
    # f = 0 once per baseline and seed (real only, no mixing); every other fraction once per GAN and seed
    real = [x for x in cells if x.frac == "0"]
    assert real == [ClassifierCell(b, "real", "none", "0", "all", s) for b in c["baselines"] for s in seeds]
    assert set(c["baselines"]) == {"none", "classic", "oversample", "weighted_loss"}
    n_other = len([f for f in c["synthetic_fractions"] if f > 0])
    # + the default extra cells: balance (add synthetic minority images) at 0.5 and 1 of the gap, the GAN cell
    assert c["extra_cells"] == [{"source": "cdcgan", "strategy": "balance", "fraction": f} for f in (0.5, 1.0)]
    assert len(cells) == len(seeds) * (len(c["baselines"]) + n_other * len(cfg["gans"]) + 2) == 24
    assert {(x.baseline, x.strategy) for x in cells if x.frac != "0"} == {("none", "replace"), ("none", "balance")}
    assert sorted({(x.source, x.frac) for x in cells if x.strategy == "balance"}) == [
        ("cdcgan", "0.5"),
        ("cdcgan", "1"),
    ]
    assert len(set(cells)) == len(cells)
    assert classifier_run_dir(cells[0]) == "results/classifier/none/real/none/f0/nall/seed0"
    assert fraction_label(0.1) == "0.1" and fraction_label(1.0) == "1" and fraction_label(0) == "0"
    s = gan_settings(cfg, "cdcgan")
    assert s["mode"] == "conditional" and s["lr_g"] == cfg["gan_defaults"]["lr_g"] and s["ema"] == 0.999


def test_sweep_cells_cross_product_and_extra_cells(base):
    base["classifier"].update(
        seeds=[0, 1, 2],
        synthetic_fractions=[0.0, 0.5],
        baselines=["none", "oversample"],
        gan_baselines=["none", "classic"],
        strategies=["replace", "balance"],
        n_real=[50, "all"],
        extra_cells=[
            {"fraction": 1.0, "strategy": "balance"},
            {"fraction": 0.0, "n_real": 20, "baseline": "weighted_loss"},
            {"fraction": 0.5, "source": "cdcgan"},
        ],  # the last one is already in the cross product
    )
    cells = classifier_cells(validate_config(base, SCHEMA))
    gans = list(base["gans"])
    assert len(set(cells)) == len(cells)
    # f = 0: baselines ∪ gan_baselines (3) x n_real (2), never per GAN or strategy; + 1 extra real-only cell
    real = {(x.baseline, x.n_real) for x in cells if x.source == "real"}
    assert real == {(b, n) for b in ("none", "oversample", "classic") for n in ("50", "all")} | {
        ("weighted_loss", "20")
    }
    assert all(x.strategy == "none" and x.frac == "0" for x in cells if x.source == "real")
    # f = 0.5: gan_baselines (2) x GANs x strategies (2) x n_real (2); extra f = 1 balance: every GAN
    assert len([x for x in cells if x.frac == "0.5"]) == 3 * 2 * len(gans) * 2 * 2
    assert {(x.baseline, x.source, x.strategy, x.n_real) for x in cells if x.frac == "1"} == {
        ("none", g, "balance", "all") for g in gans
    }
    assert len(cells) == 3 * (7 + 8 * len(gans) + len(gans))


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"fraction": 0.5, "source": "real"}, r"extra_cells\.0\.source = 'real' needs fraction 0"),
        ({"fraction": 0.0, "source": "cdcgan"}, r"extra_cells\.0\.source = 'cdcgan' with fraction 0"),
        ({"fraction": 0.5, "source": "stylegan"}, r"extra_cells\.0\.source = 'stylegan' is neither"),
    ],
)
def test_extra_cell_errors(base, extra, match):
    base["classifier"]["extra_cells"] = [extra]
    with pytest.raises(ConfigError, match=match):
        classifier_cells(validate_config(base, SCHEMA))


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("baselines", ["smote"], r"classifier\.baselines\.0 = 'smote' is not allowed"),
        ("strategies", ["mixup"], r"classifier\.strategies\.0 = 'mixup' is not allowed"),
        ("n_real", [0], r"classifier\.n_real\.0"),
        ("extra_cells", [{"fraction": 0.5, "strategy": "nope"}], r"classifier\.extra_cells\.0\.strategy = 'nope'"),
    ],
)
def test_classifier_sweep_keys_validated(base, key, value, match):
    base["classifier"][key] = value
    with pytest.raises(ConfigError, match=match):
        validate_config(base, SCHEMA)


def test_generator_replicates(base):
    """classifiers_per_generator: 1 (default) = a replicate per seed; C = seeds s // C share one; all = one shared."""
    from ganaug.config import generator_replicate, generator_replicates, replicate_settings

    cfg = validate_config(copy.deepcopy(base), SCHEMA)
    assert cfg["classifier"]["classifiers_per_generator"] == 1
    assert [generator_replicate(cfg, s) for s in (0, 1, 2)] == [0, 1, 2] and generator_replicates(cfg) == [0, 1, 2]
    settings = gan_settings(cfg, "cdcgan")
    assert replicate_settings(settings, 0) == settings  # replicate 0 trains with the configured seed
    assert replicate_settings(settings, 2)["seed"] == settings["seed"] + 2000
    nested = copy.deepcopy(base)
    nested["classifier"].update(seeds=[0, 1, 2, 3, 4, 5], classifiers_per_generator=2)
    nested = validate_config(nested, SCHEMA)
    assert [generator_replicate(nested, s) for s in range(6)] == [0, 0, 1, 1, 2, 2]
    shared = copy.deepcopy(base)
    shared["classifier"]["classifiers_per_generator"] = "all"
    shared = validate_config(shared, SCHEMA)
    assert generator_replicates(shared) == [0] and generator_replicate(shared, 2) == 0


@pytest.mark.parametrize(
    ("seeds", "per", "match"),
    [
        ([0, 1, 2], 2, r"classifiers_per_generator = 2: generator replicate 1 \(seeds 2\.\.3\) holds seeds \[2\]"),
        ([0, 1], 0, r"classifier\.classifiers_per_generator"),
        ([0, 1], "some", r"classifier\.classifiers_per_generator"),
    ],
)
def test_unbalanced_or_bad_replicates_fail_with_one_line(base, seeds, per, match):
    base["classifier"].update(seeds=seeds, classifiers_per_generator=per)
    with pytest.raises(ConfigError, match=match) as err:
        validate_config(base, SCHEMA)
    assert "\n" not in str(err.value)


def test_override_replaces_gan_cells_and_class_caps(tmp_path):
    """An override for HAM10000 drops the default GAN cells and the NORMAL/PNEUMONIA caps."""
    ham = SHARED / "ham10000"
    assert ham.is_dir(), f"real data missing: {ham}"
    override = {
        "datasets": {
            "ham": {
                "source": "csv",
                "path": str(ham),
                "csv": "HAM10000_metadata.csv",
                "image_dir": "images",
                "id_column": "image_id",
                "label_column": "dx",
                "group_column": "lesion_id",
            }
        },
        "experiment": {
            "dataset": "ham",
            "positive_class": "mel",
            "minority_class": "mel",
            "subsample": {"max_per_class": {"nv": 500}},
        },
        "gans": {"wgan_like": {"mode": "conditional", "steps": 10}},
        # config.yaml's extra cells and primary name its cdcgan cell; the primary mapping is replaced whole too
        "classifier": {"extra_cells": []},
        "statistics": {"primary": {"source": "wgan_like", "strategy": "replace"}},
    }
    path = tmp_path / "ham.yaml"
    path.write_text(yaml.safe_dump(override))
    cfg = deep_update(load(), copy.deepcopy(override))  # what Snakemake's merge gives
    assert set(cfg["gans"]) == {"cdcgan", "wgan_like"}
    with pytest.raises(ConfigError, match=r"max_per_class\.NORMAL"):
        validate_config(copy.deepcopy(cfg), SCHEMA)
    apply_replaced_mappings(cfg, [path])
    assert set(cfg["gans"]) == {"wgan_like"}
    assert cfg["experiment"]["subsample"]["max_per_class"] == {"nv": 500}
    assert cfg["experiment"]["subsample"]["seed"] == 0  # other keys still merge
    assert cfg["statistics"]["primary"] == {"source": "wgan_like", "strategy": "replace"}
    validate_config(cfg, SCHEMA)
    assert primary_cell(cfg) == {"baseline": "none", "source": "wgan_like", "strategy": "replace", "fraction": 1.0,
                                 "n_real": "all"}  # fmt: skip


def test_canonical_sorts_keys_recursively():
    a = canonical({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": 3}})
    assert list(a) == ["a", "b"] and list(a["a"]) == ["c", "d"] and list(a["a"]["d"][0]) == ["y", "z"]
    assert repr(canonical({"x": 1, "y": 2})) == repr(canonical({"y": 2, "x": 1}))


def test_class_names_at_parse_time_match_the_data_stage(tmp_path):
    """The workflow splits jobs by class before the data is prepared; its class order must be the data stage's."""
    import pandas as pd

    from ganaug.config import known_class_names
    from ganaug.data.sources import list_csv_items, list_folder_items

    ham = SHARED / "ham10000"
    meta = pd.read_csv(ham / "HAM10000_metadata.csv").head(30)
    meta["grade"] = [str(x) for x in ([10, 2, 1] * 10)]  # numeric labels: '1' < '2' < '10', not text order
    meta.to_csv(tmp_path / "meta.csv", index=False)
    csv_spec = {
        "source": "csv",
        "path": str(ham),
        "csv": str(tmp_path / "meta.csv"),
        "image_dir": "images",
        "id_column": "image_id",
        "label_column": "grade",
        "group_column": "lesion_id",
    }
    assert known_class_names(csv_spec) == list_csv_items(csv_spec)[1] == ["1", "2", "10"]

    root = tmp_path / "xray"
    for split in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA", "__MACOSX"):
            (root / split / cls).mkdir(parents=True)
        for cls in ("NORMAL", "PNEUMONIA"):
            src = next((SHARED / "chest_xray" / split / cls).glob("*.jpeg"))
            (root / split / cls / src.name).symlink_to(src)
    folder_spec = {"source": "folder", "path": str(root)}
    assert known_class_names(folder_spec) == list_folder_items(folder_spec)[1] == ["NORMAL", "PNEUMONIA"]


# ----------------------------------------------------------------------------- names written once


def test_schema_enums_come_from_ganaug_names():
    """The schema file lists none of the registry names; load_schema fills each from ganaug.names."""
    from ganaug import names
    from ganaug.config import load_schema

    text = SCHEMA.read_text()
    for values in (names.GAN_MODELS, names.CLASSIFIER_BASELINES, names.MIXING_STRATEGIES, names.SOURCE_TYPES):
        assert f"[{', '.join(values)}]" not in text
    defs = load_schema(SCHEMA)["definitions"]
    assert defs["gan_model"]["enum"] == ["mlp", "dcgan", "wgan_gp", "sngan", "resgan", "acgan", "bagan", "ddpm"]
    assert defs["source_type"]["enum"] == ["folder", "csv", "medmnist"]
    assert defs["classifier_amp"]["enum"] == ["auto", "none", "bf16", "fp16"]
    for name, values in names.SCHEMA_ENUMS.items():
        assert defs[name]["enum"] == list(values)


@pytest.mark.parametrize(
    ("definition", "message"),
    [({"type": "string", "enum": ["mlp"]}, "lists an enum"), (None, "is missing")],
)
def test_load_schema_refuses_a_second_list_of_names(tmp_path, definition, message):
    from ganaug.config import load_schema

    schema = yaml.safe_load(SCHEMA.read_text())
    if definition is None:
        del schema["definitions"]["gan_model"]
    else:
        schema["definitions"]["gan_model"] = definition
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema))
    with pytest.raises(RuntimeError, match=f"definitions.gan_model {message}"):
        load_schema(path)


def test_registries_read_the_names():
    from ganaug import names
    from ganaug.classifier import BASELINES, STRATEGIES
    from ganaug.classifier.networks import ARCHITECTURES
    from ganaug.data import SOURCES
    from ganaug.gan import MODELS, MODES
    from ganaug.gan.augment import POLICIES
    from ganaug.runtime import AMP_MODES

    assert tuple(MODELS) == names.GAN_MODELS and MODES == names.GAN_MODES
    assert tuple(STRATEGIES) == names.MIXING_STRATEGIES and BASELINES == names.CLASSIFIER_BASELINES
    assert tuple(ARCHITECTURES) == names.CLASSIFIER_ARCHS and SOURCES == names.SOURCE_TYPES
    assert POLICIES == names.DIFFAUGMENT_POLICIES and AMP_MODES == names.AMP_MODES
    with pytest.raises(RuntimeError, match=r"GAN model registry \('mlp',\) differs from ganaug.names"):
        names.check_registry("GAN model", {"mlp": None}, names.GAN_MODELS)


def test_an_unknown_model_names_the_allowed_ones(base):
    base["gans"] = {"x": {"model": "stylegan", "mode": "per_class"}}
    with pytest.raises(ConfigError) as err:
        validate_config(base, SCHEMA)
    assert str(err.value) == (
        "config key gans.x.model = 'stylegan' is not allowed; "
        "choose one of 'mlp', 'dcgan', 'wgan_gp', 'sngan', 'resgan', 'acgan', 'bagan', 'ddpm'"
    )


def test_transfer_cells_are_checked(base):
    """The per-class cell (config.yaml's commented recipe) trains the shared GAN, a conditional cell starts from
    it (config/blood_cells.yaml); every transfer block that cannot work fails with one line naming the key."""
    from ganaug.config import transfer_base

    base["gans"] = {"dcgan": copy.deepcopy(DCGAN), "cdcgan": copy.deepcopy(CDCGAN)}

    cfg = validate_config(copy.deepcopy(base), SCHEMA)
    assert cfg["gans"]["dcgan"]["transfer"] == {"steps": 3000, "freeze_d": 1}
    assert cfg["gans"]["cdcgan"]["transfer"] == {"from": "dcgan"}
    assert transfer_base("cdcgan", gan_settings(cfg, "cdcgan")) == transfer_base("dcgan", gan_settings(cfg, "dcgan"))
    assert transfer_base("dcgan", gan_settings(cfg, "dcgan")) == "results/gan/dcgan/rep0/transfer/base/checkpoint.pt"
    assert (
        transfer_base("cdcgan", gan_settings(cfg, "cdcgan"), 2) == "results/gan/dcgan/rep2/transfer/base/checkpoint.pt"
    )
    for cell, transfer, message in (
        ("dcgan", {"steps": 4, "from": "x"}, r"gans.dcgan.transfer: give exactly one of steps .* and from"),
        ("dcgan", {"freeze_d": 1}, r"gans.dcgan.transfer: give exactly one of steps"),
        ("cdcgan", {"from": "dcgan", "freeze_d": 1}, r"gans.cdcgan.transfer.freeze_d = 1: .* cannot be frozen"),
        ("cdcgan", {"from": "nope"}, r"gans.cdcgan.transfer.from = 'nope': not another cell of gans \(cells: dcgan"),
        ("cdcgan", {"from": "cdcgan"}, r"gans.cdcgan.transfer.from = 'cdcgan': not another cell"),
    ):
        cfg = copy.deepcopy(base)
        cfg["gans"][cell]["transfer"] = transfer
        if "freeze_d" in transfer:  # a class_norm D reads the label at its head, so freezing is allowed there
            cfg["gans"][cell].pop("class_norm", None)
        with pytest.raises(ConfigError, match=message):
            validate_config(cfg, SCHEMA)
    # a conditional cell may train its own shared GAN: the one a per_class cell with its other settings trains
    # (unconditional: no class_norm, balanced batches or mode seeking in it), at its own path
    from ganaug.config import gan_train_settings, pretrain_settings

    cfg = copy.deepcopy(base)
    cfg["gans"]["cdcgan"]["transfer"] = {"steps": 3000}
    cfg = validate_config(cfg, SCHEMA)
    assert (
        transfer_base("cdcgan", gan_settings(cfg, "cdcgan"), 1) == "results/gan/cdcgan/rep1/transfer/base/checkpoint.pt"
    )
    assert pretrain_settings(cfg, "cdcgan") == pretrain_settings(cfg, "dcgan")
    assert pretrain_settings(cfg, "cdcgan")["mode"] == "per_class" and pretrain_settings(cfg, "cdcgan")["steps"] == 3000
    assert gan_train_settings(cfg, "cdcgan")["mode_seeking"] == 0.1  # the fine-tuning keeps its levers
    cfg = copy.deepcopy(base)
    del cfg["gans"]["dcgan"]["transfer"]  # the cell named by from trains no shared GAN
    with pytest.raises(ConfigError, match=r"gans.cdcgan.transfer.from = 'dcgan': that cell trains no shared GAN"):
        validate_config(cfg, SCHEMA)
    for change, message in (
        (
            {"model": "sngan", "class_norm": False},
            r"a conditional 'sngan' cannot start from an unconditional GAN \(models that can: dcgan",
        ),
        ({"model": "sngan"}, r"gans.cdcgan.class_norm: applies to dcgan, wgan_gp, not 'sngan'"),
        ({"ngf": 64}, r"gans.cdcgan.transfer.from = 'dcgan': ngf differs \(64 here, 32 there\)"),
    ):
        cfg = copy.deepcopy(base)
        cfg["gans"]["cdcgan"].update(change)
        with pytest.raises(ConfigError, match=message):
            validate_config(cfg, SCHEMA)
    cfg = copy.deepcopy(base)
    cfg["gans"]["ddpm"] = {"model": "ddpm", "mode": "per_class", "transfer": {"steps": 4}}
    with pytest.raises(ConfigError, match=r"gans.ddpm.transfer: FreezeD transfer fine-tunes a GAN's discriminator"):
        validate_config(cfg, SCHEMA)
    # class_norm: D reads the label at its head, so its first stage may stay frozen; the setting names its models
    cfg = copy.deepcopy(base)
    cfg["gans"]["cdcgan"].update(class_norm=True, transfer={"from": "dcgan", "freeze_d": 1})
    validate_config(cfg, SCHEMA)
    for cell, change, message in (
        ("dcgan", {"class_norm": True}, r"gans.dcgan.class_norm: applies to conditional cells .* not mode 'per_class'"),
        ("cdcgan", {"class_norm": True, "model": "sngan"}, r"gans.cdcgan.class_norm: applies to dcgan, wgan_gp, not"),
        ("dcgan", {"minibatch_std": True, "model": "sngan"}, r"gans.dcgan.minibatch_std: applies to dcgan, wgan_gp"),
    ):
        cfg = copy.deepcopy(base)
        cfg["gans"][cell].update(change)
        with pytest.raises(ConfigError, match=message):
            validate_config(cfg, SCHEMA)


def test_diffusion_settings_only_in_diffusion_cells(base):
    """A ddpm cell's train_gan params leave out the GAN-only settings; a GAN cell given a diffusion setting,
    or a ddpm cell whose U-Net levels do not fit the resolution, fails naming the key."""
    from ganaug.config import gan_train_settings

    cfg = copy.deepcopy(base)
    cfg["gans"]["ddpm"] = {"model": "ddpm", "mode": "per_class"}
    validate_config(cfg, SCHEMA)
    params = gan_train_settings(cfg, "ddpm")
    assert params["ema"] == 0.999 and params["sample_steps"] == 50 and params["channel_mult"] == [1, 2, 2]
    assert not {"nz", "ndf", "lr_d", "n_critic", "diffaugment"} & set(params)
    assert "guidance" not in gan_train_settings(cfg, "cdcgan")
    for cell, message in (
        ({"model": "dcgan", "mode": "per_class", "guidance": 2.0}, "config key gans.x.guidance: a diffusion setting"),
        ({"model": "ddpm", "mode": "per_class", "channel_mult": [1] * 9}, "config key gans.x.channel_mult"),
        ({"model": "ddpm", "mode": "per_class", "sample_steps": 2000}, "config key gans.x.sample_steps = 2000"),
    ):
        cfg = copy.deepcopy(base)
        cfg["gans"]["x"] = cell
        with pytest.raises(ConfigError, match=message):
            validate_config(cfg, SCHEMA)


# --------------------------------------------------------------------------- classifier network
def test_classifier_network_defaults(base):
    validate_config(base, SCHEMA)
    cls = base["classifier"]
    assert (cls["arch"], cls["pretrained"], cls["input_size"], cls["freeze"]) == (
        "resnet18_small",
        "none",
        "native",
        "none",
    )
    assert cls["lr_backbone_mult"] == 1.0
    assert config_warnings(base) == []


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (
            {"arch": "resnet18_small", "pretrained": "imagenet"},
            r"classifier\.pretrained = 'imagenet': arch 'resnet18_small'",
        ),
        ({"arch": "resnet18_small", "input_size": 64}, r"classifier\.input_size = 64: arch 'resnet18_small'"),
        ({"arch": "resnet50", "freeze": "backbone"}, r"classifier\.freeze = 'backbone' with pretrained: none"),
        ({"arch": "vgg11_bn", "input_size": 28}, r"classifier\.input_size = 28: arch 'vgg11_bn' needs .* 32 px"),
        ({"arch": "resnet34"}, r"classifier\.arch = 'resnet34' is not allowed"),
        ({"arch": "resnet50", "pretrained": "imagenet21k"}, r"classifier\.pretrained = 'imagenet21k' is not allowed"),
        ({"arch": "resnet50", "input_size": "224"}, r"classifier\.input_size = '224'"),
        ({"arch": "resnet50", "lr_backbone_mult": -0.1}, r"classifier\.lr_backbone_mult = -0\.1 must be >= 0"),
    ],
)
def test_classifier_network_errors(base, settings, match):
    base["classifier"].update(settings)
    with pytest.raises(ConfigError, match=match):
        validate_config(base, SCHEMA)


def test_densenet_at_28px_needs_an_input_size():
    cfg = load("pneumoniamnist.yaml")  # PneumoniaMNIST at 28 px
    cfg["classifier"]["arch"] = "densenet121"
    with pytest.raises(ConfigError, match="needs inputs of at least 32 px"):
        validate_config(cfg, SCHEMA)
    cfg["classifier"]["input_size"] = 32
    validate_config(cfg, SCHEMA)


def test_old_resnet18_configs_are_warned(base):
    """`arch: resnet18` meant the small network before torchvision's archs: it runs, with one warning line."""
    base["classifier"]["arch"] = "resnet18"
    validate_config(base, SCHEMA)
    (warning,) = config_warnings(base)
    assert warning == (
        "classifier.arch: resnet18 is now torchvision's ImageNet ResNet-18; the small-input network of "
        "earlier versions is resnet18_small"
    )
    base["classifier"]["pretrained"] = "imagenet"
    assert config_warnings(base) == []


def test_classifier_settings_leave_width_out_for_torchvision_archs(base):
    validate_config(base, SCHEMA)
    small = classifier_settings(base)
    assert small["width"] == 32 and small["arch"] == "resnet18_small"
    assert {"pretrained", "input_size", "freeze", "lr_backbone_mult"} <= set(small)
    base["classifier"]["arch"] = "resnet50"
    assert "width" not in classifier_settings(base)


def test_per_class_cells_for_chosen_classes(base):
    """`classes` of a per_class cell: names of the dataset's classes or `minority`; refused on a conditional
    cell; a classifier cell that needs images of a class the cell does not train is refused naming both."""
    from ganaug.config import gan_classes

    cfg = copy.deepcopy(base)
    cfg["gans"] = {"dcgan": {"mode": "per_class", "classes": "minority"}}
    cfg["classifier"].update(synthetic_fractions=[0.0], extra_cells=[{"source": "dcgan", "strategy": "balance",
                                                                      "fraction": 1.0}])  # fmt: skip
    cfg["statistics"]["primary"]["source"] = "dcgan"
    validate_config(cfg, SCHEMA)
    assert gan_classes(cfg, "dcgan", ["NORMAL", "PNEUMONIA"]) == ["NORMAL"]
    cfg["gans"]["dcgan"]["classes"] = ["PNEUMONIA", "NORMAL"]
    assert gan_classes(cfg, "dcgan", ["NORMAL", "PNEUMONIA"]) == ["NORMAL", "PNEUMONIA"]  # the dataset's order
    cases = [
        ({"classes": ["COVID"]}, None, "config key gans.dcgan.classes = ['COVID']: 'COVID' is not a class of dataset "
                                       "'chest_xray' (classes: NORMAL, PNEUMONIA)"),
        ({"mode": "conditional", "classes": "minority"}, None,
         "config key gans.dcgan.classes: a conditional cell generates every class; classes applies to per_class cells"),
        ({"classes": ["PNEUMONIA"]}, None, "needs synthetic NORMAL images (balance adds minority images), but "
                                           "gans.dcgan trains only PNEUMONIA"),
        ({"classes": "minority"}, [0.0, 0.5], "config key gans.dcgan.classes: classifier cell replace f = 0.5 "
         "(baseline none, n_real all) needs synthetic PNEUMONIA images (replace uses every class), but gans.dcgan "
         "trains only NORMAL"),
    ]  # fmt: skip
    for cell, fractions, message in cases:
        bad = copy.deepcopy(cfg)
        bad["gans"]["dcgan"] = {"mode": "per_class", **cell}
        if fractions:
            bad["classifier"]["synthetic_fractions"] = fractions
        with pytest.raises(ConfigError) as info:
            validate_config(bad, SCHEMA)
        assert str(info.value) == message or message in str(info.value), str(info.value)
        assert "\n" not in str(info.value)


def test_declared_primary_and_reference(base):
    validate_config(base, SCHEMA)
    assert base["statistics"]["reference"] == "classic" and base["statistics"]["equivalence_margin"] == 0.02
    assert primary_cell(base) == {"baseline": "none", "source": "cdcgan", "strategy": "balance", "fraction": 1.0,
                                  "n_real": "all"}  # fmt: skip
    # no primary: the default cell (first GAN, balance 1.0, baseline none, n_real all) when the sweep runs it ...
    cfg = copy.deepcopy(base)
    cfg["statistics"]["primary"] = None
    assert primary_cell(validate_config(cfg, SCHEMA))["strategy"] == "balance"
    # ... else the first GAN cell of the sweep
    cfg["classifier"]["extra_cells"] = []
    assert primary_cell(validate_config(cfg, SCHEMA)) == {
        "baseline": "none", "source": "cdcgan", "strategy": "replace", "fraction": 0.2, "n_real": "all"
    }  # fmt: skip
    # keys left out take their defaults; the pilot form
    cfg["statistics"]["primary"] = {"strategy": "replace", "fraction": 1.0}
    assert primary_cell(validate_config(cfg, SCHEMA))["fraction"] == 1.0
    cfg["statistics"]["primary"] = {"choose": "best_on_validation", "strategy": "replace", "pilot_seeds": [0]}
    assert primary_cell(validate_config(cfg, SCHEMA)) == {
        "choose": "best_on_validation", "strategy": "replace", "n_real": "all", "pilot_seeds": [0]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("statistics", "match"),
    [
        ({"reference": "weighted_loss", "primary": None}, None),  # runs: a real-only baseline of config.yaml
        ({"equivalence_margin": 0}, r"statistics\.equivalence_margin = 0 must be > 0"),
        ({"primary": {"fraction": 0.3}}, r"statistics\.primary: cell \(source cdcgan, strategy balance, fraction 0\.3,"),
        ({"primary": {"source": "ddpm"}}, r"statistics\.primary: cell \(source ddpm, .*is not in the sweep$"),
        ({"primary": {"n_real": 50}}, r"statistics\.primary: cell .*n_real 50\) is not in the sweep"),
        ({"primary": {"source": "real", "baseline": "classic"}}, r"statistics\.primary: cell .* is the reference"),
        ({"primary": {"fraction": 1.0, "frac": 1}}, r"statistics\.primary: Additional properties.*'frac'"),
        ({"primary": {"choose": "best"}}, r"statistics\.primary\.choose = 'best' is not allowed"),
        ({"primary": {"choose": "best_on_validation"}}, r"statistics\.primary\.pilot_seeds: choose needs"),
        ({"primary": {"choose": "best_on_validation", "pilot_seeds": [0], "source": "cdcgan"}},
         r"statistics\.primary: choose picks the cell; .*not source"),
        ({"primary": {"choose": "best_on_validation", "pilot_seeds": [7]}}, r"pilot_seeds = \[7\]: not all are"),
        ({"primary": {"choose": "best_on_validation", "pilot_seeds": [0, 1]}}, r"fewer than two generator replicates"),
        ({"primary": {"choose": "best_on_validation", "pilot_seeds": [0], "n_real": 50}},
         r"statistics\.primary\.strategy = 'balance': the sweep has no GAN cell of that strategy at n_real 50"),
    ],
)  # fmt: skip
def test_statistics_errors_name_the_key(base, statistics, match):
    base["statistics"].update(statistics)
    if match is None:
        validate_config(base, SCHEMA)
        return
    with pytest.raises(ConfigError, match=match) as info:
        validate_config(base, SCHEMA)
    assert "\n" not in str(info.value)


def test_reference_must_run_where_the_primary_is(base):
    base["classifier"]["baselines"] = ["none", "oversample"]
    with pytest.raises(ConfigError, match=r"statistics\.reference = 'classic': the sweep has no real-only run of that"):
        validate_config(copy.deepcopy(base), SCHEMA)
    base["statistics"]["reference"] = "oversample"
    base["classifier"]["n_real"] = ["all", 50]
    base["statistics"]["primary"] = {"n_real": 50, "strategy": "replace", "fraction": 0.2}
    validate_config(copy.deepcopy(base), SCHEMA)  # oversample runs at every n_real of the sweep
    # a reference that runs only at n_real 50 (an extra cell): the primary at all cannot be answered, a warning lists
    base["classifier"]["baselines"] = ["none"]
    base["statistics"]["primary"] = {"strategy": "replace", "fraction": 0.2}
    base["classifier"]["extra_cells"] = [{"source": "real", "fraction": 0.0, "n_real": 50, "baseline": "oversample"}]
    with pytest.raises(ConfigError, match=r"statistics\.reference = 'oversample': no real-only run at the primary"):
        validate_config(copy.deepcopy(base), SCHEMA)
    base["statistics"]["primary"]["n_real"] = 50
    validate_config(base, SCHEMA)
    (warning,) = config_warnings(base)
    assert warning.startswith("statistics.reference: 'oversample' has no real-only run at n_real all, so the ")


def test_pilot_seeds_must_be_whole_generator_replicates(base):
    base["classifier"]["seeds"] = [0, 1, 2, 3, 4, 5]
    base["statistics"]["primary"] = {"choose": "best_on_validation", "pilot_seeds": [0, 1]}
    validate_config(base, SCHEMA)  # one seed per generator (the default): two replicates chosen on, four tested
    # the generator-replicate key lives in the classifier section (its schema entry comes with the replicate DAG)
    base["classifier"]["classifiers_per_generator"] = 2
    check_statistics(base)  # seeds 0-1 are replicate 0
    base["statistics"]["primary"]["pilot_seeds"] = [0]
    with pytest.raises(ConfigError, match=r"pilot_seeds = \[0\] split generator replicate 0 \(seeds \[0, 1\]"):
        check_statistics(base)
    base["statistics"]["primary"]["pilot_seeds"] = [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="fewer than two generator replicates to test on"):
        check_statistics(base)
    base["classifier"]["classifiers_per_generator"] = "all"
    with pytest.raises(ConfigError, match="classifiers_per_generator: all every seed shares one generator"):
        check_statistics(base)


def test_a_balance_cell_beyond_the_generated_images_is_warned_at_parse_time(base):
    """balance f = 1 at n_real all needs 600 - 150 = 450 synthetic NORMAL images (the caps): with 100 generated the
    classifier job would fail after the GANs, so config_warnings says so, naming the key and the number."""
    assert not [w for w in config_warnings(base) if "n_per_class" in w]
    base["generate"]["n_per_class"] = 100
    base["classifier"]["extra_cells"].append({"source": "cdcgan", "strategy": "balance", "fraction": 1.0, "n_real": 50})
    (warning,) = [w for w in config_warnings(base) if "n_per_class" in w]
    assert warning.startswith("config key generate.n_per_class = 100: balance cells need more synthetic NORMAL")
    assert "550 at fraction 1, n_real 50, 450 at fraction 1, n_real all, 225 at fraction 0.5" in warning
    assert warning.endswith("raise n_per_class to at least 550") and "\n" not in warning
