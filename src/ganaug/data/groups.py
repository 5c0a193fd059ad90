"""Groups (patients) of a dataset's images, and how the splits share them.

A group is the unit a split must not cut: a patient (Kaggle chest X-ray file names
``person{N}_...``, DICOM PatientID), a lesion (HAM10000 ``lesion_id``). Carved splits are
group-aware (``ganaug.data.prepare``); a dataset's own splits are taken as they are, and
:func:`overlap_table` says how many groups and images each pair of splits shares.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from .sources import SPLITS, resolve_under

#: the overlap table's columns (``overlap_table``; the report's ``split_groups.csv``)
OVERLAP_COLUMNS = ("split_a", "split_b", "groups_a", "groups_b", "shared_groups", "images_a", "images_b", "example")


def folder_groups(spec: Mapping[str, Any], paths: list[str]) -> list[str] | None:
    """The group (patient) of each image file of a folder dataset, or None when ``spec`` sets none.

    ``group_pattern`` is searched in the file's path relative to ``spec['path']`` (with ``/``);
    ``group: dicom_patient`` reads each file's PatientID (0010,0020); ``group_csv`` maps the same
    relative paths to groups. Raises ``ValueError`` with one line naming the first file that has
    no group.
    """
    root = Path(spec["path"])
    rel = [Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else str(p) for p in paths]
    if spec.get("group_pattern"):
        pattern = re.compile(spec["group_pattern"])
        groups = []
        for path, r in zip(paths, rel):
            m = pattern.search(r)
            if m is None or not m.group(1):
                raise ValueError(
                    f"{path}: group_pattern {spec['group_pattern']!r} does not match its path below the dataset "
                    f"root ('{r}'); every image needs a group"
                )
            groups.append(m.group(1))
        return groups
    if spec.get("group") == "dicom_patient":
        return [dicom_patient_id(p) for p in paths]
    if spec.get("group_csv"):
        import pandas as pd

        csv_path = resolve_under(root, spec["group_csv"])
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        mapping = {Path(f).as_posix(): g.strip() for f, g in zip(table["file"], table["group"])}
        groups = []
        for path, r in zip(paths, rel):
            if not mapping.get(r):
                raise ValueError(
                    f"{path}: no group for '{r}' in {csv_path} (columns file, group; file relative to {root})"
                )
            groups.append(mapping[r])
        return groups
    return None


def dicom_patient_id(path: str | os.PathLike) -> str:
    """A DICOM file's PatientID (0010,0020), read without its pixel data; one line naming the file if absent."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except Exception as exc:  # noqa: BLE001 - any read failure: not a DICOM file we can group
        raise ValueError(
            f"{path}: group: dicom_patient needs DICOM files; cannot read it ({type(exc).__name__})"
        ) from None
    pid = str(getattr(ds, "PatientID", "") or "").strip()
    if not pid:
        raise ValueError(f"{path}: has no PatientID (0010,0020); group: dicom_patient needs one in every file")
    return pid


def overlap_table(splits: Sequence[str], groups: Sequence[Any] | None) -> list[dict]:
    """For each pair of splits: their group counts, the groups both hold and those groups' images on each side.

    ``splits`` and ``groups`` are per image. Empty when there are no groups. ``example`` names one
    shared group (the one with most images), so a reader can look it up.
    """
    if groups is None:
        return []
    splits, groups = np.asarray(splits, dtype=object), np.asarray(groups, dtype=object)
    per = {s: groups[splits == s] for s in SPLITS if np.any(splits == s)}
    rows = []
    for a, b in combinations(per, 2):
        shared = set(per[a]) & set(per[b])
        in_a = np.isin(per[a], list(shared)) if shared else np.zeros(len(per[a]), bool)
        in_b = np.isin(per[b], list(shared)) if shared else np.zeros(len(per[b]), bool)
        example = ""
        if shared:
            names, counts = np.unique(np.concatenate([per[a][in_a], per[b][in_b]]).astype(str), return_counts=True)
            example = str(names[np.argmax(counts)])
        rows.append({"split_a": a, "split_b": b, "groups_a": len(set(per[a])), "groups_b": len(set(per[b])),
                     "shared_groups": len(shared), "images_a": int(in_a.sum()), "images_b": int(in_b.sum()),
                     "example": example})  # fmt: skip
    return rows


def describe_overlap(row: Mapping[str, Any]) -> str:
    """One line for an overlap row with shared groups."""
    return (
        f"{row['shared_groups']} of {row['groups_b']} {row['split_b']} groups are also in {row['split_a']} "
        f"({row['images_a']} {row['split_a']} / {row['images_b']} {row['split_b']} images, e.g. {row['example']!r})"
    )


def manifest_overlap(manifest_path: str | os.PathLike):
    """The report's table of how the prepared splits share groups (``split_groups.csv``), from the manifest.

    One row per pair of splits (:data:`OVERLAP_COLUMNS`, plus ``carved``: which of the two the data
    stage carved, and ``note``). Without groups the counts are empty and the note says the splits
    were made by image.
    """
    import pandas as pd

    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest = manifest[manifest.split != "skipped"]
    carved = {s for s, n in zip(manifest.split, manifest.note) if n.startswith("carved")}
    has_groups = "group" in manifest and (manifest.group != "").all() and len(manifest)
    if has_groups:
        rows = overlap_table(manifest.split.tolist(), manifest.group.tolist())
    else:
        present = [s for s in SPLITS if (manifest.split == s).any()]
        rows = [dict.fromkeys(OVERLAP_COLUMNS, "") | {"split_a": a, "split_b": b} for a, b in combinations(present, 2)]
    for row in rows:
        row["carved"] = ", ".join(s for s in (row["split_a"], row["split_b"]) if s in carved)
        if not has_groups:
            row["note"] = "no groups: the images were split one by one"
        elif row["shared_groups"]:
            row["note"] = "the dataset's own splits share these groups"
        else:
            row["note"] = "no group on both sides"
    return pd.DataFrame(rows, columns=[*OVERLAP_COLUMNS, "carved", "note"])
