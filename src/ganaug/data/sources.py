r"""Dataset sources: config checks and the listing of a dataset's images and labels.

Three sources are supported (the ``source`` key of a ``datasets.<name>`` entry):

``folder``
    ``path`` holds one folder per class (``ROOT/{CLASS}/*``) or split folders
    holding class folders (``ROOT/{train,val,test}/{CLASS}/*``; ``val`` and
    ``test`` may be absent; ``valid``/``validation`` are read as ``val``).
    Optional ``classes`` fixes the class order (default: sorted folder names).
    Files at any depth below a class folder belong to that class (PACS exports:
    patient / study / series folders, files named by UID); ``DICOMDIR`` and other
    sidecar files (:data:`SIDECAR_NAMES`, :data:`SIDECAR_EXTENSIONS`) are passed
    over, hidden files and folders are ignored, symlinked folders are followed
    once. An image's group (the patient: no group is ever on two sides of a carved
    split) comes from one of ``group_pattern`` (a regular expression with one
    capture group, searched in the path relative to ``path``, e.g. ``person(\d+)_``),
    ``group: dicom_patient`` (each file's PatientID) or ``group_csv`` (a CSV with
    columns ``file``, relative to ``path``, and ``group``).

``csv``
    ``csv`` is a table with one row per image: ``id_column`` (default
    ``image_id``) names the file in ``image_dir`` (default ``path``), with
    ``extension`` (default ``.jpg``) appended unless the id already ends in an
    image extension; ``label_column`` (default ``dx``) gives the class.
    Optional ``group_column`` (e.g. ``lesion_id``) keeps every group inside one
    split; optional ``split_column`` gives the dataset's own split
    (``train``/``val``/``test``); optional ``classes`` fixes the class order
    (default: sorted labels). ``csv`` and ``image_dir`` are looked up
    relative to ``path`` first, then relative to the working directory.

``medmnist``
    A MedMNIST-layout npz (``{train,val,test}_images``, ``{train,val,test}_labels``)
    at ``path``, or downloaded from ``url`` (checked against ``md5``) by the
    workflow. Optional ``class_names`` maps label index to name. Optional
    ``{split}_groups`` (strings) give each image's group, optional ``{split}_names``
    its original file name (the shipped chest X-ray sample has both).

The image files of ``folder`` and ``csv`` datasets may be JPEG, PNG, BMP, TIFF
(8-bit, 16-bit or float) or DICOM (``.dcm``, ``.dicom``, or any file with the
DICOM preamble, e.g. one named by its UID); :mod:`ganaug.data.images` reads them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganaug.names import SOURCE_TYPES as SOURCES

from .images import DICOM_EXTENSIONS, PIL_EXTENSIONS, has_dicom_preamble

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: extensions read as images (PIL formats and DICOM); a file with another extension is read when it is DICOM
IMAGE_EXTENSIONS = PIL_EXTENSIONS | DICOM_EXTENSIONS
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
CSV_DEFAULTS = {"id_column": "image_id", "label_column": "dx", "extension": ".jpg"}
#: file names below a class folder that are not images and are passed over (not bad images)
SIDECAR_NAMES = frozenset({"dicomdir", "lockfile", "version"})
#: extensions of sidecar files (notes, indexes, checksums, reports) passed over below a class folder
SIDECAR_EXTENSIONS = frozenset(
    {".txt", ".csv", ".tsv", ".json", ".xml", ".md", ".html", ".htm", ".pdf", ".ini", ".log", ".yaml", ".yml",
     ".md5", ".sha1", ".sha256", ".nfo"}
)  # fmt: skip
#: the ways a folder dataset's images get their groups (at most one per dataset)
GROUP_KEYS = ("group_pattern", "group", "group_csv")
GROUP_SOURCES = ("dicom_patient",)
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_URL_SCHEMES = ("https://", "file://")
_PATH_EXPECTED = {
    "folder": "a folder of class folders, ROOT/CLASS/* or ROOT/{train,val,test}/CLASS/*",
    "csv": "the folder holding the dataset's csv and images",
}


@dataclass(frozen=True)
class Item:
    """One image file of a folder or csv dataset."""

    path: str  # the file, as built from the config (not resolved)
    label: str  # class name
    split: str | None = None  # the dataset's own split, or None
    group: str | None = None  # group id (csv ``group_column``), or None


# --------------------------------------------------------------------------- config checks


def validate_dataset_spec(name: str, spec: dict) -> None:
    """Cheap checks of one ``datasets.<name>`` config entry; no image is read.

    Raises ``ValueError`` with one line naming the config key, its value and
    what is wrong with it.
    """
    key = f"datasets.{name}"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{key}: expected a mapping of settings, got {type(spec).__name__} {spec!r}")
    source = spec.get("source")
    if source not in SOURCES:
        raise ValueError(f"{key}.source: {source!r} is not one of {', '.join(SOURCES)}")

    if source in ("folder", "csv"):
        root = _require_str(key, spec, "path")
        root_path = Path(root)
        if not root_path.exists():
            raise ValueError(f"{key}.path: '{root}' does not exist (expected {_PATH_EXPECTED[source]})")
        if not root_path.is_dir():
            raise ValueError(f"{key}.path: '{root}' is not a directory (expected {_PATH_EXPECTED[source]})")
        _check_name_list(key, spec, "classes")
    if source == "folder":
        _check_group_keys(key, spec)
    else:
        given = [k for k in GROUP_KEYS if k in spec]
        if given:
            own = "group_column" if source == "csv" else "the npz's {split}_groups arrays"
            raise ValueError(
                f"{key}.{given[0]}: applies to folder datasets; a {source} dataset's groups come from {own}"
            )

    if source == "csv":
        csv_path = resolve_under(spec["path"], _require_str(key, spec, "csv"))
        if not csv_path.is_file():
            raise ValueError(
                f"{key}.csv: '{spec['csv']}' does not exist (looked in '{spec['path']}' and the working directory)"
            )
        image_dir = spec.get("image_dir")
        if image_dir is not None:
            image_dir = _require_str(key, spec, "image_dir")
            if not resolve_under(spec["path"], image_dir).is_dir():
                raise ValueError(
                    f"{key}.image_dir: '{image_dir}' is not a directory "
                    f"(looked in '{spec['path']}' and the working directory)"
                )
        columns = _csv_header(csv_path)
        for opt in ("id_column", "label_column", "group_column", "split_column"):
            if opt not in spec and opt not in CSV_DEFAULTS:
                continue
            col = _require_str(key, spec, opt) if opt in spec else CSV_DEFAULTS[opt]
            if col not in columns:
                raise ValueError(f"{key}.{opt}: column '{col}' is not in {csv_path} (columns: {', '.join(columns)})")
        ext = spec.get("extension", CSV_DEFAULTS["extension"])
        if not isinstance(ext, str) or (ext and not ext.startswith(".")):
            raise ValueError(f"{key}.extension: {ext!r} must be a string starting with '.' (or empty)")

    if source == "medmnist":
        path, url = spec.get("path"), spec.get("url")
        if path is None and url is None:
            raise ValueError(f"{key}: a medmnist dataset needs 'path' (a local npz) or 'url' (to download it)")
        if url is not None:
            url = _require_str(key, spec, "url")
            if not url.lower().startswith(_URL_SCHEMES):
                raise ValueError(f"{key}.url: '{url}' must start with https:// or file://")
        if path is not None:
            path = _require_str(key, spec, "path")
            if url is None and not Path(path).is_file():
                raise ValueError(
                    f"{key}.path: '{path}' does not exist (expected a local MedMNIST npz file, "
                    "or give url and md5 to download it)"
                )
        md5 = spec.get("md5")
        if md5 is not None and (not isinstance(md5, str) or not _MD5_RE.match(md5)):
            raise ValueError(f"{key}.md5: {md5!r} is not a 32-digit hex md5")
        if url is not None and md5 is None:
            raise ValueError(
                f"{key}.md5: missing; url '{url}' needs the file's md5 (32 hex digits) so the download can be checked"
            )
        _check_name_list(key, spec, "class_names")


def _check_group_keys(key: str, spec: Mapping[str, Any]) -> None:
    """A folder dataset's group setting: at most one of ``GROUP_KEYS``, each well formed."""
    given = [k for k in GROUP_KEYS if k in spec]
    if len(given) > 1:
        raise ValueError(f"{key}: give at most one of {', '.join(GROUP_KEYS)} (got {', '.join(given)})")
    if "group_pattern" in given:
        pattern = _require_str(key, spec, "group_pattern")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{key}.group_pattern: {pattern!r} is not a regular expression ({exc})") from None
        if compiled.groups != 1:
            raise ValueError(
                f"{key}.group_pattern: {pattern!r} has {compiled.groups} capture groups; it needs exactly one "
                "(the group id), e.g. 'person(\\d+)_' (use (?:...) for the others)"
            )
    if "group" in given and spec["group"] not in GROUP_SOURCES:
        raise ValueError(f"{key}.group: {spec['group']!r} is not one of {', '.join(GROUP_SOURCES)}")
    if "group_csv" in given:
        csv_path = resolve_under(spec["path"], _require_str(key, spec, "group_csv"))
        if not csv_path.is_file():
            raise ValueError(
                f"{key}.group_csv: '{spec['group_csv']}' does not exist (looked in '{spec['path']}' and the working directory)"
            )
        missing = [c for c in ("file", "group") if c not in _csv_header(csv_path)]
        if missing:
            raise ValueError(f"{key}.group_csv: {csv_path} has no column(s) {', '.join(missing)} (needs file, group)")


