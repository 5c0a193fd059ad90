"""Turn a dataset (folder, csv or MedMNIST npz) into one prepared npz + a manifest.

Image conversion
    Every image goes through :mod:`ganaug.data.images`: decoded (PIL, EXIF
    orientation applied; DICOM with pydicom after its Modality LUT), brought to
    8 bits by the intensity ``window``, converted to ``"L"`` (``channels=1``,
    ITU-R 601-2 luma) or ``"RGB"`` (``channels=3``), made square by the
    ``resize`` policy and resized to ``resolution x resolution`` with PIL's
    ``BICUBIC`` filter. PIL's resampling widens the filter when shrinking, so
    downscaling is anti-aliased; no ``reducing_gap`` shortcut is used, so the
    result is exact and identical on every run. With the defaults
    (``window="auto"``, ``resize="squash"``) 8-bit images are not windowed,
    16-bit and float images are min-max scaled to 0..255 per image and the
    aspect ratio is not kept (as in MedMNIST) - as before these settings existed.

Splits
    The dataset's own ``train``/``val``/``test`` splits are kept. Without a
    test split, ``split_cfg['test_fraction']`` of the images is carved off as
    test; without a val split, ``split_cfg['val_fraction']`` of the (remaining)
    train split is carved off as val. Carving is stratified by class
    (``train_test_split``) and seeded with ``split_cfg['seed']``; for a csv
    source with ``group_column`` it is group-aware and stratified
    (``StratifiedGroupKFold`` with ``round(1 / fraction)`` folds, first fold
    taken), so no group ends up in two splits. The same holds wherever images
    have groups: a folder dataset's ``group_pattern`` / ``group: dicom_patient`` /
    ``group_csv``, an npz's ``{split}_groups`` (:mod:`ganaug.data.groups`). Groups
    that the dataset's *own* splits share are logged with their counts
    (``split_cfg['group_overlap']``: ``report``, the default) or refused
    (``error``). Within each split images keep the dataset's order (sorted file
    paths / csv rows / npz order).

Outputs
    ``out_npz``: ``{train,val,test}_images`` uint8 ``(N, R, R, C)``,
    ``{train,val,test}_labels`` int64 ``(N,)``, ``classes`` (unicode array).
    ``out_manifest``: CSV ``split,index,label,label_name,source,note,group``, one row
    per image (``index`` is its row in that split's arrays); images skipped
    with ``on_bad_image="skip"`` appear with split ``skipped`` and the reason
    in ``note``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ganaug.io import load_npz, save_dataframe, save_npz

from .groups import describe_overlap, folder_groups, overlap_table
from .images import IMAGE_DEFAULTS, BadImage, ImageOptions, convert_pil, decode_image
from .sources import SPLITS, Item, list_csv_items, list_folder_items, load_medmnist_arrays, non_image_reason

__all__ = ["ON_BAD_IMAGE", "convert_pil", "decode_image", "load_prepared", "prepare_dataset", "skipped_images"]

log = logging.getLogger(__name__)

ON_BAD_IMAGE = ("error", "skip")
#: what a group shared by the dataset's own splits does: reported (log, report table) or refused
GROUP_OVERLAP = ("report", "error")
#: the manifest's columns: one row per image (``group`` empty where the dataset has no groups)
MANIFEST_COLUMNS = ("split", "index", "label", "label_name", "source", "note", "group")


# --------------------------------------------------------------------------- image conversion


def _decode_or_error(args: tuple[str, int, int, ImageOptions]) -> np.ndarray | str:
    path, resolution, channels, options = args
    reason = non_image_reason(path)
    if reason is not None:
        return reason
    try:
        return decode_image(path, resolution, channels, options)
    except MemoryError:
        raise
    except BadImage as exc:  # its message is the reason
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - anything wrong with the file makes it a bad image
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"cannot decode image ({type(exc).__name__}: {reason})"


def _default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _decode_all(
    paths: Sequence[str],
    resolution: int,
    channels: int,
    workers: int,
    progress: bool,
    desc: str,
    stop_on_error: bool = False,
    options: ImageOptions | None = None,
):
    """Decoded arrays, or a reason string for each bad file, in ``paths`` order.

    With ``stop_on_error`` the list ends at the first bad file (the remaining
    decodes are cancelled), so a bad file fails the job in seconds.
    """
    from tqdm import tqdm

    # files rejected by their extension alone fail before any decoding
    if stop_on_error:
        for i, p in enumerate(paths):
            reason = non_image_reason(p)
            if reason is not None:
                return [np.empty(0, np.uint8)] * i + [reason]
    options = options or ImageOptions()
    jobs = [(p, resolution, channels, options) for p in paths]
    bar = tqdm(total=len(jobs), desc=desc, unit="img", file=sys.stderr, disable=not progress)
    results: list[np.ndarray | str] = []
    try:
        if workers <= 1:
            for job in jobs:
                results.append(_decode_or_error(job))
                bar.update(1)
                if stop_on_error and isinstance(results[-1], str):
                    break
        else:
            pool = ThreadPoolExecutor(max_workers=workers)
            try:
                # map() yields in submission order, so the output order is fixed
                for res in pool.map(_decode_or_error, jobs, chunksize=1):
                    results.append(res)
                    bar.update(1)
                    if stop_on_error and isinstance(res, str):
                        break
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return results


def _convert_array_images(
    images: np.ndarray, resolution: int, channels: int, progress: bool, desc: str, options: ImageOptions | None = None
) -> np.ndarray:
    """Window, channel-convert and resize an (N,H,W) / (N,H,W,3) uint8 array; a no-op when nothing changes."""
    from PIL import Image
    from tqdm import tqdm

    src_c = 1 if images.ndim == 3 else images.shape[-1]
    n, h, w = images.shape[:3]
    options = options or ImageOptions()
    if src_c == channels and (h, w) == (resolution, resolution) and not options.fixed_window:
        out = images if images.ndim == 4 else images[..., None]
        return np.ascontiguousarray(out, dtype=np.uint8)
    out = np.empty((n, resolution, resolution, channels), np.uint8)
    for i in tqdm(range(n), desc=desc, unit="img", file=sys.stderr, disable=not progress):
        out[i] = convert_pil(Image.fromarray(images[i]), resolution, channels, options)
    return out


# --------------------------------------------------------------------------- splitting


def _carve(
    pool: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    fraction: float,
    seed: int,
    what: str,
    classes: Sequence[str],
) -> np.ndarray:
    """Indices (subset of ``pool``) to move into the ``what`` split; stratified, group-aware if ``groups``."""
    if fraction <= 0 or len(pool) == 0:
        return np.empty(0, np.int64)
    y = labels[pool]
    if groups is None:
        from sklearn.model_selection import train_test_split

        try:
            _, taken = train_test_split(pool, test_size=fraction, stratify=y, random_state=seed, shuffle=True)
        except ValueError as exc:
            counts = {classes[c]: int(n) for c, n in zip(*np.unique(y, return_counts=True))}
            raise ValueError(
                f"cannot carve a stratified {what} split ({what}_fraction={fraction}) from {len(pool)} images "
                f"with class counts {counts}: {exc}"
            ) from None
        return np.sort(np.asarray(taken, np.int64))

    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    g = groups[pool]
    n_groups = len(np.unique(g))
    n_splits = max(2, int(round(1.0 / fraction)))
    if n_splits > n_groups:
        raise ValueError(
            f"cannot carve a group-aware {what} split ({what}_fraction={fraction}, {n_splits} folds) "
            f"from {n_groups} groups"
        )
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        try:
            _, taken = next(cv.split(np.zeros(len(pool)), y, g))
        except ValueError as exc:  # e.g. a class with fewer images than folds
            counts = {classes[c]: int(n) for c, n in zip(*np.unique(y, return_counts=True))}
            raise ValueError(
                f"cannot carve a group-aware {what} split ({what}_fraction={fraction}, {n_splits} folds) from "
                f"{len(pool)} images of {n_groups} groups with class counts {counts}: {exc}"
            ) from None
    return np.sort(pool[taken].astype(np.int64))


def _assign_splits(
    own: list[str | None],
    labels: np.ndarray,
    groups: np.ndarray | None,
    split_cfg: Mapping[str, Any],
    classes: Sequence[str],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Split indices ``{train,val,test}`` (each sorted) and a provenance note per image.

    A dataset's own splits are kept; where they share groups, the overlap is logged
    (``split_cfg['group_overlap']: error`` makes it a one-line error). Carved splits never
    share a group with the split they were carved from.
    """
    seed = int(split_cfg.get("seed", 0))
    fractions = {}
    for what in ("val", "test"):
        f = float(split_cfg.get(f"{what}_fraction", 0.0))
        if not 0.0 <= f < 1.0:
            raise ValueError(f"split.{what}_fraction: {f} must be in [0, 1)")
        fractions[what] = f

    assign = np.array([s if s is not None else "train" for s in own], dtype=object)
    _check_own_overlap(assign, groups, split_cfg.get("group_overlap", "report"))
    notes = [""] * len(own)
    for what in ("test", "val"):  # test first, then val from what remains of train
        if np.any(assign == what):
            continue
        pool = np.flatnonzero(assign == "train")
        taken = _carve(pool, labels, groups, fractions[what], seed, what, classes)
        assign[taken] = what
        note = f"carved from train ({what}_fraction={fractions[what]}, seed={seed}{', by group' if groups is not None else ''})"
        for i in taken:
            notes[i] = note
        if len(taken):
            log.info("carved %d %s images out of %d train images", len(taken), what, len(pool))
        if groups is not None:  # cannot happen by construction; guard against regressions
            shared = set(groups[taken]) & set(groups[assign == "train"])
            if shared:
                raise RuntimeError(f"group '{sorted(shared)[0]}' is in both the train and the carved {what} split")

    for row in overlap_table(assign, groups):  # the final splits (empty without groups)
        log.info("groups %s / %s: %d / %d, shared %d", row["split_a"], row["split_b"], row["groups_a"],
                 row["groups_b"], row["shared_groups"])  # fmt: skip
    split_idx = {s: np.flatnonzero(assign == s).astype(np.int64) for s in SPLITS}
    for split, idx in split_idx.items():
        if len(idx) == 0:
            if split == "train":
                raise ValueError("no images left in the train split")
            continue
        counts = np.bincount(labels[idx], minlength=len(classes))
        for c, n in enumerate(counts):
            if n == 0:
                raise ValueError(
                    f"class '{classes[c]}' is present in train but absent from the {split} split"
                    if split != "train"
                    else f"class '{classes[c]}' has no images in the train split"
                )
    return split_idx, notes


