"""The real dataset shipped in the repository: Kaggle's chest X-rays at 32 px, each image's person kept.

``resources/chest_xray_32px.npz`` lets the default experiment run on a fresh clone with no
network (config.yaml's ``chest_xray_sample``). It holds every image of Kaggle's *Chest X-Ray
Images (Pneumonia)* (Kermany et al. 2018, CC BY 4.0) prepared exactly as the data stage
prepares the folder copy at 32 px with the default image settings (8-bit JPEG not windowed,
grayscale, squashed, PIL bicubic), in the folder's order, in the MedMNIST layout the
``medmnist`` source reads, plus two string arrays per split:

- ``{split}_groups``: the person or patient (``person23`` from ``person23_bacteria_1.jpeg``;
  ``IM-0115`` / ``NORMAL2-IM-0927`` from the NORMAL names), so carved splits keep each person
  on one side;
- ``{split}_names``: the original file name below the dataset root, for provenance.

So ``config.yaml`` (the sample) and ``config/chest_xray.yaml`` (the full copy) prepare the same
pixels, labels and groups. Rebuild it from a copy of the Kaggle folder with::

    python -m ganaug.data.sample ../shared/data/chest_xray resources/chest_xray_32px.npz
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

#: the person / patient in a Kaggle chest X-ray file name (one capture group, as ``group_pattern``)
KAGGLE_CHEST_GROUP_PATTERN = r"(person\d+|(?:NORMAL2-)?IM-\d+)"
#: the shipped sample, relative to the repository root, and what it holds
SAMPLE_PATH = "resources/chest_xray_32px.npz"
SAMPLE_CLASSES = ("NORMAL", "PNEUMONIA")


def build_sample(folder: str | os.PathLike, out: str | os.PathLike, resolution: int = 32) -> dict[str, int]:
    """Prepare the Kaggle chest X-ray ``folder`` (``{train,test}/{NORMAL,PNEUMONIA}``) into the sample npz ``out``.

    Returns the image count per split. The pixels are those of :func:`ganaug.data.prepare_dataset`
    on the folder with the default image settings and no carved split.
    """
    import pandas as pd

    from ganaug.io import load_npz, save_npz

    from .prepare import prepare_dataset

    spec = {"source": "folder", "path": str(folder), "group_pattern": KAGGLE_CHEST_GROUP_PATTERN}
    with tempfile.TemporaryDirectory() as tmp:
        npz, manifest = Path(tmp) / "p.npz", Path(tmp) / "p.csv"
        prepare_dataset(spec, resolution, 1, {"val_fraction": 0.0, "test_fraction": 0.0}, npz, manifest)
        data = load_npz(npz)
        rows = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    if [str(c) for c in data["classes"]] != list(SAMPLE_CLASSES):
        raise ValueError(f"{folder}: classes {list(data['classes'])}, expected {list(SAMPLE_CLASSES)}")
    arrays, counts = {}, {}
    for split in ("train", "test"):
        part = rows[rows.split == split].sort_values("index", key=lambda s: s.astype(int))
        if not len(part):
            continue
        arrays[f"{split}_images"] = data[f"{split}_images"][..., 0]
        arrays[f"{split}_labels"] = data[f"{split}_labels"]
        arrays[f"{split}_groups"] = part.group.to_numpy(dtype=np.str_)
        arrays[f"{split}_names"] = np.array([Path(p).relative_to(folder).as_posix() for p in part.source], np.str_)
        counts[split] = len(part)
    save_npz(out, arrays)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="Kaggle chest_xray folder ({train,test}/{NORMAL,PNEUMONIA})")
    ap.add_argument("out", type=Path, help="the npz to write")
    ap.add_argument("--resolution", type=int, default=32)
    args = ap.parse_args()
    counts = build_sample(args.folder, args.out, args.resolution)
    from ganaug.data.download import md5sum

    print(f"{args.out}: {counts}, {args.out.stat().st_size} bytes, md5 {md5sum(args.out)}")


if __name__ == "__main__":
    main()