def _require_str(key: str, spec: Mapping[str, Any], opt: str) -> str:
    value = spec.get(opt)
    if value is None:
        raise ValueError(f"{key}.{opt}: missing (required for source '{spec.get('source')}')")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key}.{opt}: {value!r} must be a non-empty string")
    return value


def _check_name_list(key: str, spec: Mapping[str, Any], opt: str) -> None:
    value = spec.get(opt)
    if value is None:
        return
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{key}.{opt}: {value!r} must be a non-empty list of class names")
    names = [str(v) for v in value]
    if any(not n.strip() for n in names):
        raise ValueError(f"{key}.{opt}: {value!r} contains an empty class name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{key}.{opt}: {value!r} repeats {', '.join(dupes)}")


def _csv_header(csv_path: Path) -> list[str]:
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(csv_path, nrows=0).columns]
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad csv
        raise ValueError(f"{csv_path}: cannot read as CSV ({exc})") from None


def resolve_under(root: str | Path, rel: str | Path) -> Path:
    """``rel`` if absolute; else ``root/rel`` if that exists; else ``rel`` from the working directory."""
    rel = Path(rel)
    if rel.is_absolute():
        return rel
    under = Path(root) / rel
    if under.exists() or not rel.exists():
        return under
    return rel


# --------------------------------------------------------------------------- listing


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__") or name.lower() in {"thumbs.db", "desktop.ini"}