def _check_own_overlap(assign: np.ndarray, groups: np.ndarray | None, policy: str) -> None:
    """Log (or, with ``policy`` ``error``, refuse) groups that the dataset's own splits share."""
    if policy not in GROUP_OVERLAP:
        raise ValueError(f"split.group_overlap: {policy!r} must be one of {', '.join(GROUP_OVERLAP)}")
    for row in overlap_table(assign, groups):
        if not row["shared_groups"]:
            continue
        line = f"the dataset's own splits share groups: {describe_overlap(row)}"
        if policy == "error":
            raise ValueError(f"{line} (experiment.split.group_overlap: error; use report to go on)")
        log.warning("%s", line)


# --------------------------------------------------------------------------- reading


def _read_files(spec: dict, resolution: int, channels: int, on_bad_image: str, workers: int, progress: bool,
                options: ImageOptions) -> dict[str, Any]:  # fmt: skip
    """Decode a folder or csv dataset: images, labels, sources, own splits, groups, classes, skipped files."""
    source = spec["source"]
    items, classes = (list_folder_items if source == "folder" else list_csv_items)(spec)
    log.info("%s dataset: %d images in %d classes %s", source, len(items), len(classes), classes)
    results = _decode_all([it.path for it in items], resolution, channels, workers, progress, "decode",
                          stop_on_error=on_bad_image == "error", options=options)  # fmt: skip
    keep: list[int] = []
    skipped: list[tuple[str, str, str]] = []  # (source, label_name, reason)
    for i, res in enumerate(results):
        if isinstance(res, str):
            if on_bad_image == "error":
                raise ValueError(f"{items[i].path}: {res} (set on_bad_image: skip to leave such files out)")
            skipped.append((items[i].path, items[i].label, res))
        else:
            keep.append(i)
    if skipped:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(skipped), skipped[0][0])
    kept: list[Item] = [items[i] for i in keep]
    images = np.stack([results[i] for i in keep]) if keep else np.empty((0, resolution, resolution, channels), np.uint8)
    class_index = {c: k for k, c in enumerate(classes)}
    if source == "folder":
        # a class folder whose every image was skipped counts as empty
        for split in sorted({it.split for it in items}, key=lambda s: SPLITS.index(s) if s else -1):
            have = {it.label for it in kept if it.split == split}
            for c in classes:
                if c not in have:
                    raise ValueError(
                        f"class '{c}' has no readable images in the {split or 'dataset'} folder (every file was skipped)"
                    )
        groups = folder_groups(spec, [it.path for it in kept])
    else:
        groups = [it.group for it in kept] if spec.get("group_column") else None
    return {
        "images": images,
        "labels": np.array([class_index[it.label] for it in kept], np.int64),
        "sources": [it.path for it in kept],
        "own": [it.split for it in kept],
        "groups": None if groups is None else np.array(groups, dtype=object),
        "classes": classes,
        "skipped": skipped,
    }


