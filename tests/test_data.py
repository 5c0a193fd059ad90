"""Tests of ganaug.data on small slices of the real datasets in ../shared/data."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganaug.data import (
    class_counts,
    decode_image,
    download,
    load_prepared,
    prepare_dataset,
    subsample,
    validate_dataset_spec,
    write_subsample,
)
from ganaug.io import load_npz, save_npz

SPLIT = {"seed": 0, "val_fraction": 0.1, "test_fraction": 0.2}
N_TRAIN, N_TEST = 20, 6  # chest X-ray images per class in the slices


# --------------------------------------------------------------------------- slices of the real data


def _link_images(src_dir: Path, dst_dir: Path, n: int, offset: int = 0) -> list[Path]:
    dst_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(src_dir.glob("*.jpeg"))[offset : offset + n]
    assert len(files) == n, f"expected {n} images in {src_dir}"
    for f in files:
        (dst_dir / f.name).symlink_to(f)
    return files


def _chest_split_layout(shared: Path, root: Path, test_classes=("NORMAL", "PNEUMONIA")) -> Path:
    for cls in ("NORMAL", "PNEUMONIA"):
        _link_images(shared / "chest_xray" / "train" / cls, root / "train" / cls, N_TRAIN)
    for cls in test_classes:
        _link_images(shared / "chest_xray" / "test" / cls, root / "test" / cls, N_TEST)
    return root


def _chest_flat_layout(shared: Path, root: Path) -> Path:
    for cls in ("NORMAL", "PNEUMONIA"):
        _link_images(shared / "chest_xray" / "train" / cls, root / cls, N_TRAIN)
    return root


@pytest.fixture(scope="module")
def chest_split(shared_data, tmp_path_factory) -> Path:
    return _chest_split_layout(shared_data, tmp_path_factory.mktemp("chest_split"))


@pytest.fixture(scope="module")
def chest_flat(shared_data, tmp_path_factory) -> Path:
    return _chest_flat_layout(shared_data, tmp_path_factory.mktemp("chest_flat"))


@pytest.fixture(scope="module")
def ham_slice(shared_data, tmp_path_factory) -> dict:
    """A csv of ~60 HAM10000 rows: 10 lesions of each of bkl, mel, nv, mostly with several images."""
    meta = pd.read_csv(shared_data / "ham10000" / "HAM10000_metadata.csv")
    size = meta.groupby("lesion_id").size()
    keep = []
    for dx in ("bkl", "mel", "nv"):
        lesions = sorted(meta.loc[meta.dx == dx, "lesion_id"].unique())
        multi = [lid for lid in lesions if size[lid] >= 2][:7]
        single = [lid for lid in lesions if size[lid] == 1][:3]
        keep += multi + single
    rows = meta[meta.lesion_id.isin(keep)]
    root = tmp_path_factory.mktemp("ham")
    rows.to_csv(root / "meta.csv", index=False)
    return {
        "spec": {
            "source": "csv",
            "path": str(root),
            "csv": "meta.csv",
            "image_dir": str(shared_data / "ham10000" / "images"),
            "id_column": "image_id",
            "label_column": "dx",
            "group_column": "lesion_id",
        },
        "rows": rows,
    }


def _prepare(spec, tmp_path, name="out", resolution=32, channels=1, split_cfg=SPLIT, **kw):
    npz, manifest = tmp_path / f"{name}.npz", tmp_path / f"{name}.csv"
    summary = prepare_dataset(spec, resolution, channels, split_cfg, npz, manifest, progress=False, **kw)
    return summary, load_npz(npz), pd.read_csv(manifest, keep_default_na=False, dtype={"label_name": str})


def _check_layout(data: dict, manifest: pd.DataFrame, summary: dict, resolution: int, channels: int) -> None:
    classes = data["classes"].tolist()
    assert data["classes"].dtype.kind == "U"
    assert list(manifest.columns) == ["split", "index", "label", "label_name", "source", "note", "group"]
    for split in ("train", "val", "test"):
        x, y = data[f"{split}_images"], data[f"{split}_labels"]
        assert x.dtype == np.uint8 and y.dtype == np.int64
        assert x.shape == (len(y), resolution, resolution, channels)
        assert class_counts(y, classes) == summary[split]
        rows = manifest[manifest.split == split].sort_values("index")
        assert rows["index"].tolist() == list(range(len(y)))
        assert rows["label"].tolist() == y.tolist()
        assert rows["label_name"].tolist() == [classes[i] for i in y]


# --------------------------------------------------------------------------- folder source


def test_folder_with_split_folders_keeps_test_and_carves_val(chest_split, tmp_path):
    spec = {"source": "folder", "path": str(chest_split)}
    summary, data, manifest = _prepare(spec, tmp_path)
    assert data["classes"].tolist() == ["NORMAL", "PNEUMONIA"]
    _check_layout(data, manifest, summary, 32, 1)
    assert summary["test"] == {"NORMAL": N_TEST, "PNEUMONIA": N_TEST}
    assert summary["val"] == {"NORMAL": 2, "PNEUMONIA": 2}  # 10 % of 40, stratified
    assert summary["train"] == {"NORMAL": N_TRAIN - 2, "PNEUMONIA": N_TRAIN - 2}
    # the test split is the dataset's own; val is carved from train and says so
    test_rows = manifest[manifest.split == "test"]
    assert all("/test/" in s for s in test_rows.source) and set(test_rows.note) == {""}
    val_rows = manifest[manifest.split == "val"]
    assert all("/train/" in s for s in val_rows.source)
    assert all(n.startswith("carved from train") for n in val_rows.note)
    assert manifest.source.is_unique and len(manifest) == 2 * N_TRAIN + 2 * N_TEST
    # every manifest row points at the file its array row was decoded from
    for split in ("train", "val", "test"):
        row = manifest[manifest.split == split].iloc[-1]
        np.testing.assert_array_equal(decode_image(row.source, 32, 1), data[f"{split}_images"][row["index"]])


def test_flat_class_folders_carve_test_then_val(chest_flat, tmp_path):
    spec = {"source": "folder", "path": str(chest_flat)}
    summary, data, manifest = _prepare(spec, tmp_path)
    _check_layout(data, manifest, summary, 32, 1)
    assert summary["test"] == {"NORMAL": 4, "PNEUMONIA": 4}  # 20 % of 40
    assert sum(summary["val"].values()) == 4  # 10 % of the 32 left, rounded up
    assert sum(summary["train"].values()) == 2 * N_TRAIN - 8 - 4
    assert set(manifest.split) == {"train", "val", "test"}


def test_folder_class_order_and_determinism(chest_flat, tmp_path):
    spec = {"source": "folder", "path": str(chest_flat), "classes": ["PNEUMONIA", "NORMAL"]}
    _, first, man1 = _prepare(spec, tmp_path, "a", workers=2)
    _, second, man2 = _prepare(spec, tmp_path, "b", workers=1)
    assert first["classes"].tolist() == ["PNEUMONIA", "NORMAL"]
    assert set(first) == set(second)
    for key in first:
        assert first[key].dtype == second[key].dtype
        assert first[key].tobytes() == second[key].tobytes(), key
    pd.testing.assert_frame_equal(man1, man2)
    # the label follows the listed order: PNEUMONIA images get label 0
    train = man1[man1.split == "train"]
    assert set(train[train.label == 0].label_name) == {"PNEUMONIA"}
    assert all("/PNEUMONIA/" in s for s in train[train.label == 0].source)


@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 3), (64, 1)])
def test_resolution_and_channels(chest_flat, tmp_path, resolution, channels):
    spec = {"source": "folder", "path": str(chest_flat)}
    summary, data, manifest = _prepare(spec, tmp_path, resolution=resolution, channels=channels)
    _check_layout(data, manifest, summary, resolution, channels)


def test_grayscale_is_the_luma_of_rgb(chest_flat, tmp_path):
    spec = {"source": "folder", "path": str(chest_flat)}
    _, gray, _ = _prepare(spec, tmp_path, "g", channels=1)
    _, rgb, _ = _prepare(spec, tmp_path, "c", channels=3)
    luma = rgb["train_images"].astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(luma - gray["train_images"][..., 0]).max() <= 2.0
    assert gray["train_images"].std() > 10  # real content, not a constant


# --------------------------------------------------------------------------- csv source


def test_csv_groups_never_cross_splits(ham_slice, tmp_path):
    spec, rows = ham_slice["spec"], ham_slice["rows"]
    split_cfg = {"seed": 0, "val_fraction": 0.25, "test_fraction": 0.25}
    summary, data, manifest = _prepare(spec, tmp_path, resolution=28, channels=3, split_cfg=split_cfg)
    _check_layout(data, manifest, summary, 28, 3)
    assert data["classes"].tolist() == ["bkl", "mel", "nv"]
    assert len(manifest) == len(rows)
    lesion_of = dict(zip(rows.image_id, rows.lesion_id))
    lesions = {
        split: {lesion_of[Path(s).stem] for s in manifest.source[manifest.split == split]}
        for split in ("train", "val", "test")
    }
    assert not lesions["train"] & lesions["val"]
    assert not lesions["train"] & lesions["test"]
    assert not lesions["val"] & lesions["test"]
    for split in ("train", "val", "test"):
        assert all(n > 0 for n in summary[split].values()), (split, summary[split])
    # colour images really have three different channels
    x = data["train_images"].astype(int)
    assert np.abs(x[..., 0] - x[..., 2]).mean() > 5
    # the labels match the csv
    dx_of = dict(zip(rows.image_id, rows.dx))
    assert all(dx_of[Path(s).stem] == n for s, n in zip(manifest.source, manifest.label_name))


def test_csv_without_label_column(ham_slice, tmp_path):
    spec = dict(ham_slice["spec"], label_column="diagnosis")
    with pytest.raises(ValueError, match=r"meta\.csv: has no label_column 'diagnosis'"):
        _prepare(spec, tmp_path)


def test_csv_rows_naming_missing_files(ham_slice, tmp_path):
    rows = ham_slice["rows"].copy()
    rows.iloc[0, rows.columns.get_loc("image_id")] = "ISIC_NOPE_1"
    rows.iloc[1, rows.columns.get_loc("image_id")] = "ISIC_NOPE_2"
    rows.to_csv(tmp_path / "broken.csv", index=False)
    spec = dict(ham_slice["spec"], path=str(tmp_path), csv="broken.csv")
    with pytest.raises(ValueError, match=r"broken\.csv: 2 row\(s\) name missing image files.*ISIC_NOPE_1\.jpg"):
        _prepare(spec, tmp_path)


# --------------------------------------------------------------------------- medmnist source


def test_medmnist_local_npz(shared_data, tmp_path):
    src = load_npz(shared_data / "breastmnist.npz")
    spec = {"source": "medmnist", "path": str(shared_data / "breastmnist.npz"), "class_names": ["malignant", "benign"]}
    summary, data, manifest = _prepare(spec, tmp_path, resolution=28, channels=1)
    _check_layout(data, manifest, summary, 28, 1)
    assert summary == {
        "train": {"malignant": 147, "benign": 399},
        "val": {"malignant": 21, "benign": 57},
        "test": {"malignant": 42, "benign": 114},
    }
    for split in ("train", "val", "test"):  # same size and channels: copied unchanged
        np.testing.assert_array_equal(data[f"{split}_images"][..., 0], src[f"{split}_images"])
        np.testing.assert_array_equal(data[f"{split}_labels"], src[f"{split}_labels"])
    assert manifest.source.iloc[0] == f"npz:{shared_data / 'breastmnist.npz'}:train:0"


def test_medmnist_column_labels_and_resize(shared_data, tmp_path):
    src = load_npz(shared_data / "breastmnist.npz")
    copy = {k: (v[:, None] if k.endswith("_labels") else v) for k, v in src.items()}
    save_npz(tmp_path / "official_layout.npz", copy)
    spec = {"source": "medmnist", "path": str(tmp_path / "official_layout.npz")}
    summary, data, manifest = _prepare(spec, tmp_path, resolution=32, channels=3)
    _check_layout(data, manifest, summary, 32, 3)
    assert data["classes"].tolist() == ["0", "1"]
    np.testing.assert_array_equal(data["test_labels"], src["test_labels"])
    x = data["train_images"]
    assert np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 0], x[..., 2])
    assert abs(x.mean() - src["train_images"].mean()) < 2.0  # bicubic keeps the brightness


def test_medmnist_npz_missing_key(shared_data, tmp_path):
    src = load_npz(shared_data / "breastmnist.npz")
    save_npz(tmp_path / "nolabels.npz", {"train_images": src["train_images"]})
    spec = {"source": "medmnist", "path": str(tmp_path / "nolabels.npz")}
    with pytest.raises(ValueError, match=r"nolabels\.npz: missing array\(s\) train_labels"):
        _prepare(spec, tmp_path)


# --------------------------------------------------------------------------- download


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_file_url(shared_data, tmp_path, monkeypatch):
    src = shared_data / "breastmnist.npz"
    dest = tmp_path / "raw" / "breastmnist.npz"
    out = download(src.as_uri(), dest, _md5(src), progress=False)
    assert out == dest and dest.read_bytes() == src.read_bytes()
    assert os.listdir(dest.parent) == ["breastmnist.npz"]  # no temp file left
    # present with the right md5: not fetched again
    import urllib.request

    def no_network(*a, **k):
        raise AssertionError("downloaded although the file was present")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert download(src.as_uri(), dest, _md5(src), progress=False) == dest


def test_download_md5_mismatch_leaves_nothing(shared_data, tmp_path):
    src = shared_data / "breastmnist.npz"
    dest = tmp_path / "raw" / "breastmnist.npz"
    with pytest.raises(ValueError, match=rf"md5 mismatch for .*breastmnist\.npz.*expected {'0' * 32}, got {_md5(src)}"):
        download(src.as_uri(), dest, "0" * 32, progress=False)
    assert not dest.exists()
    assert os.listdir(dest.parent) == []


def test_download_unreachable_url(tmp_path):
    dest = tmp_path / "raw" / "x.npz"
    with pytest.raises(RuntimeError) as info:
        download("file:///nonexistent/x.npz", dest, "a" * 32, progress=False)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("could not download file:///nonexistent/x.npz (")
    assert msg.endswith(f"fetch it by hand and save it as {dest} (md5 {'a' * 32})")
    assert not dest.exists()
    assert not dest.parent.exists() or os.listdir(dest.parent) == []


# --------------------------------------------------------------------------- bad inputs


def _flat_copy(shared: Path, root: Path) -> Path:
    return _chest_flat_layout(shared, root)


def test_truncated_jpeg_error_and_skip(shared_data, tmp_path):
    root = _flat_copy(shared_data, tmp_path / "ds")
    good = sorted((shared_data / "chest_xray" / "train" / "NORMAL").glob("*.jpeg"))[-1]
    data = good.read_bytes()
    (root / "NORMAL" / "zz_truncated.jpeg").write_bytes(data[: len(data) // 2])
    spec = {"source": "folder", "path": str(root)}
    with pytest.raises(ValueError, match=r"zz_truncated\.jpeg: cannot decode image .*truncated"):
        _prepare(spec, tmp_path, on_bad_image="error")
    summary, arrays, manifest = _prepare(spec, tmp_path, on_bad_image="skip")
    skipped = manifest[manifest.split == "skipped"]
    assert len(skipped) == 1
    assert skipped.source.iloc[0].endswith("zz_truncated.jpeg")
    assert skipped.label_name.iloc[0] == "NORMAL" and "truncated" in skipped.note.iloc[0]
    assert sum(sum(c.values()) for c in summary.values()) == 2 * N_TRAIN
    _check_layout(arrays, manifest, summary, 32, 1)


def test_non_image_file(shared_data, tmp_path):
    root = _flat_copy(shared_data, tmp_path / "ds")
    (root / "PNEUMONIA" / "notes.jpeg").write_text("<html>403 Forbidden</html>\n")
    with pytest.raises(ValueError, match=r"PNEUMONIA/notes\.jpeg: cannot decode image"):
        _prepare({"source": "folder", "path": str(root)}, tmp_path)


def test_empty_class_folder(shared_data, tmp_path):
    root = _flat_copy(shared_data, tmp_path / "ds")
    (root / "COVID").mkdir()
    (root / "COVID" / ".DS_Store").write_bytes(b"\0")
    with pytest.raises(ValueError, match=r"class folder '.*COVID' is empty"):
        _prepare({"source": "folder", "path": str(root)}, tmp_path)


def test_class_missing_from_test_split(shared_data, tmp_path):
    root = _chest_split_layout(shared_data, tmp_path / "ds", test_classes=("NORMAL",))
    with pytest.raises(ValueError, match=r"class 'PNEUMONIA' is present in train but absent from the test split"):
        _prepare({"source": "folder", "path": str(root)}, tmp_path)


def test_bad_arguments(chest_flat, tmp_path):
    spec = {"source": "folder", "path": str(chest_flat)}
    with pytest.raises(ValueError, match="on_bad_image: 'ignore'"):
        _prepare(spec, tmp_path, on_bad_image="ignore")
    with pytest.raises(ValueError, match="channels: 2 must be 1 or 3"):
        _prepare(spec, tmp_path, channels=2)
    with pytest.raises(ValueError, match=r"cannot carve a stratified test split"):
        _prepare(spec, tmp_path, split_cfg={"seed": 0, "val_fraction": 0.1, "test_fraction": 0.01})


# --------------------------------------------------------------------------- load_prepared


def test_load_prepared(shared_data, tmp_path):
    spec = {"source": "medmnist", "path": str(shared_data / "breastmnist.npz"), "class_names": ["malignant", "benign"]}
    _prepare(spec, tmp_path, "p", resolution=28)
    x, y, classes = load_prepared(tmp_path / "p.npz", "val")
    assert x.shape == (78, 28, 28, 1) and y.shape == (78,) and classes == ["malignant", "benign"]
    with pytest.raises(ValueError, match="split: 'valid' must be one of train, val, test"):
        load_prepared(tmp_path / "p.npz", "valid")
    partial = load_npz(tmp_path / "p.npz")
    del partial["test_images"]
    save_npz(tmp_path / "partial.npz", partial)
    with pytest.raises(ValueError, match=r"partial\.npz: split 'test' is missing \(no test_images"):
        load_prepared(tmp_path / "partial.npz", "test")


# --------------------------------------------------------------------------- subsample


@pytest.fixture(scope="module")
def breast_train(shared_data):
    d = load_npz(shared_data / "breastmnist.npz")
    return d["train_images"], d["train_labels"].astype(np.int64), ["malignant", "benign"]


def test_subsample_caps_and_reproducibility(breast_train):
    x, y, classes = breast_train
    caps = {"malignant": 40, "benign": 100}
    sx, sy, idx = subsample(x, y, classes, max_per_class=caps, seed=0)
    assert class_counts(sy, classes) == caps
    assert np.all(np.diff(idx) > 0) and idx.dtype == np.int64
    np.testing.assert_array_equal(sx, x[idx])
    np.testing.assert_array_equal(sy, y[idx])
    _, _, again = subsample(x, y, classes, max_per_class=caps, seed=0)
    np.testing.assert_array_equal(idx, again)
    _, _, other = subsample(x, y, classes, max_per_class=caps, seed=1)
    assert not np.array_equal(idx, other)
    # a cap above the class size keeps the class whole; an unnamed class is kept whole
    _, sy, _ = subsample(x, y, classes, max_per_class={"malignant": 10_000})
    assert class_counts(sy, classes) == {"malignant": 147, "benign": 399}
    # one class's cap does not change the other's draw, and smaller caps select subsets
    _, _, a = subsample(x, y, classes, max_per_class={"malignant": 40, "benign": 100}, seed=3)
    _, _, b = subsample(x, y, classes, max_per_class={"malignant": 20, "benign": 100}, seed=3)
    assert set(b) <= set(a)
    assert set(a[y[a] == 1]) == set(b[y[b] == 1])


def test_subsample_minority_fraction(breast_train):
    x, y, classes = breast_train
    _, sy, _ = subsample(x, y, classes, max_per_class={"benign": 300}, minority_fraction=0.1, seed=0)
    counts = class_counts(sy, classes)
    assert counts == {"malignant": 33, "benign": 300}  # floor(0.1 * 300 / 0.9)
    _, sy, _ = subsample(x, y, classes, minority_fraction=0.5, minority_class="benign", seed=0)
    assert class_counts(sy, classes) == {"malignant": 147, "benign": 147}


def test_subsample_errors(breast_train):
    x, y, classes = breast_train
    with pytest.raises(ValueError, match=r"max_per_class: unknown class 'NORMAL' \(classes: malignant, benign\)"):
        subsample(x, y, classes, max_per_class={"NORMAL": 5})
    with pytest.raises(ValueError, match="minority_class: unknown class 'x'"):
        subsample(x, y, classes, minority_fraction=0.2, minority_class="x")
    with pytest.raises(ValueError, match="minority_fraction: 1.5"):
        subsample(x, y, classes, minority_fraction=1.5)
    with pytest.raises(ValueError, match="max_per_class.benign: -1"):
        subsample(x, y, classes, max_per_class={"benign": -1})


def test_write_subsample(shared_data, tmp_path):
    spec = {"source": "medmnist", "path": str(shared_data / "breastmnist.npz"), "class_names": ["malignant", "benign"]}
    _prepare(spec, tmp_path, "p", resolution=28)
    counts = write_subsample(
        tmp_path / "p.npz", tmp_path / "sub.npz", tmp_path / "sub.csv", max_per_class={"benign": 50}, seed=0
    )
    assert counts == {"malignant": 147, "benign": 50}
    sub = load_npz(tmp_path / "sub.npz", required=("images", "labels", "classes", "indices"))
    x, y, _ = load_prepared(tmp_path / "p.npz", "train")
    np.testing.assert_array_equal(sub["images"], x[sub["indices"]])
    assert sub["classes"].tolist() == ["malignant", "benign"]
    assert len(pd.read_csv(tmp_path / "sub.csv")) == 197


def test_class_counts():
    assert class_counts(np.array([1, 1, 0]), ["a", "b", "c"]) == {"a": 1, "b": 2, "c": 0}
    with pytest.raises(ValueError, match="label 3 is outside 0..2"):
        class_counts(np.array([3]), ["a", "b", "c"])


# --------------------------------------------------------------------------- validate_dataset_spec


def test_validate_accepts_good_specs(shared_data, chest_split, ham_slice):
    validate_dataset_spec("cx", {"source": "folder", "path": str(chest_split)})
    validate_dataset_spec("ham", ham_slice["spec"])
    validate_dataset_spec(
        "ham_full",
        {
            "source": "csv",
            "path": str(shared_data / "ham10000"),
            "csv": "HAM10000_metadata.csv",
            "image_dir": "images",
            "group_column": "lesion_id",
        },
    )
    validate_dataset_spec("b", {"source": "medmnist", "path": str(shared_data / "breastmnist.npz")})
    validate_dataset_spec("p", {"source": "medmnist", "url": "https://example.org/p.npz", "md5": "a" * 32})


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"source": "zip", "path": "."}, r"^datasets\.d\.source: 'zip' is not one of folder, csv, medmnist$"),
        ({"source": "folder"}, r"^datasets\.d\.path: missing"),
        (
            {"source": "folder", "path": "/no/such/dir"},
            r"^datasets\.d\.path: '/no/such/dir' does not exist \(expected a folder of class folders",
        ),
        ({"source": "csv", "path": "HAM"}, r"^datasets\.d\.csv: missing"),
        ({"source": "csv", "path": "HAM", "csv": "nope.csv"}, r"^datasets\.d\.csv: 'nope\.csv' does not exist"),
        (
            {"source": "csv", "path": "HAM", "csv": "HAM10000_metadata.csv", "label_column": "diagnosis"},
            r"^datasets\.d\.label_column: column 'diagnosis' is not in .*HAM10000_metadata\.csv",
        ),
        (
            {"source": "csv", "path": "HAM", "csv": "HAM10000_metadata.csv", "image_dir": "imgs"},
            r"^datasets\.d\.image_dir: 'imgs' is not a directory",
        ),
        ({"source": "medmnist"}, r"^datasets\.d: a medmnist dataset needs 'path'"),
        (
            {"source": "medmnist", "path": "/no/such.npz"},
            r"^datasets\.d\.path: '/no/such\.npz' does not exist \(expected a local MedMNIST npz",
        ),
        ({"source": "medmnist", "url": "ftp://x/y.npz"}, r"^datasets\.d\.url: 'ftp://x/y\.npz' must start with"),
        ({"source": "medmnist", "url": "https://x/y.npz", "md5": "abc"}, r"^datasets\.d\.md5: 'abc' is not"),
        ({"source": "medmnist", "url": "https://x/y.npz"}, r"^datasets\.d\.md5: missing; url 'https://x/y\.npz' needs"),
        (
            {"source": "medmnist", "url": "http://x/y.npz", "md5": "a" * 32},
            r"^datasets\.d\.url: 'http://x/y\.npz' must start with https:// or file://$",
        ),
        ({"source": "folder", "path": ".", "classes": ["a", "a"]}, r"^datasets\.d\.classes: .* repeats a$"),
        ("folder", r"^datasets\.d: expected a mapping"),
    ],
)
def test_validate_rejects(shared_data, spec, match):
    if isinstance(spec, dict) and spec.get("path") == "HAM":
        spec = dict(spec, path=str(shared_data / "ham10000"))
    with pytest.raises(ValueError, match=match) as info:
        validate_dataset_spec("d", spec)
    assert "\n" not in str(info.value)