def _subdirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not _is_hidden(p.name)), key=lambda p: p.name)


def _is_sidecar(path: Path) -> bool:
    return path.name.lower() in SIDECAR_NAMES or path.suffix.lower() in SIDECAR_EXTENSIONS


def _image_files(folder: Path, seen: set[str] | None = None) -> list[Path]:
    """Every file at any depth below a class folder, sorted by its path below ``folder``.

    Hidden / system files and folders are ignored and sidecar files (``DICOMDIR``,
    notes, indexes: :func:`_is_sidecar`) passed over. Other files without an image
    extension are listed too: the data stage reports them as bad images
    (``on_bad_image``: an error naming the file, or skipped and recorded in the
    manifest) instead of dropping them silently. Symlinked folders are followed, each
    real folder once: ``seen`` holds the real paths already listed (the dataset's own
    root, split and class folders among them), so a link back up the tree, or into
    another class, cannot loop or list an image twice.
    """
    found: list[Path] = []
    seen = set() if seen is None else seen
    seen.add(os.path.realpath(folder))

    def walk(d: Path) -> None:
        for entry in sorted(d.iterdir(), key=lambda p: p.name):
            if _is_hidden(entry.name):
                continue
            if entry.is_dir():
                real = os.path.realpath(entry)
                if real not in seen:
                    seen.add(real)
                    walk(entry)
            elif entry.is_file() and not _is_sidecar(entry):
                found.append(entry)

    walk(folder)
    return found


