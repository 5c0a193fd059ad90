"""Patients, not images: groups for every source, group-aware carved splits, the overlap of a
dataset's own splits, folder trees as a PACS exports them, and the shipped chest X-ray sample.

Every tree is written here: Kaggle-like ``person…`` names (real chest X-ray JPEGs copied under
new names), nested DICOM folders with PatientIDs (pydicom), a dataset whose own splits share groups.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_inputs import write_dicom

from ganaug.config import ConfigError, validate_config
from ganaug.data import prepare_dataset
from ganaug.data.groups import manifest_overlap, overlap_table
from ganaug.data.prepare import _assign_splits
from ganaug.data.sample import KAGGLE_CHEST_GROUP_PATTERN, SAMPLE_PATH, build_sample
from ganaug.data.sources import validate_dataset_spec
from ganaug.io import load_npz
from helpers import REPO, SCHEMA, SHARED_DATA

CHEST = SHARED_DATA / "chest_xray"
SPLIT = {"seed": 0, "val_fraction": 0.25, "test_fraction": 0.2}


def _prepare(spec: dict, out: Path, split=SPLIT, **kw):
    kw.setdefault("workers", 1)
    prepare_dataset(spec, 32, 1, dict(split), out / "p.npz", out / "p.csv", progress=False, **kw)
    return load_npz(out / "p.npz"), pd.read_csv(out / "p.csv", dtype=str, keep_default_na=False)


def _groups_by_split(manifest: pd.DataFrame) -> dict[str, set[str]]:
    return {s: set(manifest.group[manifest.split == s]) for s in ("train", "val", "test")}


def _kaggle_like(root: Path, persons: dict[str, int], normal: int = 8, test: bool = True) -> Path:
    """``train/{NORMAL,PNEUMONIA}`` with Kaggle's file names: ``person{N}_bacteria_{M}.jpeg`` (``persons``:
    person -> images) and ``IM-{K}-0001.jpeg``; real X-rays copied in. ``test``: a small test split too."""
    pool = sorted((CHEST / "train" / "PNEUMONIA").iterdir())
    normals = sorted((CHEST / "train" / "NORMAL").iterdir())
    k = 0
    (root / "train" / "PNEUMONIA").mkdir(parents=True)
    for person, n in persons.items():
        for _ in range(n):
            shutil.copy(pool[k], root / "train" / "PNEUMONIA" / f"{person}_bacteria_{k}.jpeg")
            k += 1
    (root / "train" / "NORMAL").mkdir(parents=True)
    for i in range(normal):
        shutil.copy(normals[i], root / "train" / "NORMAL" / f"IM-{i // 2:04d}-000{i % 2 + 1}.jpeg")
    if test:
        for cls, names in (("NORMAL", ["IM-0900-0001"]), ("PNEUMONIA", ["person900_virus_1"])):
            (root / "test" / cls).mkdir(parents=True)
            shutil.copy(pool[-1] if cls == "PNEUMONIA" else normals[-1], root / "test" / cls / f"{names[0]}.jpeg")
    return root


# --------------------------------------------------------------------------- the overlap table


def test_overlap_table_counts_groups_and_images():
    splits = ["train"] * 5 + ["val"] * 2 + ["test"] * 3
    groups = ["a", "a", "b", "c", "d", "a", "e", "d", "d", "f"]
    rows = {(r["split_a"], r["split_b"]): r for r in overlap_table(splits, groups)}
    assert rows["train", "val"] | {} == {"split_a": "train", "split_b": "val", "groups_a": 4, "groups_b": 2,
                                         "shared_groups": 1, "images_a": 2, "images_b": 1, "example": "a"}  # fmt: skip
    assert (rows["train", "test"]["shared_groups"], rows["train", "test"]["images_a"]) == (1, 1)
    assert (rows["train", "test"]["images_b"], rows["train", "test"]["example"]) == (2, "d")
    assert rows["val", "test"]["shared_groups"] == 0 and rows["val", "test"]["example"] == ""
    assert overlap_table(splits, None) == []


# --------------------------------------------------------------------------- carving by group


@pytest.mark.parametrize("seed", range(12))
def test_carved_splits_never_share_a_group(seed):
    """Random group sizes (1..30 images), 2-4 classes with a group's images of one class or mixed:
    no group on two sides, every class in every split, each carved split near its fraction."""
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(40, 200))
    sizes = rng.integers(1, 31, n_groups) if seed % 2 else rng.geometric(0.3, n_groups)
    k = int(rng.integers(2, 5))
    groups = np.repeat([f"p{g}" for g in range(n_groups)], sizes).astype(object)
    labels = np.repeat(rng.integers(0, k, n_groups), sizes)
    if seed % 3 == 0:  # some groups hold images of two classes (a patient seen for two findings)
        flip = rng.random(len(labels)) < 0.1
        labels = np.where(flip, rng.integers(0, k, len(labels)), labels)
    split = {"seed": seed, "val_fraction": 0.1, "test_fraction": 0.2}
    classes = [f"c{i}" for i in range(k)]
    idx, notes = _assign_splits([None] * len(labels), labels, groups, split, classes)
    seen = {s: set(groups[i]) for s, i in idx.items()}
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    assert sum(len(i) for i in idx.values()) == len(labels)
    for s in ("val", "test"):
        assert all(np.any(labels[idx[s]] == c) for c in range(k)), (s, np.bincount(labels[idx[s]]))
    # by group the sizes are coarse (one fold of round(1 / f) folds), but never far off
    assert 0.1 < len(idx["test"]) / len(labels) < 0.3
    assert 0.03 < len(idx["val"]) / (len(idx["train"]) + len(idx["val"])) < 0.2
    assert {n for n in notes if n} == {
        f"carved from train (test_fraction=0.2, seed={seed}, by group)",
        f"carved from train (val_fraction=0.1, seed={seed}, by group)",
    }


def test_kaggle_person_names_keep_each_person_on_one_side(tmp_path):
    """Kaggle's layout (no val split): by image the carved validation split shares persons with train;
    with group_pattern it never does, and the manifest records each image's person."""
    rng = np.random.default_rng(0)
    persons = {f"person{i}": int(n) for i, n in enumerate(rng.integers(1, 7, 16), start=1)}
    root = _kaggle_like(tmp_path / "kaggle", persons)
    spec = {"source": "folder", "path": str(root)}
    _, plain = _prepare(spec, tmp_path / "plain")
    person = plain.source.str.extract(r"(person\d+|IM-\d+)")[0]
    leaked = set(person[plain.split == "val"]) & set(person[plain.split == "train"])
    assert leaked, "this layout leaks persons when split by image"  # what grouping is for

    validate_dataset_spec("kaggle", {**spec, "group_pattern": KAGGLE_CHEST_GROUP_PATTERN})
    _, grouped = _prepare({**spec, "group_pattern": KAGGLE_CHEST_GROUP_PATTERN}, tmp_path / "grouped")
    by = _groups_by_split(grouped)
    assert by["val"] and not by["val"] & by["train"]
    assert set(grouped.group[grouped.source.str.contains("person3_")]) == {"person3"}
    assert set(grouped.group[grouped.source.str.endswith("IM-0001-0002.jpeg")]) == {"IM-0001"}
    assert (grouped.note[grouped.split == "val"].str.endswith(", by group)")).all()
    table = manifest_overlap(tmp_path / "grouped" / "p.csv").set_index(["split_a", "split_b"])
    assert table.loc[("train", "val"), "shared_groups"] == 0 and table.loc[("train", "val"), "carved"] == "val"
    assert table.loc[("train", "val"), "groups_b"] == len(by["val"])
    assert table.loc[("train", "test"), "note"] == "no group on both sides"
    plain_table = manifest_overlap(tmp_path / "plain" / "p.csv")
    assert set(plain_table.note) == {"no groups: the images were split one by one"} and len(plain_table) == 3


