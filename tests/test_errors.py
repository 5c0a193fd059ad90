"""Bad input and faults: every case of the tables in docs/failure-modes.md, as the user meets it.

Config cases run `snakemake -n` on a bad config (built from config/tiny.yaml) and check
that it stops at once with one line naming the key, the value and what is allowed, before
anything is written under results/. Data cases use small slices of the real data in
../shared/data. Fault cases kill writers and Snakemake runs.
"""

from __future__ import annotations

import copy
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ganaug.data import download, prepare_dataset
from ganaug.io import load_npz, save_npz, temp_prefix, torch_load

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CHEST = SHARED / "chest_xray"
HAM = SHARED / "ham10000"
ODD_NAME = "my data – ü é 中文"  # spaces and non-ASCII characters in a path


def _env() -> dict:
    """Environment for child processes: the package importable from src/ even where it is not installed."""
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(p for p in (str(REPO / "src"), path) if p))


def tiny_config() -> dict:
    assert CHEST.is_dir(), f"real data missing: {CHEST} (see ../shared/data/README.md)"
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["datasets"]["chest_xray"]["path"] = str(CHEST)
    return cfg


def snakemake(
    work: Path, *args: str, configfile: str = "test.yaml", timeout: float = 300
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *args,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / configfile),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)


def _dry_run(work: Path, cfg: dict | str) -> subprocess.CompletedProcess:
    """Write ``cfg`` as work/test.yaml and run `snakemake -n all` on it."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "test.yaml").write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, allow_unicode=True))
    return snakemake(work, "-n", "all")


def error_line(proc: subprocess.CompletedProcess, work: Path) -> str:
    """The one error line of a dry run that must have failed at parse time, before writing anything."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"snakemake -n accepted the bad config:\n{out[-3000:]}"
    lines = [line for line in out.splitlines() if "invalid configuration:" in line]
    assert len(lines) == 1, f"expected one 'invalid configuration:' line:\n{out[-3000:]}"
    assert not (work / "results").exists(), "a failed dry-run created results/"
    return lines[0]


def _set(cfg: dict, key: str, value) -> dict:
    node = cfg
    *parents, last = key.split(".")
    for k in parents:
        node = node.setdefault(k, {})
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)
    return cfg


_DELETE = object()


def _config_case(key: str, value, *expected: str):
    """A case: set ``key`` to ``value`` in the tiny config; the line must name the key and hold ``expected``."""
    return lambda tmp: (_set(tiny_config(), key, value), [f"config key {key}", *expected])


def _yaml_float(tmp: Path):
    """`1e-4` is a string to YAML 1.1: the line says so and how to write it."""
    text = yaml.safe_dump(_set(tiny_config(), "gan_defaults.lr_g", "LR_G")).replace("LR_G", "1e-4")
    assert "lr_g: 1e-4" in text and yaml.safe_load(text)["gan_defaults"]["lr_g"] == "1e-4"
    return text, [
        "config key gan_defaults.lr_g = '1e-4' is a string",
        "write it as a float with a decimal point, e.g. 1.0e-4",
    ]


def _download_case(entry: dict, *expected: str):
    def build(tmp):
        cfg = tiny_config()
        cfg["datasets"]["breast"] = dict(entry, class_names=["malignant", "benign"])
        return cfg, list(expected)

    return build


