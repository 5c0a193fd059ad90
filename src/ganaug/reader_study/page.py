"""The reader-study page: N real and N generated images per class, shuffled, under opaque ids.

:func:`draw_study` picks the images (real ones from the validation split: never
trained on, drawn like the training images) and their order and ids, all from one
seeded generator; :func:`render_page` writes them into one self-contained HTML file
(``page.html`` in this package: images as PNG data URIs, the script inline, nothing
fetched from anywhere); :func:`write_study` does both and writes ``index.html`` and
``key.csv``. The page holds, per image, only its id, its pixels and (when the study
has several classes) its class; which id is real is only in the key.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Sequence
from importlib import resources
from typing import NamedTuple

import numpy as np
import pandas as pd

from ganaug.io import PathLike, load_npz, save_dataframe, write_text

#: the real images of a study: the prepared dataset's validation split (docs/reader-study.md says why)
REAL_SPLIT = "val"
#: columns of key.csv, one row per image in the order the page shows them
KEY_COLUMNS = ("study_id", "position", "image_id", "class", "source", "origin", "row")
#: letters of the opaque ids (no 0/o, 1/l/i: a reader may read an id aloud or type it)
ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
ID_LENGTH = 6


class Study(NamedTuple):
    """The images of a study in page order and the key (one row each, :data:`KEY_COLUMNS`)."""

    study_id: str
    images: list[np.ndarray]
    key: pd.DataFrame


def _pick(labels: np.ndarray, names: Sequence[str], cls: str, n: int, rng, where: str) -> np.ndarray:
    rows = np.flatnonzero(np.asarray(labels) == list(names).index(cls)) if cls in names else np.array([], int)
    if len(rows) < n:
        raise ValueError(
            f"reader_study.n_per_side = {n}: {where} has only {len(rows)} image(s) of class {cls!r}; "
            "lower n_per_side or generate more images"
        )
    return np.sort(rng.choice(rows, size=n, replace=False))


def opaque_ids(n: int, rng) -> list[str]:
    """``n`` distinct random ids of :data:`ID_LENGTH` letters of :data:`ID_ALPHABET`."""
    ids: list[str] = []
    while len(ids) < n:
        new = "".join(rng.choice(list(ID_ALPHABET), size=ID_LENGTH))
        if new not in ids:
            ids.append(new)
    return ids


def draw_study(
    real: tuple, generated: tuple, classes: Sequence[str], n: int, seed: int, gan: str, display: Sequence = ()
) -> Study:
    """Draw ``n`` real and ``n`` generated images of each class, shuffle them and give them ids.

    ``real`` / ``generated``: ``(images (N,R,R,C) uint8, labels, class names)`` of the
    validation split and of the GAN's samples. Everything random comes from
    ``numpy.random.default_rng(seed)``, so a seed gives one page and one key. The study id
    hashes the GAN, the seed, the ids, the order, the pixels and ``display`` (how the page
    shows them), so a page that differs in any of these has another id.
    """
    rng = np.random.default_rng(int(seed))
    if real[0].shape[1:] != generated[0].shape[1:]:
        raise ValueError(f"real images {real[0].shape[1:]} and generated ones {generated[0].shape[1:]} differ in shape")
    entries = []  # (source, class, origin, row)
    for cls in classes:
        sides = (("real", REAL_SPLIT, real, f"the {REAL_SPLIT} split"),
                 ("synthetic", "samples", generated, f"the samples of GAN {gan!r}"))  # fmt: skip
        for source, origin, (_, labels, names), where in sides:
            entries += [(source, cls, origin, int(r)) for r in _pick(labels, names, cls, n, rng, where)]
    order = rng.permutation(len(entries))
    ids = opaque_ids(len(entries), rng)
    shown = [entries[k] for k in order]
    images = [(real if src == "real" else generated)[0][row] for src, _, _, row in shown]
    digest = hashlib.sha256(json.dumps([gan, int(seed), ids, shown, list(display)]).encode())
    for img in images:
        digest.update(np.ascontiguousarray(img).tobytes())
    study_id = f"{gan}-{digest.hexdigest()[:10]}"
    key = pd.DataFrame(
        [(study_id, pos + 1, ids[pos], cls, src, origin, row) for pos, (src, cls, origin, row) in enumerate(shown)],
        columns=list(KEY_COLUMNS),
    )
    return Study(study_id, images, key)


def upscale(image: np.ndarray, display_size: int, method: str = "nearest"):
    """A PIL image of ``image`` (R,R,C uint8) shown large: nearest by the integer factor closest to
    ``display_size / R`` (every pixel an equal square), bicubic to exactly ``display_size``."""
    from PIL import Image

    arr = np.asarray(image)
    arr = arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    pil = Image.fromarray(arr)
    if method == "nearest":
        side = arr.shape[0] * max(1, round(display_size / arr.shape[0]))
        return pil.resize((side, side), Image.Resampling.NEAREST)
    if method == "bicubic":
        return pil.resize((display_size, display_size), Image.Resampling.BICUBIC)
    raise ValueError(f"upscale: {method!r} is not nearest or bicubic")


def data_uri(pil_image) -> str:
    """The image as a ``data:image/png;base64,...`` URI (PNG without text chunks: no metadata)."""
    buf = io.BytesIO()
    pil_image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _script_json(obj) -> str:
    """JSON that is safe inside a <script> element (no '<', '>' or '&' to close or open a tag)."""
    return json.dumps(obj, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(study: Study, classes: Sequence[str], dataset: str, display_size: int, method: str) -> str:
    """The self-contained HTML page of ``study`` (the template ``page.html`` with the study's data)."""
    pictures = [upscale(img, display_size, method) for img in study.images]
    shown_class = len(classes) > 1
    payload = {
        "study_id": study.study_id,
        "dataset": dataset,
        "classes": list(classes),
        "pixelated": method == "nearest",
        "side": pictures[0].size[0],
        "images": [
            {"id": image_id, "src": data_uri(pic), **({"class": cls} if shown_class else {})}
            for image_id, cls, pic in zip(study.key["image_id"], study.key["class"], pictures)
        ],
    }
    template = resources.files("ganaug.reader_study").joinpath("page.html").read_text(encoding="utf-8")
    if template.count("__STUDY_DATA__") != 1:
        raise RuntimeError("ganaug/reader_study/page.html must hold __STUDY_DATA__ exactly once")
    return template.replace("__STUDY_DATA__", _script_json(payload))


def load_real(prepared_npz: PathLike) -> tuple:
    from ganaug.data import load_prepared

    return load_prepared(prepared_npz, REAL_SPLIT)


def load_generated(samples_npz: PathLike) -> tuple:
    data = load_npz(samples_npz, required=("images", "labels", "classes"))
    return data["images"], data["labels"], [str(c) for c in data["classes"]]


def write_study(prepared_npz: PathLike, samples_npz: PathLike, settings: dict, dataset: str, html: PathLike, key):
    """Draw the study of ``settings`` (resolved ``reader_study``), write the page and the key; returns the key."""
    study = draw_study(
        load_real(prepared_npz),
        load_generated(samples_npz),
        settings["classes"],
        int(settings["n_per_side"]),
        int(settings["seed"]),
        settings["gan"],
        display=(int(settings["display_size"]), settings["upscale"]),
    )
    page = render_page(study, settings["classes"], dataset, int(settings["display_size"]), settings["upscale"])
    save_dataframe(key, study.key)
    write_text(html, page)
    return study.key