def test_own_splits_sharing_groups_are_reported_or_refused(tmp_path, caplog):
    """A dataset's own train and test splits share a person: kept as they are and reported (a log line with
    the counts); under group_overlap: error, one line and nothing written."""
    root = _kaggle_like(tmp_path / "kaggle", {"person1": 3, "person2": 2, "person3": 2, "person4": 2})
    shutil.copy(next((root / "train" / "PNEUMONIA").iterdir()), root / "test" / "PNEUMONIA" / "person2_virus_9.jpeg")
    spec = {"source": "folder", "path": str(root), "group_pattern": r"(person\d+|IM-\d+)"}
    split = {"seed": 0, "val_fraction": 0.3}
    with caplog.at_level(logging.WARNING, logger="ganaug.data.prepare"):
        _, manifest = _prepare(spec, tmp_path / "report", split=split)
    lines = [r.getMessage() for r in caplog.records if "share groups" in r.getMessage()]
    assert lines == [
        "the dataset's own splits share groups: 1 of 3 test groups are also in train "
        "(2 train / 1 test images, e.g. 'person2')"
    ]
    assert "person2" in set(manifest.group[manifest.split == "test"])
    out = tmp_path / "strict"
    out.mkdir()
    with pytest.raises(ValueError) as info:
        _prepare(spec, out, split={**split, "group_overlap": "error"})
    assert "\n" not in str(info.value) and "group_overlap: error" in str(info.value)
    assert not list(out.iterdir())