CONFIG_CASES = {
    # the model list grows; the line must name the bad value and list the allowed ones (dcgan among them)
    "unknown GAN model": _config_case(
        "gan_defaults.model", "stylegan9", "'stylegan9'", "is not allowed; choose one of", "'dcgan'"
    ),
    "unknown dataset": _config_case("experiment.dataset", "nope", "'nope'", "names no entry of datasets", "chest_xray"),
    "unknown source type": _config_case(
        "datasets.chest_xray.source", "zip", "'zip'", "is not allowed; choose one of", "'folder', 'csv', 'medmnist'"
    ),
    "missing dataset path (no such folder)": _config_case(
        "datasets.chest_xray.path",
        "/no/such dir/chest_xray",
        "'/no/such dir/chest_xray'",
        "does not exist",
        "expected a folder of class folders",
    ),
    "missing dataset path (key absent)": _config_case(
        "datasets.chest_xray.path", _DELETE, "missing", "required for source 'folder'"
    ),
    "negative learning rate": _config_case("gan_defaults.lr_g", -1.0e-4, "= -0.0001", "must be > 0"),
    "zero learning rate": _config_case("classifier.lr", 0.0, "= 0.0", "must be > 0"),
    "zero steps": _config_case("gan_defaults.steps", 0, "= 0", "must be >= 1"),
    "negative steps": _config_case("gan_defaults.steps", -5, "= -5", "must be >= 1"),
    "negative batch size": _config_case("gan_defaults.batch_size", -8, "= -8", "must be >= 1"),
    "zero batch size": _config_case("classifier.batch_size", 0, "= 0", "must be >= 1"),
    "synthetic fraction above 1": _config_case("classifier.synthetic_fractions", [0.0, 1.5], "= 1.5", "must be <= 1"),
    "synthetic fraction below 0": _config_case("classifier.synthetic_fractions", [-0.1, 0.5], "= -0.1", "must be >= 0"),
    "unsupported resolution": _config_case("experiment.resolution", 30, "= 30", "choose one of 28, 32, 64, 128"),
    "unknown positive class": _config_case(
        "experiment.positive_class",
        "COVID",
        "'COVID'",
        "is not a class of dataset 'chest_xray'",
        "classes: NORMAL, PNEUMONIA",
    ),
    "unknown minority class": _config_case(
        "experiment.minority_class",
        "normal",
        "'normal'",
        "is not a class of dataset 'chest_xray'",
        "classes: NORMAL, PNEUMONIA",
    ),
    "YAML float written as 1e-4": _yaml_float,
    "empty seed list": _config_case("classifier.seeds", [], "= []", "must have at least 1 item"),
    "unknown on_bad_image": _config_case(
        "experiment.on_bad_image", "ignore", "'ignore'", "choose one of 'error', 'skip'"
    ),
    "unknown reader_study gan": _config_case(
        "reader_study.gan", "wgan", "= 'wgan' names no GAN cell", "cells: cdcgan, dcgan"
    ),
    "unknown reader_study class": _config_case(
        "reader_study.classes", ["COVID"], "'COVID' is not a class", "classes: NORMAL, PNEUMONIA"
    ),
}

DOWNLOAD_CASES = {
    "plain http url": _download_case(
        {"source": "medmnist", "url": "http://example.org/b.npz", "md5": "a" * 32},
        "config key datasets.breast.url",
        "'http://example.org/b.npz'",
        "(https|file)://",
    ),
    "url without md5": _download_case(
        {"source": "medmnist", "url": "https://example.org/b.npz"},
        "config key datasets.breast.md5: missing",
        "https://example.org/b.npz",
        "32 hex digits",
    ),
}

# --------------------------------------------------------------------------- data: parse-time listing errors


def _copy_images(src_dir: Path, dst_dir: Path, n: int) -> list[Path]:
    dst_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(src_dir.glob("*.jpeg"))[:n]
    for f in files:
        shutil.copyfile(f, dst_dir / f.name)
    return files


