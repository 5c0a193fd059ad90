"""One image file as the data stage reads it: decode, intensity window, square, resize.

Every image of a folder or csv dataset goes through these steps, in this order
(MedMNIST arrays enter at step 3, through :func:`convert_pil`):

1. **Decode.** A DICOM file (extension ``.dcm`` / ``.dicom``, or any other file
   that starts with the 128-byte preamble and ``DICM``) is read with pydicom:
   its pixel data after the Modality LUT (Rescale Slope / Intercept, or the
   Modality LUT Sequence); ``PALETTE COLOR`` goes through its colour LUT and
   ``YBR_*`` is converted to RGB. Every other file is read with PIL, EXIF
   orientation applied. A multi-frame TIFF or DICOM is a bad image unless
   ``multiframe="first"`` (then its first frame is read).
2. **Intensity window** to 8 bits (``window``), ``y = round(255 * f(x))``:

   * ``"auto"`` (default): 8-bit images are left as they are; 16-bit, 32-bit and
     float images are min-max scaled per image (what ganaug always did, so
     existing results do not change); a grayscale DICOM gets its own VOI: the
     VOI LUT Sequence if it has one, else its (first) Window Center / Width with
     its VOI LUT Function (``LINEAR`` by default, ``LINEAR_EXACT``, ``SIGMOID``,
     as DICOM PS3.3 C.11.2.1.2 defines them), else min-max per image (8-bit
     DICOM without a rescale: as it is).
   * ``"dicom"``: as ``auto``, except that a grayscale DICOM without a VOI LUT
     or window is a bad image instead of falling back to min-max.
   * ``"minmax"``: every image (8-bit ones too) is min-max scaled per image:
     ``f(x) = (x - min) / (max - min)``.
   * ``(center, width)``: one fixed window for every image (8-bit ones too), in
     the file's units (for DICOM after the rescale, e.g. Hounsfield units):
     ``f(x) = clip((x - center) / width + 0.5, 0, 1)``, i.e. ``center - width/2``
     maps to 0 and ``center + width/2`` to 255 (DICOM's ``LINEAR_EXACT``);
     ``(32767.5, 65535)`` maps 0..65535 onto 0..255 and keeps intensities
     comparable between 16-bit images.

   MONOCHROME1 DICOM (high values dark) is then inverted, ``255 - y``, so that
   every image reads like MONOCHROME2. Colour images get the same ``f`` on all
   channels together (``auto`` / ``dicom`` leave 8-bit colour as it is).
3. **Channels**: PIL ``convert("L")`` (ITU-R 601-2 luma) or ``convert("RGB")``.
4. **Square** (``resize``): ``"squash"`` (default, as before: the resize
   stretches a non-square image), ``"pad"`` (centred on a square of the longer
   side, filled with ``pad_value``: ``"border"`` = the median of the image's
   outermost ring of pixels per channel, rounded; ``"black"`` = 0), or
   ``"center_crop"`` (the centred square of the shorter side). Centring puts
   the extra pixel of an odd difference on the right / bottom.
5. **Resize** to ``resolution x resolution`` with PIL's ``BICUBIC`` filter
   (anti-aliased when shrinking; skipped when the size already matches).

A file that cannot be read as one image raises :class:`BadImage` with a
one-line reason; the data stage prefixes the file and applies ``on_bad_image``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganaug.names import MULTIFRAME_POLICIES, PAD_VALUES, RESIZE_POLICIES, WINDOW_MODES, check_registry

#: extensions always read as DICOM; files with other, non-image extensions are DICOM if they carry the preamble
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
#: extensions read with PIL
PIL_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})

#: the data stage's image settings (``experiment.window`` / ``resize`` / ``pad_value`` / ``multiframe``)
#: and their defaults, with which 8-bit and 16-bit inputs give the results they gave before the settings existed
IMAGE_DEFAULTS: dict[str, Any] = {"window": "auto", "resize": "squash", "pad_value": "border", "multiframe": "reject"}

#: DICOM Photometric Interpretations read (YBR is converted to RGB by pydicom, PALETTE COLOR through its LUT)
DICOM_PHOTOMETRIC = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
    "PALETTE COLOR",
)


class BadImage(ValueError):
    """A file that cannot be read as one image; the message is the one-line reason (without the file)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ImageOptions:
    """The image settings of the data stage (see the module docstring); checked on construction."""

    window: str | tuple[float, float] = IMAGE_DEFAULTS["window"]
    resize: str = IMAGE_DEFAULTS["resize"]
    pad_value: str = IMAGE_DEFAULTS["pad_value"]
    multiframe: str = IMAGE_DEFAULTS["multiframe"]

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", _check_window(self.window))
        for key, allowed in (
            ("resize", RESIZE_POLICIES),
            ("pad_value", PAD_VALUES),
            ("multiframe", MULTIFRAME_POLICIES),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}: {getattr(self, key)!r} must be one of {', '.join(allowed)}")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> ImageOptions:
        """From a mapping holding any of the :data:`IMAGE_DEFAULTS` keys (others are ignored)."""
        settings = settings or {}
        return cls(**{k: settings[k] for k in IMAGE_DEFAULTS if k in settings})

    @property
    def fixed_window(self) -> bool:
        """True when every image is windowed (``minmax`` or ``[center, width]``), 8-bit ones included."""
        return self.window not in ("auto", "dicom")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.window, tuple):
            out["window"] = list(self.window)
        return out

    def changed(self) -> dict[str, Any]:
        """The settings that differ from :data:`IMAGE_DEFAULTS` and change the prepared images.

        The prepare rule's params: empty with the defaults, so that trees prepared before these
        settings existed are not rerun; ``pad_value`` counts only with ``resize: pad``.
        """
        out = {}
        for key, value in self.as_dict().items():
            if key == "pad_value" and self.resize != "pad":
                continue
            if value != IMAGE_DEFAULTS[key]:
                out[key] = value
        return out