def test_csv_own_splits_sharing_a_lesion_are_reported(tmp_path, caplog):
    """HAM10000 rows with the csv's own split column, one lesion on both sides: reported, not refused."""
    meta = pd.read_csv(SHARED_DATA / "ham10000" / "HAM10000_metadata.csv")
    multi = meta[meta.lesion_id.duplicated(keep=False)]
    rows = pd.concat([multi[multi.dx == dx].head(16) for dx in ("bkl", "mel", "nv")]).reset_index(drop=True)
    rows["split"] = ["test" if i % 16 in (0, 12, 13, 14, 15) else "train" for i in range(len(rows))]
    rows.to_csv(tmp_path / "meta.csv", index=False)
    spec = {"source": "csv", "path": str(SHARED_DATA / "ham10000"), "csv": str(tmp_path / "meta.csv"),
            "image_dir": "images", "group_column": "lesion_id", "split_column": "split"}  # fmt: skip
    shared = set(rows.lesion_id[rows.split == "train"]) & set(rows.lesion_id[rows.split == "test"])
    assert shared
    with caplog.at_level(logging.WARNING, logger="ganaug.data.prepare"):
        _, manifest = _prepare(spec, tmp_path, split={"seed": 0, "val_fraction": 0.3})
    assert any(f"{len(shared)} of " in r.getMessage() for r in caplog.records if "share groups" in r.getMessage())
    by = _groups_by_split(manifest)
    assert not by["val"] & by["train"]  # the carved split still never shares one


# --------------------------------------------------------------------------- PACS folder trees and DICOM patients