def _read_npz(spec: dict, resolution: int, channels: int, progress: bool, options: ImageOptions) -> dict[str, Any]:
    """Convert a MedMNIST-layout npz: the same fields as :func:`_read_files` (groups from ``{split}_groups``)."""
    arrays, classes, npz_path = load_medmnist_arrays(spec)
    parts_img, parts_lab, sources, own, groups = [], [], [], [], []
    for split, (imgs, labs, grp, names) in arrays.items():
        parts_img.append(_convert_array_images(imgs, resolution, channels, progress, f"convert {split}", options))
        parts_lab.append(labs)
        sources.extend(f"npz:{npz_path}:{split}:{i}" + (f":{names[i]}" if names is not None else "")
                       for i in range(len(labs)))  # fmt: skip
        own.extend([split] * len(labs))
        groups.append(grp)
    if any(g is None for g in groups) and not all(g is None for g in groups):
        raise ValueError(f"{npz_path}: has {{split}}_groups for some splits but not for all of {', '.join(arrays)}")
    return {
        "images": np.concatenate(parts_img),
        "labels": np.concatenate(parts_lab).astype(np.int64),
        "sources": sources,
        "own": own,
        "groups": None if groups[0] is None else np.concatenate(groups).astype(object),
        "classes": classes,
        "skipped": [],
    }