def _check_window(window: Any) -> str | tuple[float, float]:
    if isinstance(window, str):
        if window in WINDOW_MODES:
            return window
    elif isinstance(window, (list, tuple)) and len(window) == 2:
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in window):
            center, width = float(window[0]), float(window[1])
            if np.isfinite(center) and np.isfinite(width) and width > 0:
                return (center, width)
            raise ValueError(f"window: {list(window)!r} must be [center, width] with finite values and width > 0")
    raise ValueError(f"window: {window!r} must be one of {', '.join(WINDOW_MODES)} or [center, width]")


# --------------------------------------------------------------------------- intensity windows


def minmax_to_8bit(values: np.ndarray) -> np.ndarray:
    """Min-max scale to uint8 over the whole array (0 for a constant image)."""
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    return np.round((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def fixed_window_to_8bit(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """``round(255 * clip((x - center) / width + 0.5, 0, 1))`` (DICOM's LINEAR_EXACT) as uint8."""
    y = np.clip((np.asarray(values, dtype=np.float64) - center) / width + 0.5, 0.0, 1.0)
    return np.round(y * 255.0).astype(np.uint8)


def _window(values: np.ndarray, window: str | tuple[float, float]) -> np.ndarray:
    """A non-DICOM image's values -> uint8: the fixed window, else min-max."""
    if isinstance(window, tuple):
        return fixed_window_to_8bit(values, *window)
    return minmax_to_8bit(values)


def dicom_window_to_8bit(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """A DICOM Window Center / Width with its VOI LUT Function (PS3.3 C.11.2.1.2) -> uint8 0..255."""
    x = np.asarray(values, dtype=np.float64)
    function = (function or "LINEAR").strip().upper()
    if function == "LINEAR":
        if width < 1:
            raise BadImage(f"DICOM Window Width {width:g} must be >= 1 (VOI LUT Function LINEAR)")
        if width == 1:
            y = (x > center - 0.5).astype(np.float64)
        else:
            y = np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)
    elif function == "LINEAR_EXACT":
        if width <= 0:
            raise BadImage(f"DICOM Window Width {width:g} must be > 0 (VOI LUT Function LINEAR_EXACT)")
        y = np.clip((x - center) / width + 0.5, 0.0, 1.0)
    elif function == "SIGMOID":
        if width <= 0:
            raise BadImage(f"DICOM Window Width {width:g} must be > 0 (VOI LUT Function SIGMOID)")
        y = 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    else:
        raise BadImage(f"DICOM VOI LUT Function {function!r} is not one of LINEAR, LINEAR_EXACT, SIGMOID")
    return np.round(y * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------- DICOM


def has_dicom_preamble(path: str | os.PathLike) -> bool:
    """True when the file starts with DICOM's 128-byte preamble followed by ``DICM``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def is_dicom(path: str | os.PathLike) -> bool:
    """Read as DICOM: a ``.dcm`` / ``.dicom`` file, or a file of another non-image extension with the preamble."""
    suffix = Path(path).suffix.lower()
    if suffix in DICOM_EXTENSIONS:
        return True
    return suffix not in PIL_EXTENSIONS and has_dicom_preamble(path)


@dataclass
class DicomPixels:
    """One frame of a DICOM file: ``values`` (H, W) after the Modality LUT, or (H, W, 3) RGB."""

    values: np.ndarray
    photometric: str
    ds: Any  # the pydicom Dataset (header only is needed after this)
    frames: int


def _install_hint(missing: list[str]) -> str:
    """'pip install ...' for the pylibjpeg plugin pydicom names as missing (else its first suggestion)."""
    if not missing:
        return ""
    entry = next((m for m in missing if m.startswith("pylibjpeg ")), missing[0])
    name, _, req = entry.partition(" - requires ")
    pkgs = [p.strip() for p in req.split(" and ") if p.strip() and p.strip() != "numpy"] or [name.strip()]
    others = [m.split(" - ")[0].strip() for m in missing if m is not entry]
    hint = "pip install " + " ".join(f"'{p}'" if any(c in p for c in "<>=") else p for p in pkgs)
    return hint + (f" (or {', '.join(others)})" if others else "")


def _syntax(ds) -> Any:
    meta = getattr(ds, "file_meta", None)
    return meta.get("TransferSyntaxUID") if meta is not None else None


def read_dicom(path: str | os.PathLike, multiframe: str = "reject") -> DicomPixels:
    """Read one DICOM file's pixels (first frame with ``multiframe="first"``); :class:`BadImage` if it cannot be."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        # a .dcm written without the 128-byte preamble and file meta header: read it if it holds pixels
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as exc:  # noqa: BLE001 - anything wrong with the file makes it a bad image
            raise BadImage(f"not a readable DICOM file ({_one_line(exc)})") from None
        if "PixelData" not in ds:
            raise BadImage("not a DICOM file (no 'DICM' preamble, and no pixel data when read without it)") from None
    except Exception as exc:  # noqa: BLE001
        raise BadImage(f"cannot read DICOM file ({_one_line(exc)})") from None

    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        what = ds.get("SOPClassUID")
        kind = f"{what.name}, " if what is not None and hasattr(what, "name") else ""
        raise BadImage(
            f"DICOM file without pixel data ({kind}modality {ds.get('Modality', '?')}; no Pixel Data element)"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1 and multiframe != "first":
        raise BadImage(
            f"multi-frame DICOM ({frames} frames): only single-frame images are read "
            "(set experiment.multiframe: first to read the first frame)"
        )
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if photometric not in DICOM_PHOTOMETRIC:
        raise BadImage(
            f"DICOM Photometric Interpretation {photometric or '<none>'!r} is not read "
            f"(read: {', '.join(DICOM_PHOTOMETRIC)})"
        )

    syntax = _syntax(ds)
    hint = ""
    if syntax is not None and syntax.is_compressed:
        from pydicom.pixels import get_decoder

        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            raise BadImage(f"DICOM transfer syntax {syntax.name} ({syntax}) has no pixel data decoder") from None
        hint = _install_hint(list(decoder.missing_dependencies))
        if not decoder.is_available:
            raise BadImage(
                f"DICOM transfer syntax {syntax.name} ({syntax}) needs a decoder that is not installed: {hint}"
            )

    from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array

    try:
        arr = pixel_array(ds, index=0 if frames > 1 else None)
    except Exception as exc:  # noqa: BLE001
        where = f"{syntax.name} ({syntax}) " if syntax is not None else ""
        more = f"; another decoder may read it: {hint}" if hint else ""
        raise BadImage(f"cannot decode the DICOM {where}pixel data ({_one_line(exc)}){more}") from None

    try:
        if photometric == "PALETTE COLOR":
            rgb = apply_color_lut(arr, ds)
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            if bits > 8:  # 16-bit palette entries: their top 8 bits
                rgb = (rgb.astype(np.uint32) >> (bits - 8)).astype(np.uint8)
            return DicomPixels(np.asarray(rgb, np.uint8), photometric, ds, frames)
        if arr.ndim == 3:  # RGB (pydicom converts YBR_* to RGB)
            return DicomPixels(arr, photometric, ds, frames)
        return DicomPixels(apply_modality_lut(arr, ds), photometric, ds, frames)
    except BadImage:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BadImage(f"cannot apply the DICOM {photometric} lookup tables ({_one_line(exc)})") from None


def _voi_lut_to_8bit(values: np.ndarray, ds) -> np.ndarray:
    """The first VOI LUT Sequence item applied with pydicom, its output range (0 .. 2**bits - 1) scaled to 0..255."""
    from pydicom.pixels import apply_voi

    bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    x = values if np.issubdtype(values.dtype, np.integer) else np.round(values).astype(np.int64)
    y = np.asarray(apply_voi(x, ds, index=0), dtype=np.float64)
    return np.round(np.clip(y / float(2**bits - 1), 0.0, 1.0) * 255.0).astype(np.uint8)


def _first(value) -> float:
    """The first value of a (possibly multi-valued) DS element."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


def dicom_to_8bit(pixels: DicomPixels, window: str | tuple[float, float]) -> np.ndarray:
    """Step 2 of the module docstring for a DICOM frame: uint8 (H, W) or (H, W, 3)."""
    values, ds = pixels.values, pixels.ds
    if values.ndim == 3:  # colour
        if isinstance(window, tuple):
            return fixed_window_to_8bit(values, *window)
        if window == "minmax" or values.dtype != np.uint8:
            return minmax_to_8bit(values)
        return values
    if isinstance(window, tuple):
        out = fixed_window_to_8bit(values, *window)
    elif window == "minmax":
        out = minmax_to_8bit(values)
    else:  # auto / dicom: the file's own VOI
        try:
            if ds.get("VOILUTSequence"):
                out = _voi_lut_to_8bit(values, ds)
            elif "WindowCenter" in ds and "WindowWidth" in ds:
                out = dicom_window_to_8bit(
                    values, _first(ds.WindowCenter), _first(ds.WindowWidth), str(ds.get("VOILUTFunction", "LINEAR"))
                )
            elif window == "dicom":
                raise BadImage(
                    "DICOM file has no Window Center / Width or VOI LUT (window: dicom); "
                    "use window: auto (min-max for such files), minmax or [center, width]"
                )
            elif values.dtype == np.uint8:
                out = values
            else:
                out = minmax_to_8bit(values)
        except BadImage:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BadImage(f"cannot apply the DICOM VOI ({_one_line(exc)})") from None
    if pixels.photometric == "MONOCHROME1":
        out = 255 - out
    return np.ascontiguousarray(out, dtype=np.uint8)


# --------------------------------------------------------------------------- square, resize


def _border_fill(im) -> int | tuple[int, ...]:
    """The median of the outermost ring of pixels, per channel, rounded."""
    arr = np.asarray(im)
    ring = np.concatenate([arr[0], arr[-1], arr[1:-1, 0], arr[1:-1, -1]], axis=0)
    med = np.round(np.median(ring.astype(np.float64), axis=0)).astype(int)
    return int(med) if med.ndim == 0 else tuple(int(v) for v in med)


def _squash(im, pad_value: str):
    return im


def _pad(im, pad_value: str):
    from PIL import Image

    w, h = im.size
    side = max(w, h)
    fill = _border_fill(im) if pad_value == "border" else (0 if im.mode == "L" else (0,) * len(im.getbands()))
    out = Image.new(im.mode, (side, side), fill)
    out.paste(im, ((side - w) // 2, (side - h) // 2))
    return out


def _center_crop(im, pad_value: str):
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return im.crop((left, top, left + side, top + side))


#: resize policy -> how a non-square PIL image is made square
SQUARE = {"squash": _squash, "pad": _pad, "center_crop": _center_crop}
check_registry("resize policy", SQUARE, RESIZE_POLICIES)


def finish(im, resolution: int, channels: int, options: ImageOptions) -> np.ndarray:
    """Steps 3-5 on an 8-bit PIL image: uint8 ``(resolution, resolution, channels)``."""
    from PIL import Image

    im = im.convert("L" if channels == 1 else "RGB")
    if im.size[0] != im.size[1]:
        im = SQUARE[options.resize](im, options.pad_value)
    if im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), Image.Resampling.BICUBIC)
    arr = np.asarray(im, dtype=np.uint8)
    if channels == 1:
        arr = arr[:, :, None]
    return arr


def _high_depth(mode: str) -> bool:
    return mode in ("I", "F") or mode.startswith("I;16")


def convert_pil(im, resolution: int, channels: int, options: ImageOptions | None = None) -> np.ndarray:
    """A loaded PIL image -> uint8 array ``(resolution, resolution, channels)`` (steps 2-5)."""
    from PIL import Image

    options = options or ImageOptions()
    if _high_depth(im.mode):
        im = Image.fromarray(_window(np.asarray(im, dtype=np.float64), options.window))
    elif options.fixed_window:
        im = im.convert("L" if channels == 1 else "RGB")
        im = Image.fromarray(_window(np.asarray(im, dtype=np.float64), options.window))
    return finish(im, resolution, channels, options)


def _check_frames(im, multiframe: str) -> None:
    frames = getattr(im, "n_frames", 1)
    if im.format == "TIFF" and frames > 1:
        if multiframe != "first":
            raise BadImage(
                f"multi-frame TIFF ({frames} frames): only single-frame images are read "
                "(set experiment.multiframe: first to read the first frame)"
            )
        im.seek(0)


def decode_image(
    path: str | os.PathLike, resolution: int, channels: int, options: ImageOptions | None = None
) -> np.ndarray:
    """Decode one image file to uint8 ``(resolution, resolution, channels)``.

    Raises :class:`BadImage` for the cases above and whatever PIL raises for an
    unreadable file (truncated, not an image).
    """
    from PIL import Image, ImageOps

    options = options or ImageOptions()
    if is_dicom(path):
        pixels = read_dicom(path, options.multiframe)
        return finish(Image.fromarray(dicom_to_8bit(pixels, options.window)), resolution, channels, options)
    with Image.open(path) as im:
        _check_frames(im, options.multiframe)
        im.load()
        im = ImageOps.exif_transpose(im)
        return convert_pil(im, resolution, channels, options)


# --------------------------------------------------------------------------- the source as stored


def source_preview(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """A file as it is stored, for display: float (H, W) or (H, W, 3) in 0..1, and a short description.

    8-bit images as they are; anything else (16-bit, float, DICOM after its Modality LUT) min-max
    scaled; no window, MONOCHROME1 inversion or squaring. First frame of a multi-frame file.
    """
    from PIL import Image, ImageOps

    if is_dicom(path):
        pixels = read_dicom(path, "first")
        values = pixels.values
        shown = values / 255.0 if values.dtype == np.uint8 else minmax_to_8bit(values) / 255.0
        h, w = values.shape[:2]
        return shown, f"DICOM {w}×{h} {pixels.photometric.lower()}"
    with Image.open(path) as im:
        fmt = im.format or Path(path).suffix.lstrip(".").upper()
        im.seek(0)
        im.load()
        im = ImageOps.exif_transpose(im)
        mode = im.mode
        if _high_depth(mode):
            shown = minmax_to_8bit(np.asarray(im, dtype=np.float64)) / 255.0
        else:
            gray = mode in ("1", "L", "LA", "I;16")
            shown = np.asarray(im.convert("L" if gray else "RGB"), dtype=np.float64) / 255.0
        return shown, f"{fmt} {im.size[0]}×{im.size[1]} {mode}"