def _pacs_tree(root: Path, flat: Path | None = None) -> dict[str, str]:
    """``train/{A,B}/{patient}/{study}/{series}/{UID}`` DICOM files (no extension), a DICOMDIR at the top and in
    a class folder, a readme, a hidden file; ``flat``: the same files laid flat in class folders. -> file: patient."""
    rng = np.random.default_rng(3)
    patients = {}
    number = 0
    for cls in ("A", "B"):
        for p in range(4):
            pid = f"{cls}{p:03d}"
            for study in range(2):
                series = root / "train" / cls / f"PAT_{pid}" / f"STUDY_{study}" / "SERIES_1"
                series.mkdir(parents=True)
                for _ in range(2):
                    number += 1
                    uid = f"1.2.826.0.1.3680043.8.498.77.{number}"
                    stored = rng.integers(0, 4096, (40, 48)).astype(np.uint16)
                    write_dicom(series / uid, stored, window=(2048.0, 4096.0), number=number, patient_id=pid)
                    patients[str(series / uid)] = pid
                    if flat is not None:
                        (flat / "train" / cls).mkdir(parents=True, exist_ok=True)
                        shutil.copy(series / uid, flat / "train" / cls / uid)
    (root / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")  # an index, not an image
    (root / "train" / "A" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    (root / "train" / "B" / "PAT_B000" / "README.TXT").write_text("exported by PACS\n")
    (root / "train" / "B" / "PAT_B001" / ".DS_Store").write_bytes(b"\0\1")
    return patients


def test_pacs_tree_reads_as_the_flat_files_and_groups_by_patient(tmp_path):
    flat = tmp_path / "flat"
    patients = _pacs_tree(tmp_path / "pacs", flat=flat)
    spec = {"source": "folder", "path": str(tmp_path / "pacs"), "group": "dicom_patient"}
    validate_dataset_spec("pacs", spec)
    data, manifest = _prepare(spec, tmp_path / "nested", split={"seed": 0, "val_fraction": 0.25, "test_fraction": 0.25})
    assert len(manifest) == len(patients) and set(manifest.source) == set(patients)  # DICOMDIR, readme: not images
    assert all(patients[s] == g for s, g in zip(manifest.source, manifest.group))
    by = _groups_by_split(manifest)
    assert not by["train"] & by["val"] and not by["train"] & by["test"] and not by["val"] & by["test"]
    flat_data, flat_manifest = _prepare({"source": "folder", "path": str(flat)}, tmp_path / "flat_out",
                                        split={"seed": 0, "val_fraction": 0.25, "test_fraction": 0.25})  # fmt: skip
    pixels = {Path(r.source).name: data[f"{r.split}_images"][int(r.index)] for r in manifest.itertuples()}
    flat_pixels = {
        Path(r.source).name: flat_data[f"{r.split}_images"][int(r.index)] for r in flat_manifest.itertuples()
    }
    assert pixels.keys() == flat_pixels.keys()
    assert all(np.array_equal(pixels[k], flat_pixels[k]) for k in pixels)  # the layout changes nothing else


def test_dicom_without_patient_id_is_one_line(tmp_path):
    _pacs_tree(tmp_path / "pacs")
    lone = tmp_path / "pacs" / "train" / "A" / "PAT_A000" / "STUDY_0" / "SERIES_1" / "1.2.3.999"
    write_dicom(lone, np.zeros((8, 8), np.uint16), number=999)
    with pytest.raises(ValueError) as info:
        _prepare({"source": "folder", "path": str(tmp_path / "pacs"), "group": "dicom_patient"}, tmp_path)
    assert str(info.value) == f"{lone}: has no PatientID (0010,0020); group: dicom_patient needs one in every file"


def test_symlinked_folders_are_followed_once(tmp_path):
    root = _kaggle_like(tmp_path / "ds", {"person1": 2, "person2": 2, "person3": 2}, normal=6, test=False)
    outside = tmp_path / "elsewhere" / "batch2"
    outside.mkdir(parents=True)
    shutil.copy(next((root / "train" / "NORMAL").iterdir()), outside / "IM-0777-0001.jpeg")
    os.symlink(outside, root / "train" / "NORMAL" / "batch2")  # a linked folder of more images
    os.symlink(root / "train", root / "train" / "PNEUMONIA" / "loop")  # a link back up the tree
    from ganaug.data.sources import list_folder_items

    items, _ = list_folder_items({"source": "folder", "path": str(root / "train")})
    names = [Path(it.path).name for it in items]
    assert names.count("IM-0777-0001.jpeg") == 1 and len(names) == len(set(it.path for it in items)) == 6 + 1 + 6


def test_group_pattern_that_misses_a_file_names_it(tmp_path):
    root = _kaggle_like(tmp_path / "ds", {"person1": 2, "person2": 2}, normal=4, test=False)
    with pytest.raises(ValueError) as info:
        _prepare({"source": "folder", "path": str(root), "group_pattern": r"person(\d+)_"}, tmp_path)
    msg = str(info.value)
    assert msg.startswith(str(root / "train" / "NORMAL" / "IM-0000-0001.jpeg"))
    assert "does not match its path below the dataset root ('train/NORMAL/IM-0000-0001.jpeg')" in msg


def test_group_csv_maps_files_to_groups(tmp_path):
    root = _kaggle_like(tmp_path / "ds", {f"person{i}": 2 for i in range(6)}, normal=12, test=False)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpeg"))
    table = pd.DataFrame({"file": files, "group": [f"g{i // 2}" for i in range(len(files))]})
    table.to_csv(root / "groups.csv", index=False)
    spec = {"source": "folder", "path": str(root), "group_csv": "groups.csv"}
    validate_dataset_spec("ds", spec)
    _, manifest = _prepare(spec, tmp_path, split={"seed": 1, "val_fraction": 0.3, "test_fraction": 0.3})
    want = dict(zip(table.file, table.group))
    assert all(want[Path(s).relative_to(root).as_posix()] == g for s, g in zip(manifest.source, manifest.group))
    table.iloc[:-1].to_csv(root / "groups.csv", index=False)
    with pytest.raises(ValueError, match=r"no group for 'train/PNEUMONIA/.*' in .*groups.csv"):
        _prepare(spec, tmp_path / "x")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"group_pattern": "person"}, "has 0 capture groups; it needs exactly one"),
        ({"group_pattern": r"(person)(\d+)"}, "has 2 capture groups"),
        ({"group_pattern": "(person"}, "is not a regular expression"),
        ({"group": "lesion"}, "datasets.ds.group = 'lesion' is not allowed; choose one of 'dicom_patient'"),
        ({"group_csv": "nope.csv"}, "datasets.ds.group_csv: 'nope.csv' does not exist"),
        ({"group_pattern": "(p)", "group": "dicom_patient"}, "give at most one of group_pattern, group, group_csv"),
    ],
)
def test_group_settings_are_checked(tmp_path, extra, message):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())  # every dataset entry is checked
    cfg["datasets"]["ds"] = {"source": "folder", "path": str(tmp_path), **extra}
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, SCHEMA)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_group_pattern_on_a_csv_dataset_is_refused():
    with pytest.raises(ValueError, match=r"datasets.ham.group_pattern: applies to folder datasets; .*group_column"):
        validate_dataset_spec("ham", {"source": "csv", "path": str(SHARED_DATA / "ham10000"),
                                      "csv": "HAM10000_metadata.csv", "group_pattern": "(x)"})  # fmt: skip