def non_image_reason(path: str | Path) -> str | None:
    """Why ``path`` is not read as an image because of its extension, or None if it is read.

    A file whose extension is not an image extension (none, or e.g. a DICOM UID's
    last digits) is read when it starts with the DICOM preamble.
    """
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS or has_dicom_preamble(path):
        return None
    return (
        f"not an image file (extension '{Path(path).suffix or '<none>'}'; "
        f"expected one of {', '.join(sorted(IMAGE_EXTENSIONS))}, or a DICOM file with the 'DICM' preamble)"
    )


def list_folder_items(spec: Mapping[str, Any]) -> tuple[list[Item], list[str]]:
    """List ``(file, class, own split)`` for a class-per-folder dataset, in a fixed order."""
    root = Path(spec["path"])
    if not root.is_dir():
        raise ValueError(f"dataset folder '{root}' does not exist")
    subdirs = _subdirs(root)
    split_dirs = {SPLIT_ALIASES[d.name.lower()]: d for d in subdirs if d.name.lower() in SPLIT_ALIASES}
    if split_dirs:
        other = [d.name for d in subdirs if d.name.lower() not in SPLIT_ALIASES]
        if other:
            raise ValueError(
                f"{root}: mixes split folders ({', '.join(sorted(d.name for d in split_dirs.values()))}) "
                f"with other folders ({', '.join(other)}); use either ROOT/CLASS/ or ROOT/{{train,val,test}}/CLASS/"
            )
        if "train" not in split_dirs:
            raise ValueError(f"{root}: has split folders but no 'train' folder")
        layout = {split: split_dirs[split] for split in SPLITS if split in split_dirs}
    else:
        layout = {None: root}

    if not _subdirs(layout.get("train", root)):
        raise ValueError(f"{layout.get('train', root)}: no class folders found (expected ROOT/CLASS/image files)")

    folder_classes = {split: [d.name for d in _subdirs(d)] for split, d in layout.items()}
    base_split = "train" if "train" in layout else None
    base = folder_classes[base_split]
    if spec.get("classes"):
        classes = [str(c) for c in spec["classes"]]
        missing = [c for c in classes if c not in base]
        if missing:
            raise ValueError(
                f"{layout[base_split]}: no folder for class(es) {', '.join(missing)} listed in classes "
                f"(folders: {', '.join(base)})"
            )
        extra = [c for c in base if c not in classes]
        if extra:
            raise ValueError(
                f"{layout[base_split]}: class folder(s) {', '.join(extra)} are not listed in classes {classes}"
            )
    else:
        classes = sorted(base)

    for split, names in folder_classes.items():
        if split == base_split:
            continue
        absent = [c for c in classes if c not in names]
        if absent:
            raise ValueError(
                f"class '{absent[0]}' is present in train but absent from the {split} split "
                f"(no folder {layout[split] / absent[0]})"
            )
        extra = [c for c in names if c not in classes]
        if extra:
            raise ValueError(
                f"{layout[split]}: class folder(s) {', '.join(extra)} are not in the train split's classes {classes}"
            )

    items: list[Item] = []
    # the dataset's own folders are listed where they stand, never through a link from elsewhere
    seen = {os.path.realpath(root)} | {os.path.realpath(d) for d in layout.values()}
    seen |= {os.path.realpath(folder / cls) for folder in layout.values() for cls in classes}
    for split, folder in layout.items():
        for cls in classes:
            class_dir = folder / cls
            files = _image_files(class_dir, seen)
            if not files:
                raise ValueError(
                    f"class folder '{class_dir}' is empty (no {'/'.join(sorted(IMAGE_EXTENSIONS))} files at any depth)"
                )
            items.extend(Item(str(f), cls, split) for f in files)
    return items, classes