# --------------------------------------------------------------------------- entry point


def prepare_dataset(
    spec: dict,
    resolution: int,
    channels: int,
    split_cfg: dict,
    out_npz: str | os.PathLike,
    out_manifest: str | os.PathLike,
    on_bad_image: str = "error",
    progress: bool = True,
    workers: int | None = None,
    window: str | Sequence[float] = IMAGE_DEFAULTS["window"],
    resize: str = IMAGE_DEFAULTS["resize"],
    pad_value: str = IMAGE_DEFAULTS["pad_value"],
    multiframe: str = IMAGE_DEFAULTS["multiframe"],
) -> dict[str, dict[str, int]]:
    """Decode, resize and split a dataset; write ``out_npz`` and ``out_manifest``.

    ``window``, ``resize``, ``pad_value`` and ``multiframe`` are the image
    settings of :mod:`ganaug.data.images`. ``workers`` threads decode image
    files (default: the usable cores, at most 8); the output does not depend on
    it. Returns ``{split: {class: count}}`` for ``train``, ``val`` and ``test``.
    """
    import pandas as pd

    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"on_bad_image: {on_bad_image!r} must be one of {', '.join(ON_BAD_IMAGE)}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"resolution: {resolution!r} must be a positive integer")
    if channels not in (1, 3):
        raise ValueError(f"channels: {channels!r} must be 1 or 3")
    resolution, channels = int(resolution), int(channels)
    options = ImageOptions(window=window, resize=resize, pad_value=pad_value, multiframe=multiframe)
    workers = _default_workers() if workers is None else max(1, int(workers))
    source = spec.get("source")
    if source in ("folder", "csv"):
        data = _read_files(spec, resolution, channels, on_bad_image, workers, progress, options)
    elif source == "medmnist":
        data = _read_npz(spec, resolution, channels, progress, options)
    else:
        raise ValueError(f"source: {source!r} is not one of folder, csv, medmnist")
    images, labels, classes, groups = data["images"], data["labels"], data["classes"], data["groups"]

    split_idx, notes = _assign_splits(data["own"], labels, groups, split_cfg, classes)

    arrays_out: dict[str, np.ndarray] = {}
    rows = []
    for split in SPLITS:
        idx = split_idx[split]
        arrays_out[f"{split}_images"] = np.ascontiguousarray(images[idx], dtype=np.uint8).reshape(
            len(idx), resolution, resolution, channels
        )
        arrays_out[f"{split}_labels"] = labels[idx].astype(np.int64)
        for j, i in enumerate(idx):
            group = "" if groups is None else str(groups[i])
            rows.append((split, j, int(labels[i]), classes[labels[i]], data["sources"][i], notes[i], group))
    class_index = {c: k for k, c in enumerate(classes)}
    for j, (src, label_name, reason) in enumerate(data["skipped"]):
        rows.append(("skipped", j, class_index[label_name], label_name, src, reason, ""))
    arrays_out["classes"] = np.array(classes, dtype=np.str_)

    save_npz(out_npz, arrays_out)
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    save_dataframe(out_manifest, manifest)

    summary = {
        split: {c: int(n) for c, n in zip(classes, np.bincount(labels[split_idx[split]], minlength=len(classes)))}
        for split in SPLITS
    }
    log.info("prepared %s: %s", out_npz, summary)
    return summary