# --------------------------------------------------------------------------- the shipped sample


def test_shipped_sample_is_the_kaggle_folder_at_32px(tmp_path):
    """config.yaml's sample and config/chest_xray.yaml's folder prepare the same pixels, labels, splits and
    persons; the file is small, loads without pickles, and its md5 is the one config.yaml checks."""
    from ganaug.data.download import md5sum

    path = REPO / SAMPLE_PATH
    assert path.stat().st_size < 6_000_000
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    spec = default["datasets"][default["experiment"]["dataset"]]
    assert spec["path"] == SAMPLE_PATH and md5sum(path) == spec["md5"]
    sample = load_npz(path)
    assert {k: v.shape for k, v in sample.items()} == {
        "train_images": (5216, 32, 32), "train_labels": (5216,), "train_groups": (5216,), "train_names": (5216,),
        "test_images": (624, 32, 32), "test_labels": (624,), "test_groups": (624,), "test_names": (624,),
    }  # fmt: skip
    full = yaml.safe_load((REPO / "config" / "chest_xray.yaml").read_text())["datasets"]["chest_xray"]
    assert full["group_pattern"] == KAGGLE_CHEST_GROUP_PATTERN
    split = default["experiment"]["split"]
    a, ma = _prepare({**spec, "path": str(path)}, _mk(tmp_path / "sample"), split=split, workers=2)
    b, mb = _prepare({**full, "path": str(CHEST)}, _mk(tmp_path / "folder"), split=split, workers=2)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert ma.group.tolist() == mb.group.tolist() and ma.split.tolist() == mb.split.tolist()
    assert [s.rsplit(":", 1)[1] for s in ma.source] == [Path(s).relative_to(CHEST).as_posix() for s in mb.source]
    # rebuilding it from the folder gives the same arrays
    build_sample(CHEST, tmp_path / "rebuilt.npz")
    rebuilt = load_npz(tmp_path / "rebuilt.npz")
    assert rebuilt.keys() == sample.keys() and all(np.array_equal(rebuilt[k], sample[k]) for k in sample)


def _mk(p: Path) -> Path:
    p.mkdir(parents=True)
    return p


def test_a_damaged_sample_is_one_line(tmp_path):
    damaged = tmp_path / "chest_xray_32px.npz"
    damaged.write_bytes((REPO / SAMPLE_PATH).read_bytes()[:-10] + b"0123456789")
    spec = {"source": "medmnist", "path": str(damaged), "md5": "267a8cb06656155d3a2a189ec23e1614",
            "class_names": ["NORMAL", "PNEUMONIA"]}  # fmt: skip
    with pytest.raises(ValueError) as info:
        _prepare(spec, _mk(tmp_path / "out"))
    assert str(info.value).startswith(f"{damaged}: md5 ") and "does not match the config's md5" in str(info.value)
    assert not list((tmp_path / "out").iterdir())


def test_too_few_images_to_carve_by_group_is_one_line():
    """A 10 % validation split by group needs 10 folds: 8 images per class cannot give them."""
    labels = np.repeat([0, 1], 8)
    groups = np.array([f"p{i}" for i in range(16)], dtype=object)
    with pytest.raises(ValueError) as info:
        _assign_splits(["train"] * 8 + ["test"] * 0 + ["train"] * 8, labels, groups, {"val_fraction": 0.1},
                       ["NORMAL", "PNEUMONIA"])  # fmt: skip
    msg = str(info.value)
    assert msg.startswith(
        "cannot carve a group-aware val split (val_fraction=0.1, 10 folds) from 16 images of 16 groups"
    )
    assert "class counts {'NORMAL': 8, 'PNEUMONIA': 8}" in msg and "\n" not in msg