def _sorted_labels(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(labels)


def list_csv_items(spec: Mapping[str, Any]) -> tuple[list[Item], list[str]]:
    """List ``(file, class, own split, group)`` for a csv-indexed dataset, in csv row order."""
    import pandas as pd

    root = Path(spec["path"])
    if not root.is_dir():
        raise ValueError(f"dataset folder '{root}' does not exist")
    if not spec.get("csv"):
        raise ValueError(f"csv dataset at '{root}' has no 'csv' key naming its table")
    csv_path = resolve_under(root, spec["csv"])
    if not csv_path.is_file():
        raise ValueError(f"csv '{spec['csv']}' does not exist (looked in '{root}' and the working directory)")
    image_dir = resolve_under(root, spec["image_dir"]) if spec.get("image_dir") else root
    if not image_dir.is_dir():
        raise ValueError(f"image_dir '{image_dir}' does not exist")
    id_col = spec.get("id_column", CSV_DEFAULTS["id_column"])
    label_col = spec.get("label_column", CSV_DEFAULTS["label_column"])
    group_col = spec.get("group_column")
    split_col = spec.get("split_column")
    ext = spec.get("extension", CSV_DEFAULTS["extension"])

    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{csv_path}: cannot read as CSV ({exc})") from None
    for what, col in (
        ("label_column", label_col),
        ("id_column", id_col),
        ("group_column", group_col),
        ("split_column", split_col),
    ):
        if col is not None and col not in df.columns:
            raise ValueError(f"{csv_path}: has no {what} '{col}' (columns: {', '.join(map(str, df.columns))})")
    if df.empty:
        raise ValueError(f"{csv_path}: has no rows")

    for col in [c for c in (id_col, label_col, group_col, split_col) if c is not None]:
        blank = df.index[df[col].str.strip() == ""]
        if len(blank):
            rows = ", ".join(str(i + 2) for i in blank[:5])
            raise ValueError(f"{csv_path}: {len(blank)} row(s) have an empty '{col}' (line(s) {rows})")
    dupes = df[id_col][df[id_col].duplicated()].unique()
    if len(dupes):
        raise ValueError(
            f"{csv_path}: {len(dupes)} image id(s) appear more than once in '{id_col}' ({', '.join(dupes[:5])})"
        )

    labels = df[label_col].str.strip().tolist()
    present = _sorted_labels(sorted(set(labels)))
    if spec.get("classes"):
        classes = [str(c) for c in spec["classes"]]
        extra = [c for c in present if c not in classes]
        if extra:
            raise ValueError(
                f"{csv_path}: labels {', '.join(extra)} in '{label_col}' are not listed in classes {classes}"
            )
    else:
        classes = present

    splits: list[str | None] = [None] * len(df)
    if split_col is not None:
        raw = df[split_col].str.strip().str.lower()
        bad = sorted(set(raw) - set(SPLIT_ALIASES))
        if bad:
            raise ValueError(f"{csv_path}: '{split_col}' holds {', '.join(bad)}; expected train, val or test")
        splits = [SPLIT_ALIASES[s] for s in raw]
        if "train" not in splits:
            raise ValueError(f"{csv_path}: '{split_col}' has no train rows")
    groups: list[str | None] = df[group_col].tolist() if group_col else [None] * len(df)

    paths = []
    for image_id in df[id_col]:
        name = image_id if Path(image_id).suffix.lower() in IMAGE_EXTENSIONS else image_id + ext
        paths.append(image_dir / name)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ValueError(
            f"{csv_path}: {len(missing)} row(s) name missing image files, e.g. {', '.join(str(p) for p in missing[:3])}"
        )
    items = [Item(str(p), lab, s, g) for p, lab, s, g in zip(paths, labels, splits, groups)]

    # a group in two of the csv's own splits is reported by the data stage (experiment.split.group_overlap)
    return items, classes


def load_medmnist_arrays(spec: Mapping[str, Any]) -> tuple[dict[str, tuple], list[str], Path]:
    """Read a MedMNIST npz: ``{split: (images, labels, groups, names)}`` for the splits it has (``groups``
    and ``names``: the optional ``{split}_groups`` / ``{split}_names`` strings, else None), and class names.

    With ``md5`` in ``spec`` the file is checked first (a local file shipped or copied with a checksum).
    """
    from ganaug.io import load_npz

    if not spec.get("path"):
        raise ValueError("medmnist dataset: 'path' to the npz is required by prepare_dataset (download it first)")
    path = Path(spec["path"])
    if not path.is_file():
        raise ValueError(f"medmnist npz '{path}' does not exist (download it first)")
    if spec.get("md5"):
        from ganaug.data.download import md5sum

        got = md5sum(path)
        if got != spec["md5"].lower():
            raise ValueError(
                f"{path}: md5 {got} does not match the config's md5 {spec['md5']} (a damaged or other file)"
            )
    data = load_npz(path, required=("train_images", "train_labels"))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in SPLITS:
        ki, kl = f"{split}_images", f"{split}_labels"
        if ki not in data and kl not in data:
            continue
        if ki not in data or kl not in data:
            raise ValueError(f"{path}: has {ki if ki in data else kl} but not {kl if ki in data else ki}")
        images, labels = data[ki], data[kl]
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise ValueError(
                f"{path}: {kl} has shape {labels.shape}; expected (N,) or (N, 1) (multi-label is not supported)"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.issubdtype(labels.dtype, np.floating) or not np.all(labels == np.round(labels)):
                raise ValueError(f"{path}: {kl} has dtype {labels.dtype}; expected integer class labels")
        labels = labels.astype(np.int64)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
            raise ValueError(f"{path}: {ki} has shape {images.shape}; expected (N, H, W) or (N, H, W, 3)")
        if images.dtype != np.uint8:
            raise ValueError(f"{path}: {ki} has dtype {images.dtype}; expected uint8")
        if len(images) != len(labels):
            raise ValueError(f"{path}: {ki} has {len(images)} images but {kl} has {len(labels)} labels")
        if len(labels) and labels.min() < 0:
            raise ValueError(f"{path}: {kl} holds negative label {labels.min()}")
        extras = []
        for what in ("groups", "names"):  # optional per-image strings
            arr = data.get(f"{split}_{what}")
            if arr is not None and (arr.shape != labels.shape or arr.dtype.kind not in "UO"):
                raise ValueError(f"{path}: {split}_{what} {arr.shape} {arr.dtype} is not one string per image")
            extras.append(None if arr is None else arr.astype(str))
        out[split] = (images, labels, *extras)

    max_label = max((int(v[1].max()) for v in out.values() if len(v[1])), default=-1)
    if spec.get("class_names"):
        classes = [str(c) for c in spec["class_names"]]
        if max_label >= len(classes):
            raise ValueError(f"{path}: holds label {max_label} but class_names has only {len(classes)} names {classes}")
    else:
        classes = [str(i) for i in range(max_label + 1)]
    return out, classes, path