def load_prepared(npz_path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(images (N,R,R,C) uint8, labels (N,) int64, class names)`` of one split of a prepared npz."""
    if split not in SPLITS:
        raise ValueError(f"split: {split!r} must be one of {', '.join(SPLITS)}")
    if not Path(npz_path).is_file():
        raise ValueError(f"{npz_path}: prepared dataset does not exist")
    data = load_npz(npz_path)
    keys = (f"{split}_images", f"{split}_labels", "classes")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(
            f"{npz_path}: split '{split}' is missing (no {', '.join(missing)}; has {', '.join(sorted(data)) or 'nothing'})"
        )
    images, labels = data[keys[0]], data[keys[1]]
    classes = [str(c) for c in data["classes"].tolist()]
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels):
        raise ValueError(
            f"{npz_path}: {keys[0]} {images.shape} {images.dtype} / {keys[1]} {labels.shape} "
            "are not (N,R,R,C) uint8 images with N labels"
        )
    return images, labels.astype(np.int64), classes


def skipped_images(manifest_path: str | os.PathLike):
    """The images a prepare run left out (``on_bad_image: skip``): DataFrame ``file,class,reason``.

    Read from the manifest's ``skipped`` rows; empty (header only) when nothing was skipped.
    """
    import pandas as pd

    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    rows = manifest[manifest["split"] == "skipped"]
    return pd.DataFrame(
        {"file": rows["source"].tolist(), "class": rows["label_name"].tolist(), "reason": rows["note"].tolist()}
    )
