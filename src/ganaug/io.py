"""Atomic writers and safe readers for every artefact the pipeline produces.

Every output is written to a temporary file in the destination directory and
then renamed over the target with :func:`os.replace`, which is atomic on POSIX
file systems: a kill at any moment leaves either no file or a complete one.
The temporary file is hidden and marked as such (``.NAME.tmp-XXXXXXXX.EXT``
for target ``NAME``), so a kill that leaves one behind cannot pass for an
output; the next write of the same target removes it.
Readers refuse pickled content (``allow_pickle=False``, ``weights_only=True``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

PathLike = str | os.PathLike
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    The temporary file is ``.NAME.tmp-XXXXXXXX`` + ``suffix`` in the target's
    folder; ``suffix`` defaults to the target's own suffix so that libraries
    which dispatch on the extension (matplotlib, PIL, numpy) write the right
    format. Leftovers of an earlier, killed write of the same target are
    removed first (Snakemake never runs two jobs writing one output).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(path.suffixes) or ".tmp"
    prefix = temp_prefix(path)
    for stale in os.listdir(path.parent):
        if stale.startswith(prefix):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(path.parent / stale)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; give outputs the usual mode
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, path)
        _fsync_file(path.parent)  # make the rename itself durable
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def temp_prefix(path: PathLike) -> str:
    """Name prefix of the temporary files :func:`atomic_path` writes for ``path``."""
    return f".{Path(path).name}.tmp-"


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def save_npz(path: PathLike, arrays: Mapping[str, np.ndarray], compress: bool = True) -> None:
    """Write ``arrays`` to ``path`` atomically. Object arrays are refused."""
    for key, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"{path}: array {key!r} has dtype object; refusing to pickle")
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def load_npz(path: PathLike, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load every array of an npz into memory, never unpickling.

    Raises ``ValueError`` naming the file if a required key is missing or the
    file holds a pickled object.
    """
    import zipfile

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy array, not an npz archive
            raise ValueError("a single .npy array, not an npz archive")
        with data:
            out = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        text = " ".join(str(exc).split())
        if "allow_pickle" in text or "Object arrays" in text:
            raise ValueError(f"{path}: contains a pickled object array; refusing to load it") from None
        raise ValueError(f"{path}: not a valid npz file ({type(exc).__name__}: {text})") from None
    missing = [k for k in required if k not in out]
    if missing:
        raise ValueError(f"{path}: missing array(s) {', '.join(missing)} (has: {', '.join(sorted(out)) or 'none'})")
    return out


def save_dataframe(path: PathLike, df, **kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)


def torch_save(path: PathLike, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def torch_load(path: PathLike, map_location: Any = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary unpickling).

    A checkpoint holding anything but tensors and plain containers / numbers /
    strings is refused with a one-line ``ValueError`` naming the file; nothing
    in it is executed.
    """
    import pickle  # only for the exception type torch raises; nothing is unpickled here

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = next((line.strip() for line in str(exc).splitlines() if "unsupported" in line.lower()), "")
        detail = f" ({first})" if first else ""
        raise ValueError(
            f"{path}: refusing to load a checkpoint that holds non-tensor objects{detail}; "
            "only tensors, numbers, strings and plain containers are loaded (weights_only=True)"
        ) from None


def save_figure(path: PathLike, fig, **kwargs) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
    plt.close(fig)


def save_image(path: PathLike, array: np.ndarray) -> None:
    """Save an HxW or HxWxC uint8 array as an image file atomically."""
    from PIL import Image

    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    img = Image.fromarray(arr)
    with atomic_path(path) as tmp:
        img.save(tmp, format=(Path(path).suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG"))