def chest_slice(root: Path, n: int = 6, test_classes=("NORMAL", "PNEUMONIA")) -> Path:
    for cls in ("NORMAL", "PNEUMONIA"):
        _copy_images(CHEST / "train" / cls, root / "train" / cls, n)
    for cls in test_classes:
        _copy_images(CHEST / "test" / cls, root / "test" / cls, max(2, n // 2))
    return root


def ham_slice(root: Path, n_per_class: int = 4) -> Path:
    meta = pd.read_csv(HAM / "HAM10000_metadata.csv")
    rows = pd.concat([meta[meta.dx == dx].head(n_per_class) for dx in ("bkl", "mel", "nv")])
    root.mkdir(parents=True, exist_ok=True)
    rows.to_csv(root / "meta.csv", index=False)
    return root


def _folder_config(root: Path) -> dict:
    cfg = tiny_config()
    cfg["datasets"]["chest_xray"]["path"] = str(root)
    return cfg


def _csv_config(root: Path) -> dict:
    cfg = tiny_config()
    cfg["datasets"]["ham"] = {
        "source": "csv",
        "path": str(root),
        "csv": "meta.csv",
        "image_dir": str(HAM / "images"),
        "group_column": "lesion_id",
    }
    cfg["experiment"].update(dataset="ham", positive_class="mel", minority_class="mel")
    cfg["experiment"]["subsample"]["max_per_class"] = {"nv": 2}
    return cfg


def _empty_class_folder(tmp: Path):
    root = chest_slice(tmp / "ds")
    (root / "train" / "COVID").mkdir()
    (root / "test" / "COVID").mkdir()
    (root / "train" / "COVID" / ".DS_Store").write_bytes(b"\0")
    return _folder_config(root), [str(root / "train" / "COVID"), "is empty"]


def _class_absent_from_test(tmp: Path):
    root = chest_slice(tmp / "ds", test_classes=("NORMAL",))
    return _folder_config(root), [
        "class 'PNEUMONIA' is present in train but absent from the test split",
        str(root / "test" / "PNEUMONIA"),
    ]


def _csv_without_label_column(tmp: Path):
    root = ham_slice(tmp / "ham")
    pd.read_csv(root / "meta.csv").drop(columns=["dx"]).to_csv(root / "meta.csv", index=False)
    return _csv_config(root), [
        "config key datasets.ham.label_column",
        "column 'dx' is not in",
        str(root / "meta.csv"),
        "columns: lesion_id, image_id",
    ]


def _csv_rows_naming_missing_files(tmp: Path):
    root = ham_slice(tmp / "ham")
    meta = pd.read_csv(root / "meta.csv")
    meta.loc[0, "image_id"] = "ISIC_MISSING_1"
    meta.to_csv(root / "meta.csv", index=False)
    return _csv_config(root), [
        str(root / "meta.csv"),
        "1 row(s) name missing image files",
        str(HAM / "images" / "ISIC_MISSING_1.jpg"),
    ]


# problems visible from the file listing stop `snakemake -n` at once, naming the file and what is wrong
LISTING_CASES = {
    "empty class folder": _empty_class_folder,
    "class absent from test": _class_absent_from_test,
    "csv without label column": _csv_without_label_column,
    "csv rows naming missing files": _csv_rows_naming_missing_files,
}
DRY_RUN_CASES = {**CONFIG_CASES, **DOWNLOAD_CASES, **LISTING_CASES}


@pytest.fixture(scope="module")
def dry_runs(request, tmp_path_factory) -> dict:
    """The dry runs of the selected cases, run up front three at a time (each is ~2-3 s, mostly Snakemake start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    selected = {
        item.callspec.params["case"]
        for item in request.session.items
        if hasattr(item, "callspec")
        and isinstance(item.callspec.params.get("case"), str)
        and item.callspec.params["case"] in DRY_RUN_CASES
    }
    jobs = {}
    for n, case in enumerate(sorted(selected)):
        tmp = tmp_path_factory.mktemp(f"dry_run_{n}")
        cfg, expected = DRY_RUN_CASES[case](tmp)
        jobs[case] = (tmp / "work", cfg, expected)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {case: pool.submit(_dry_run, work, cfg) for case, (work, cfg, _) in jobs.items()}
        return {case: (futures[case].result(), jobs[case][0], jobs[case][2]) for case in jobs}


def _check_dry_run(dry_runs: dict, case: str) -> None:
    proc, work, expected = dry_runs[case]
    line = error_line(proc, work)
    for text in expected:
        assert text in line, (text, line)


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_fails_dry_run_with_one_line(dry_runs, case):
    _check_dry_run(dry_runs, case)


@pytest.mark.parametrize("case", list(DOWNLOAD_CASES))
def test_download_config_needs_https_and_md5(dry_runs, case):
    _check_dry_run(dry_runs, case)


@pytest.mark.parametrize("case", list(LISTING_CASES))
def test_dataset_listing_errors_fail_dry_run(dry_runs, case):
    _check_dry_run(dry_runs, case)


# --------------------------------------------------------------------------- data: decode-time errors


def _prepare(spec: dict, out: Path, **kw):
    kw.setdefault("workers", 1)
    return prepare_dataset(
        spec,
        32,
        1,
        {"seed": 0, "val_fraction": 0.2, "test_fraction": 0.2},
        out / "p.npz",
        out / "p.csv",
        progress=False,
        **kw,
    )


def test_non_image_file_in_class_folder(tmp_path):
    """A file that is neither an image nor a known sidecar (a notes file, DICOMDIR) is a bad image."""
    root = chest_slice(tmp_path / "ds")
    (root / "train" / "NORMAL" / "readme.part").write_text("downloaded from kaggle\n")
    (root / "train" / "NORMAL" / "readme.txt").write_text("sidecar notes: passed over, not a bad image\n")
    spec = {"source": "folder", "path": str(root)}
    with pytest.raises(ValueError) as info:
        _prepare(spec, tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"{root / 'train' / 'NORMAL' / 'readme.part'}: not an image file (extension '.part'; expected"
    )
    assert "set on_bad_image: skip" in msg
    assert not (tmp_path / "p.npz").exists() and not (tmp_path / "p.csv").exists()

    summary = _prepare(spec, tmp_path, on_bad_image="skip")
    manifest = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    skipped = manifest[manifest.split == "skipped"]
    assert skipped.source.tolist() == [str(root / "train" / "NORMAL" / "readme.part")]
    assert skipped.note.iloc[0].startswith("not an image file")
    assert sum(summary["train"].values()) + sum(summary["val"].values()) == 12


def test_bad_image_fails_before_decoding_the_rest(tmp_path, monkeypatch):
    """on_bad_image: error stops at the first bad file instead of decoding the whole dataset first."""
    import ganaug.data.prepare as prep

    root = chest_slice(tmp_path / "ds")
    first = sorted((root / "train" / "NORMAL").iterdir())[0]
    first.write_bytes(first.read_bytes()[:2000])  # truncated JPEG, listed first
    decoded = []
    real = prep.decode_image
    monkeypatch.setattr(prep, "decode_image", lambda p, *a: decoded.append(p) or real(p, *a))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(first))}: cannot decode image .*truncated"):
        _prepare({"source": "folder", "path": str(root)}, tmp_path)
    assert len(decoded) == 1
    with pytest.raises(ValueError, match=rf"^{re.escape(str(first))}: cannot decode image .*truncated"):
        _prepare({"source": "folder", "path": str(root)}, tmp_path, workers=2)  # decoding threads: same error
    assert not (tmp_path / "p.npz").exists()


def test_npz_with_mismatched_lengths(tmp_path):
    src = load_npz(SHARED / "breastmnist.npz")
    bad = dict(src, val_labels=src["val_labels"][:-3])
    save_npz(tmp_path / "bad.npz", bad)
    with pytest.raises(ValueError) as info:
        _prepare({"source": "medmnist", "path": str(tmp_path / "bad.npz")}, tmp_path)
    assert str(info.value) == f"{tmp_path / 'bad.npz'}: val_images has 78 images but val_labels has 75 labels"


def test_dataset_paths_with_spaces_and_non_ascii(tmp_path):
    """Folder, csv and npz datasets under a path with spaces and non-ASCII characters are read normally."""
    base = tmp_path / ODD_NAME
    root = chest_slice(base / "chest x-ray ü")
    summary = _prepare({"source": "folder", "path": str(root)}, base)
    assert sum(summary["test"].values()) == 6 and sum(summary["train"].values()) > 0

    ham = ham_slice(base / "hàm 10000", n_per_class=8)
    images = ham / "ímages dir"
    images.mkdir()
    for image_id in pd.read_csv(ham / "meta.csv").image_id:
        shutil.copyfile(HAM / "images" / f"{image_id}.jpg", images / f"{image_id}.jpg")
    summary = _prepare({"source": "csv", "path": str(ham), "csv": "meta.csv", "image_dir": "ímages dir"}, base)
    assert sum(sum(c.values()) for c in summary.values()) == 24

    npz = base / "breast mnist – ü.npz"
    shutil.copyfile(SHARED / "breastmnist.npz", npz)
    summary = _prepare({"source": "medmnist", "path": str(npz)}, base)
    assert summary["test"] == {"0": 42, "1": 114}


def _bad_image_workflow(tmp_path: Path, on_bad_image: str) -> tuple[Path, Path, list[Path]]:
    root = chest_slice(tmp_path / ODD_NAME / "chest x-ray", n=8)
    truncated = root / "train" / "PNEUMONIA" / "zz truncated ü.jpeg"
    data = sorted((CHEST / "train" / "PNEUMONIA").glob("*.jpeg"))[-1].read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    text = root / "test" / "NORMAL" / "scan.jpeg.part"  # an interrupted copy: not an image, not a sidecar
    text.write_text("not an image\n")
    work = tmp_path / f"work {ODD_NAME}"
    work.mkdir()
    cfg = _folder_config(root)
    # 8 images per class are too few to carve a 10 % validation split by person (10 folds)
    cfg["datasets"]["chest_xray"].pop("group_pattern")
    cfg["experiment"]["on_bad_image"] = on_bad_image
    (work / "test.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return work, root, [truncated, text]


def test_bad_images_through_the_workflow_skip_is_reported(tmp_path):
    """on_bad_image: skip → the files are left out, listed in the manifest and in results/report/skipped_images.csv."""
    work, root, bad = _bad_image_workflow(tmp_path, "skip")
    proc = snakemake(work, "results/report/skipped_images.csv", "--cores", "1")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    table = pd.read_csv(work / "results" / "report" / "skipped_images.csv", keep_default_na=False)
    assert list(table.columns) == ["file", "class", "reason"]
    assert sorted(table["file"]) == sorted(str(p) for p in bad)
    reasons = dict(zip(table["file"], table["reason"]))
    assert "truncated" in reasons[str(bad[0])] and reasons[str(bad[1])].startswith("not an image file")
    manifest = pd.read_csv(work / "results" / "data" / "chest_xray" / "32px_1ch_manifest.csv", keep_default_na=False)
    assert sorted(manifest.loc[manifest.split == "skipped", "source"]) == sorted(str(p) for p in bad)


def test_bad_image_through_the_workflow_error_names_the_file(tmp_path):
    work, root, bad = _bad_image_workflow(tmp_path, "error")
    bad[1].unlink()  # only the truncated JPEG
    proc = snakemake(work, "results/report/skipped_images.csv", "--cores", "1")
    assert proc.returncode != 0
    log_path = work / "results" / "logs" / "prepare_dataset" / "chest_xray_32px_1ch.log"
    assert log_path.is_file(), (proc.stdout + proc.stderr)[-4000:]
    log = log_path.read_text()
    assert f"ValueError: {bad[0]}: cannot decode image" in log and "on_bad_image: skip" in log
    data = work / "results" / "data"
    assert not data.exists() or not [p for p in data.rglob("*") if p.is_file()]


def test_download_refuses_plain_http_and_missing_md5(tmp_path):
    src = SHARED / "breastmnist.npz"
    with pytest.raises(ValueError, match=r"url 'http://example\.org/b\.npz' must start with https:// or file://"):
        download("http://example.org/b.npz", tmp_path / "b.npz", "a" * 32, progress=False)
    with pytest.raises(ValueError, match=r"md5 None for file://.* must be 32 hex digits"):
        download(src.as_uri(), tmp_path / "b.npz", None, progress=False)
    assert not list(tmp_path.iterdir())


def test_partial_download_is_removed_on_md5_mismatch(tmp_path):
    """A file:// download whose md5 does not match leaves neither the target nor a temporary file."""
    src = tmp_path / "src dir ü" / "big.npz"
    src.parent.mkdir()
    src.write_bytes(os.urandom(3 << 20))  # several read chunks
    dest = tmp_path / "raw" / "big.npz"
    with pytest.raises(ValueError, match=r"md5 mismatch for .*big\.npz downloaded from file://.*expected 0{32}, got"):
        download(src.as_uri(), dest, "0" * 32, progress=False)
    assert os.listdir(dest.parent) == []


# --------------------------------------------------------------------------- untrusted files


class Planted:
    """A hostile object: unpickling it creates the folder ``target`` (a stand-in for running any code)."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_npz_with_pickled_object_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    with open(evil, "wb") as fh:  # np.savez pickles object arrays
        np.savez(
            fh, train_images=np.zeros((4, 28, 28), np.uint8), train_labels=np.array([Planted(marker)] * 4, dtype=object)
        )
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(evil))}: contains a pickled object array; refusing to load it$"
    ):
        load_npz(evil)
    with pytest.raises(ValueError, match="contains a pickled object array"):
        _prepare({"source": "medmnist", "path": str(evil)}, tmp_path)
    with pytest.raises(TypeError, match="refusing to pickle"):
        save_npz(tmp_path / "out.npz", {"x": np.array([Planted(marker)], dtype=object)})
    assert not marker.exists() and not (tmp_path / "out.npz").exists()


def test_checkpoint_with_pickled_object_is_refused(tmp_path):
    import torch

    from ganaug.io import torch_save

    marker = tmp_path / "pwned"
    evil = tmp_path / "checkpoint.pt"
    torch.save({"G": {"w": torch.zeros(3)}, "extra": Planted(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(ValueError) as info:
        torch_load(evil)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{evil}: refusing to load a checkpoint that holds non-tensor objects")
    assert not marker.exists()
    # a plain checkpoint loads
    torch_save(tmp_path / "ok.pt", {"G": {"w": torch.ones(3)}, "step": 5, "meta": {"model": "dcgan"}})
    ok = torch_load(tmp_path / "ok.pt")
    assert ok["step"] == 5 and float(ok["G"]["w"].sum()) == 3.0


def test_no_unsafe_calls_in_code():
    """No eval/exec, shell strings, unpickling or shell rules anywhere in the package or the workflow."""
    patterns = {
        r"(?<![\.\w])eval\(": "eval(",
        r"(?<![\.\w])exec\(": "exec(",
        r"shell\s*=\s*True": "shell=True",
        r"os\.system|os\.popen|commands\.getoutput": "a shell call",
        r"allow_pickle\s*=\s*True": "allow_pickle=True",
        r"weights_only\s*=\s*False": "weights_only=False",
        r"pickle\.loads?\(|cloudpickle|dill|joblib\.load|marshal\.load": "unpickling",
        r"^\s*shell:": "a Snakemake shell: rule (config values would reach a shell string)",
        r"yaml\.load\(|yaml\.unsafe_load|yaml\.full_load": "a non-safe YAML loader",
    }
    files = [
        *REPO.joinpath("src", "ganaug").rglob("*.py"),
        *REPO.joinpath("workflow").rglob("*.py"),
        *REPO.joinpath("workflow").rglob("*.smk"),
        REPO / "Snakefile",
    ]
    found = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, what in patterns.items():
                if re.search(pattern, code):
                    found.append(f"{f.relative_to(REPO)}:{n}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


# --------------------------------------------------------------------------- faults: atomic writes

WRITER = textwrap.dedent(
    """
    # Imports once, then forks one writer per command read from stdin ("loop" or "hang"),
    # reports the writer's pid and, once it has been killed, "dead <status>".
    import os
    import sys
    import time
    from pathlib import Path

    import numpy as np
    import pandas as pd
    import torch

    from ganaug.io import atomic_path, save_dataframe, save_image, save_npz, torch_save, write_json


    def hang(out):  # stop half-way through a write and wait to be killed
        with atomic_path(out / "data.npz") as tmp:
            tmp.write_bytes(b"PK" + bytes(1000))
            say("mid")
            time.sleep(600)


    def loop(out):  # write every kind of output, again and again
        i = 0
        while True:
            i += 1
            rng = np.random.default_rng(i)
            x = rng.integers(0, 256, 3_000_000, dtype=np.uint8)
            save_npz(out / "data.npz", {"x": x, "i": np.int64(i), "sum": np.int64(x.sum(dtype=np.int64))})
            write_json(out / "metrics.json", {"i": i, "n": 100_000, "payload": rng.random(100_000).tolist()})
            save_dataframe(out / "table.csv", pd.DataFrame({"a": np.arange(200_000), "b": rng.random(200_000)}))
            save_image(out / "grid.png", rng.integers(0, 256, (768, 768, 3), dtype=np.uint8))
            w = torch.from_numpy(rng.random(1_000_000))
            torch_save(out / "checkpoint.pt", {"w": w, "sum": float(w.sum()), "i": i})


    def say(line):  # one write per line: lines of parent and child never interleave
        os.write(1, (line + "\\n").encode())


    out = Path(sys.argv[1])
    say("ready")
    for command in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                (hang if command.strip() == "hang" else loop)(out)
            finally:
                os._exit(1)
        say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"dead {status}")
    """
)

OUTPUTS = ("data.npz", "metrics.json", "table.csv", "grid.png", "checkpoint.pt")


def _check_complete(path: Path) -> None:
    """Load one writer output and check it is whole (raises if it is not)."""
    import json

    import torch
    from PIL import Image

    name = path.name
    if name == "data.npz":
        d = load_npz(path, required=("x", "i", "sum"))
        assert d["x"].shape == (3_000_000,) and int(d["x"].sum(dtype=np.int64)) == int(d["sum"])
    elif name == "metrics.json":
        d = json.loads(path.read_text())
        assert len(d["payload"]) == d["n"] == 100_000
    elif name == "table.csv":
        d = pd.read_csv(path)
        assert len(d) == 200_000 and d["a"].iloc[-1] == 199_999 and d["b"].notna().all()
    elif name == "grid.png":
        with Image.open(path) as im:
            im.load()
            assert im.size == (768, 768)
    elif name == "checkpoint.pt":
        d = torch_load(path)
        assert d["w"].shape == (1_000_000,) and abs(float(d["w"].sum()) - d["sum"]) < 1e-6
        assert torch.is_tensor(d["w"])


class Writers:
    """The writer server of :data:`WRITER`: ``start(mode)`` forks a writer and returns its pid."""

    def __init__(self, script: Path, out: Path, log: Path):
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), str(out)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=_env(),
            )
        self.alive: set[int] = set()  # writers started and not yet reported dead
        self._read({"ready"})

    def _read(self, wanted: set[str]) -> dict[str, str]:
        """Read lines until one starting with each of ``wanted`` came (in any order); {prefix: rest}."""
        got: dict[str, str] = {}
        while set(got) != wanted:
            line = self.proc.stdout.readline().strip()
            key = next((w for w in wanted if line.split(" ")[0] == w), None)
            if key is None:
                self.close()
                pytest.fail(f"writer: expected {sorted(wanted)}, got {line!r}: {self.log.read_text()[-3000:]}")
            got[key] = line[len(key) :].strip()
            if key == "pid":
                self.alive.add(int(got[key]))
        return got

    def start(self, mode: str) -> int:
        self.proc.stdin.write(mode + "\n")
        self.proc.stdin.flush()
        return int(self._read({"pid", "mid"} if mode == "hang" else {"pid"})["pid"])

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)  # no cleanup handler runs
        status = int(self._read({"dead"})["dead"])
        self.alive.discard(pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    def close(self) -> None:
        for pid in self.alive:  # after a failure: writers not yet reaped (so their pids are still theirs)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.alive.clear()
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _check_dir(out: Path) -> list[str]:
    """Every destination is absent or complete; anything else is a marked temporary file. Returns the leftovers."""
    leftovers = []
    for entry in sorted(os.listdir(out)):
        if entry in OUTPUTS:
            _check_complete(out / entry)
            continue
        owners = [o for o in OUTPUTS if entry.startswith(temp_prefix(o))]
        assert owners, f"unexpected file {entry!r} next to the outputs"
        assert entry.startswith(".") and ".tmp-" in entry
        leftovers.append(entry)
    # the next write of a target removes its earlier leftovers: never more than one per target
    for o in OUTPUTS:
        assert sum(e.startswith(temp_prefix(o)) for e in leftovers) <= 1, leftovers
    return leftovers


def test_kill_at_random_points_leaves_no_partial_output(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    out = tmp_path / "out ü"
    out.mkdir()
    writers = Writers(script, out, tmp_path / "writer.log")
    try:
        # a write killed half-way: no destination, only a hidden .tmp- file (removed by the next write)
        writers.kill(writers.start("hang"))
        assert _check_dir(out) and not (out / "data.npz").exists()

        rng = random.Random(1234)
        for _ in range(6):
            pid = writers.start("loop")
            time.sleep(rng.uniform(0.05, 2.5))
            writers.kill(pid)
            _check_dir(out)
    finally:
        writers.close()
    assert set(OUTPUTS) <= set(os.listdir(out)), "the writer never completed a round; kills came too early"


# --------------------------------------------------------------------------- faults: a second snakemake


def test_second_snakemake_on_the_same_directory_is_refused(tmp_path):
    """While one run works in a directory, a second run there stops with Snakemake's LockException."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "test.yaml").write_text(yaml.safe_dump(tiny_config()))
    target = "results/data/chest_xray/32px_1ch.npz"  # decodes all 5,840 chest X-rays
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        "--cores",
        "1",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "test.yaml"),
    ]
    first = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), start_new_session=True
    )
    try:
        locks = work / ".snakemake" / "locks"
        deadline = time.monotonic() + 120
        while not (locks.is_dir() and any(locks.iterdir())):
            assert first.poll() is None, "the first run ended before it took the lock"
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGSTOP)  # hold it mid-run, whatever the machine's speed
        second = snakemake(work, target, "--cores", "1")
        out = second.stdout + second.stderr
        assert second.returncode != 0
        assert "LockException" in out and "Directory cannot be locked" in out, out[-3000:]
        assert "--unlock" in out
    finally:
        # SIGINT cancels the run (SIGTERM would let a started job finish first)
        os.killpg(first.pid, signal.SIGCONT)
        os.killpg(first.pid, signal.SIGINT)
        try:
            first.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    npz = work / target
    if npz.exists():  # either absent or complete
        load_npz(npz, required=("train_images", "train_labels", "classes"))
