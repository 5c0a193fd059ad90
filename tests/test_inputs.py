"""Medical images as users have them (issue 18): DICOM, 16-bit / float PNG and TIFF, intensity windows,
multi-frame files and the resize policies. Every file is written here (pydicom writes the DICOM files,
uncompressed Explicit VR Little Endian) or comes with pydicom itself (its bundled test files, read
offline); each prepared image is checked against values computed by hand from the stored pixels."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless

from ganaug.data import IMAGE_DEFAULTS, BadImage, ImageOptions, decode_image, prepare_dataset
from ganaug.data.images import SQUARE, dicom_to_8bit, read_dicom, source_preview
from ganaug.io import load_npz
from helpers import REPO, SCHEMA, job_counts, snakemake, tiny_config

SPLIT = {"seed": 0, "val_fraction": 0.2, "test_fraction": 0.2}
_UID_ROOT = "1.2.826.0.1.3680043.8.498.18"  # fixed UIDs: the files are the same bytes on every run


# --------------------------------------------------------------------------- writing test files


def write_dicom(
    path: Path,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    bits_allocated: int = 16,
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
    voi_function: str | None = None,
    voi_lut: tuple[list[int], list[int]] | None = None,
    pixels: bool = True,
    number: int = 1,
    patient_id: str | None = None,
) -> Path:
    """An uncompressed (Explicit VR Little Endian) DICOM file with ``stored`` as its unsigned pixel data
    (16 or 8 bits allocated): (rows, cols), (rows, cols, 3) uint8 RGB, or (frames, rows, cols)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    meta.MediaStorageSOPInstanceUID = f"{_UID_ROOT}.{number}"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    if patient_id is not None:
        ds.PatientID = patient_id
    colour = photometric == "RGB"
    frames = stored.shape[0] if stored.ndim == 3 and not colour else 1
    ds.Rows, ds.Columns = stored.shape[-3:-1] if colour else stored.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = slope, intercept, "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function is not None:
        ds.VOILUTFunction = voi_function
    if voi_lut is not None:
        item = Dataset()
        item.LUTDescriptor = voi_lut[0]
        item.add_new(0x00283006, "US", voi_lut[1])  # LUT Data as unsigned shorts
        ds.VOILUTSequence = [item]
    if pixels:
        eight = colour or bits_allocated == 8
        ds.PixelData = np.ascontiguousarray(stored, dtype=np.uint8 if eight else "<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def linear_window(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1, written out: x <= c - 0.5 - (w-1)/2 -> 0; x > c - 0.5 + (w-1)/2 -> 255;
    else ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, rounded."""
    inside = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0
    out = np.where(x <= c - 0.5 - (w - 1) / 2, 0.0, np.where(x > c - 0.5 + (w - 1) / 2, 255.0, inside))
    return np.round(out).astype(np.uint8)


def minmax(x: np.ndarray) -> np.ndarray:
    """Per-image min-max to 0..255: round((x - min) * (255 / (max - min)))."""
    x = np.asarray(x, dtype=np.float64)
    return np.round((x - x.min()) * (255.0 / (x.max() - x.min()))).astype(np.uint8)


def pad_rows(img: np.ndarray, side: int, fill: int) -> np.ndarray:
    """A landscape (h < w = side) image centred on a side x side canvas of ``fill``."""
    h = img.shape[0]
    out = np.full((side, side), fill, np.uint8)
    top = (side - h) // 2
    out[top : top + h] = img
    return out


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _prepare(spec, out: Path, name="p", resolution=32, **kw):
    kw.setdefault("workers", 1)
    summary = prepare_dataset(
        spec, resolution, 1, SPLIT, out / f"{name}.npz", out / f"{name}.csv", progress=False, **kw
    )
    return summary, load_npz(out / f"{name}.npz"), pd.read_csv(out / f"{name}.csv", keep_default_na=False)


def prepared_by_source(data: dict, manifest: pd.DataFrame) -> dict[str, np.ndarray]:
    """source file -> its prepared (R, R) image."""
    out = {}
    for row in manifest[manifest.split != "skipped"].itertuples():
        out[row.source] = data[f"{row.split}_images"][row.index][:, :, 0]
    return out


# --------------------------------------------------------------------------- settings


def test_image_options_check_and_changed():
    assert ImageOptions().changed() == {}
    assert ImageOptions(resize="squash", pad_value="black").changed() == {}  # pad_value matters only for pad
    assert ImageOptions(resize="pad", pad_value="black").changed() == {"resize": "pad", "pad_value": "black"}
    assert ImageOptions(window=[40, 400]).changed() == {"window": [40.0, 400.0]}
    assert ImageOptions.from_settings({"window": "minmax", "dataset": "x"}).window == "minmax"
    for bad, match in [
        ({"window": "soft"}, r"window: 'soft' must be one of auto, dicom, minmax or \[center, width\]"),
        ({"window": [40, 0]}, r"width > 0"),
        ({"window": [40]}, r"must be one of"),
        ({"resize": "stretch"}, r"resize: 'stretch' must be one of squash, pad, center_crop"),
        ({"pad_value": "white"}, r"pad_value: 'white' must be one of border, black"),
        ({"multiframe": "all"}, r"multiframe: 'all' must be one of reject, first"),
    ]:
        with pytest.raises(ValueError, match=match):
            ImageOptions(**bad)


def test_schema_defaults_are_the_image_defaults():
    from ganaug import names
    from ganaug.config import load_schema

    exp = load_schema(SCHEMA)["properties"]["experiment"]["properties"]
    assert {k: exp[k]["default"] for k in IMAGE_DEFAULTS} == IMAGE_DEFAULTS
    assert tuple(SQUARE) == names.RESIZE_POLICIES
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["experiment"]
    assert {k: cfg[k] for k in IMAGE_DEFAULTS} == IMAGE_DEFAULTS


# --------------------------------------------------------------------------- 8-bit and 16-bit images


def test_8bit_images_unchanged_by_the_defaults(tmp_path):
    """Defaults (and window: dicom) leave 8-bit JPEG/PNG decoding exactly as PIL convert + BICUBIC resize."""
    rng = _rng(0)
    gray = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 256, (40, 57), dtype=np.uint8)).save(gray)
    rgb = tmp_path / "rgb.jpg"
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(rgb, quality=90)
    for path in (gray, rgb):
        for channels, mode in ((1, "L"), (3, "RGB")):
            with Image.open(path) as im:
                ref = np.asarray(im.convert(mode).resize((32, 32), Image.Resampling.BICUBIC))
            ref = ref[:, :, None] if channels == 1 else ref
            for opts in (None, ImageOptions(), ImageOptions(window="dicom", multiframe="first")):
                np.testing.assert_array_equal(decode_image(path, 32, channels, opts), ref)


def test_16bit_png_windows(tmp_path):
    """A 16-bit PNG whose values (1000..30000) do not fill its stored range: auto = min-max per image
    (as before), a fixed window keeps the stored scale; resize: pad centres it on black."""
    stored = _rng(1).integers(1000, 30001, (20, 32)).astype(np.uint16)
    stored[0, 0], stored[-1, -1] = 1000, 30000
    path = tmp_path / "x16.png"
    Image.fromarray(stored).save(path)
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I")
    pad = ImageOptions(resize="pad", pad_value="black")
    v = stored.astype(np.float64)

    scaled = minmax(v)  # 1000 -> 0, 30000 -> 255
    np.testing.assert_array_equal(decode_image(path, 32, 1, pad)[:, :, 0], pad_rows(scaled, 32, 0))
    full = np.round(v * 255 / 65535).astype(np.uint8)  # [32767.5, 65535]: 0 -> 0, 65535 -> 255
    got = decode_image(path, 32, 1, ImageOptions(window=[32767.5, 65535], resize="pad", pad_value="black"))
    np.testing.assert_array_equal(got[:, :, 0], pad_rows(full, 32, 0))
    assert not np.array_equal(full, scaled)
    narrow = np.round(np.clip((v - 10000) / 10000 + 0.5, 0, 1) * 255).astype(np.uint8)  # 5000 -> 0, 15000 -> 255
    got = decode_image(path, 32, 1, ImageOptions(window=[10000, 10000], resize="pad", pad_value="black"))
    np.testing.assert_array_equal(got[:, :, 0], pad_rows(narrow, 32, 0))

    # squash (default): exactly the old per-image min-max, then PIL's BICUBIC resize
    ref = np.asarray(Image.fromarray(scaled).convert("L").resize((32, 32), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(decode_image(path, 32, 1)[:, :, 0], ref)


def test_float_tiff_and_8bit_fixed_window(tmp_path):
    x = np.linspace(-1.0, 3.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    path = tmp_path / "f.tif"
    Image.fromarray(x).save(path)
    expected = np.round(np.clip((x.astype(np.float64) - 0.0) / 2.0 + 0.5, 0, 1) * 255).astype(np.uint8)  # [0, 2]
    np.testing.assert_array_equal(decode_image(path, 32, 1, ImageOptions(window=[0.0, 2.0]))[:, :, 0], expected)
    # an 8-bit image is windowed only when asked: [127.5, 255] is the identity, minmax stretches
    img = np.arange(64, 64 + 32 * 32 // 8, dtype=np.uint8).repeat(8).reshape(32, 32)
    png = tmp_path / "g.png"
    Image.fromarray(img).save(png)
    np.testing.assert_array_equal(decode_image(png, 32, 1, ImageOptions(window=[127.5, 255]))[:, :, 0], img)
    np.testing.assert_array_equal(decode_image(png, 32, 1, ImageOptions(window="minmax"))[:, :, 0], minmax(img))


# --------------------------------------------------------------------------- resize policies


def test_pad_border_and_center_crop(tmp_path):
    rng = _rng(2)
    land = rng.integers(0, 256, (20, 32), dtype=np.uint8)
    land[0, :], land[-1, :], land[:, 0], land[:, -1] = 77, 77, 77, 77
    land[0, 0] = 3  # one odd pixel does not move the median of the ring
    path = tmp_path / "land.png"
    Image.fromarray(land).save(path)
    np.testing.assert_array_equal(
        decode_image(path, 32, 1, ImageOptions(resize="pad"))[:, :, 0], pad_rows(land, 32, 77)
    )
    np.testing.assert_array_equal(
        decode_image(path, 32, 1, ImageOptions(resize="pad", pad_value="black"))[:, :, 0], pad_rows(land, 32, 0)
    )
    # a portrait image is padded left and right; an odd difference puts the extra column on the right
    portrait = rng.integers(1, 256, (33, 20), dtype=np.uint8)
    Image.fromarray(portrait).save(tmp_path / "portrait.png")
    got = decode_image(tmp_path / "portrait.png", 33, 1, ImageOptions(resize="pad", pad_value="black"))[:, :, 0]
    assert (got[:, :6] == 0).all() and (got[:, 26:] == 0).all()
    np.testing.assert_array_equal(got[:, 6:26], portrait)
    # center_crop: the centred square of the shorter side (48 x 32 -> columns 8..39)
    wide = rng.integers(0, 256, (32, 48), dtype=np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    got = decode_image(tmp_path / "wide.png", 32, 1, ImageOptions(resize="center_crop"))[:, :, 0]
    np.testing.assert_array_equal(got, wide[:, 8:40])
    tall = rng.integers(0, 256, (45, 32), dtype=np.uint8)  # 13 extra rows: 6 off the top, 7 off the bottom
    Image.fromarray(tall).save(tmp_path / "tall.png")
    got = decode_image(tmp_path / "tall.png", 32, 1, ImageOptions(resize="center_crop"))[:, :, 0]
    np.testing.assert_array_equal(got, tall[6:38])
    # RGB: the border fill is per channel
    rgb = np.zeros((20, 32, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    rgb[5:15, 5:25] = 200
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    got = decode_image(tmp_path / "rgb.png", 32, 3, ImageOptions(resize="pad"))
    assert got[0, 0].tolist() == [10, 20, 30] and got[31, 31].tolist() == [10, 20, 30]
    np.testing.assert_array_equal(got[6:26], rgb)


# --------------------------------------------------------------------------- DICOM


def _ct_like(seed: int, shape=(20, 32)) -> np.ndarray:
    stored = _rng(seed).integers(0, 4096, shape).astype(np.uint16)
    stored[0, 0], stored[0, 1] = 0, 4095  # the full 12-bit range, so that min-max is known by hand
    return stored


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    """Modality LUT (slope 2, intercept -1024), the header's window (LINEAR), MONOCHROME1 inverted,
    and the other windows on the rescaled values."""
    stored = _ct_like(3)
    hu = stored.astype(np.float64) * 2 - 1024
    kw = dict(slope=2, intercept=-1024, window=(1000, 2000))
    m2 = write_dicom(tmp_path / "m2.dcm", stored, **kw)
    m1 = write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", **kw)
    pad = dict(resize="pad", pad_value="black")
    windowed = linear_window(hu, 1000, 2000)
    for window in ("auto", "dicom"):
        got2 = decode_image(m2, 32, 1, ImageOptions(window=window, **pad))[:, :, 0]
        np.testing.assert_array_equal(got2, pad_rows(windowed, 32, 0))
        got1 = decode_image(m1, 32, 1, ImageOptions(window=window, **pad))[:, :, 0]
        np.testing.assert_array_equal(got1, pad_rows(255 - windowed, 32, 0))  # inverted; the padding stays black
    scaled = minmax(hu)  # HU -1024 .. 7166
    np.testing.assert_array_equal(decode_image(m2, 32, 1, ImageOptions(window="minmax", **pad))[6:26, :, 0], scaled)
    fixed = np.round(np.clip((hu - 40) / 400 + 0.5, 0, 1) * 255).astype(np.uint8)  # a soft-tissue window in HU
    got = decode_image(m1, 32, 1, ImageOptions(window=[40, 400], **pad))[6:26, :, 0]
    np.testing.assert_array_equal(got, 255 - fixed)
    # the figure's "as stored" view: rescaled values, min-max, no inversion, own aspect ratio
    shown, desc = source_preview(m1)
    assert shown.shape == (20, 32) and desc == "DICOM 32×20 monochrome1"
    np.testing.assert_allclose(shown, scaled / 255.0)


def test_dicom_voi_functions_and_lut(tmp_path):
    stored = _ct_like(4, (32, 32))
    x = stored.astype(np.float64)
    exact = write_dicom(tmp_path / "exact.dcm", stored, window=(2048, 1000), voi_function="LINEAR_EXACT")
    want = np.round(np.clip((x - 2048) / 1000 + 0.5, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(decode_image(exact, 32, 1)[:, :, 0], want)
    sigmoid = write_dicom(tmp_path / "sigmoid.dcm", stored, window=(2048, 1000), voi_function="SIGMOID")
    want = np.round(1 / (1 + np.exp(-4 * (x - 2048) / 1000)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(decode_image(sigmoid, 32, 1)[:, :, 0], want)
    # a VOI LUT Sequence (preferred to a window): 4 entries from 100, 8 bits
    small = np.array([[90, 100, 101, 102], [103, 500, 100, 101], [0, 102, 102, 4095], [101, 101, 90, 103]])
    lut = write_dicom(tmp_path / "lut.dcm", small, window=(10, 10), voi_lut=([4, 100, 8], [0, 50, 100, 255]))
    table = {90: 0, 0: 0, 100: 0, 101: 50, 102: 100, 103: 255, 500: 255, 4095: 255}
    want = np.vectorize(table.get)(small).astype(np.uint8)
    np.testing.assert_array_equal(decode_image(lut, 4, 1)[:, :, 0], want)


def test_dicom_without_window(tmp_path):
    stored = _ct_like(5, (32, 32))
    plain = write_dicom(tmp_path / "plain.dcm", stored)
    np.testing.assert_array_equal(decode_image(plain, 32, 1)[:, :, 0], minmax(stored))  # auto: min-max
    with pytest.raises(BadImage, match=r"^DICOM file has no Window Center / Width or VOI LUT \(window: dicom\)"):
        decode_image(plain, 32, 1, ImageOptions(window="dicom"))
    # 8-bit stored values without a rescale are 8-bit images: not windowed by auto
    eight = _rng(6).integers(10, 200, (32, 32)).astype(np.uint8)
    path = write_dicom(tmp_path / "eight.dcm", eight, bits_stored=8, bits_allocated=8)
    assert pydicom.dcmread(path).pixel_array.dtype == np.uint8
    np.testing.assert_array_equal(decode_image(path, 32, 1)[:, :, 0], eight)
    # RGB DICOM: 8-bit colour as it is
    rgb = _rng(7).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    path = write_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB")
    np.testing.assert_array_equal(decode_image(path, 32, 3), rgb)


def test_pydicom_bundled_examples():
    """pydicom's own test files (shipped with it, read offline)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    # MR with Window Center / Width 600 / 1600: the same as pydicom's apply_voi_lut, scaled from its output range
    mr = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(mr)
    ref = apply_voi_lut(ds.pixel_array, ds)  # signed 16 bit: -32768 .. 32767
    ref = np.round((ref + 32768) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(dicom_to_8bit(read_dicom(mr), "auto"), ref)
    np.testing.assert_array_equal(decode_image(mr, 64, 1)[:, :, 0], ref)  # 64 x 64: no resize
    # CT with a rescale and no window: min-max of the Hounsfield units
    ct = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(ct)
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert float(ds.RescaleIntercept) == -1024 and "WindowCenter" not in ds
    np.testing.assert_array_equal(decode_image(ct, 128, 1)[:, :, 0], minmax(hu))
    # non-square (484 x 300) with two windows in the header: the first is used
    overlay = get_testdata_file("examples_overlay.dcm")
    ds = pydicom.dcmread(overlay)
    want = linear_window(ds.pixel_array.astype(np.float64), 450, 790)
    assert list(ds.WindowCenter) == [450, 200] and ds.Columns == 484
    np.testing.assert_array_equal(dicom_to_8bit(read_dicom(overlay), "auto"), want)
    assert decode_image(overlay, 32, 1, ImageOptions(resize="center_crop")).shape == (32, 32, 1)
    # PALETTE COLOR through its colour LUT (16-bit entries: their top 8 bits)
    assert decode_image(get_testdata_file("examples_palette.dcm"), 32, 3).shape == (32, 32, 3)


# --------------------------------------------------------------------------- bad files


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Bad DICOM / TIFF files: name -> (file, start of the reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    truncated = folder / "truncated.dcm"
    shutil.copyfile(get_testdata_file("MR_truncated.dcm"), truncated)
    garbage = folder / "garbage.dcm"
    garbage.write_bytes(b"<html>403 Forbidden</html>\n")
    frames = _rng(8).integers(0, 4096, (3, 16, 16)).astype(np.uint16)
    tiff = folder / "stack.tif"
    Image.fromarray(frames[0]).save(tiff, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]])
    cases = {
        "truncated": (truncated, "cannot decode the DICOM Explicit VR Little Endian (1.2.840.10008.1.2.1) pixel data"),
        "not DICOM": (garbage, "not a DICOM file"),
        "no pixel data": (
            write_dicom(folder / "nopixels.dcm", frames[0], pixels=False, number=90),
            "DICOM file without pixel data",
        ),
        "multi-frame DICOM": (
            write_dicom(folder / "cine.dcm", frames, number=91),
            "multi-frame DICOM (3 frames): only single-frame images are read "
            "(set experiment.multiframe: first to read the first frame)",
        ),
        "multi-frame TIFF": (tiff, "multi-frame TIFF (3 frames): only single-frame images are read"),
    }
    if not JPEGLS_DECODER:  # the usual install: pydicom alone has no JPEG-LS decoder
        jpegls = folder / "jpegls.dcm"
        shutil.copyfile(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), jpegls)
        cases["compressed"] = (
            jpegls,
            "DICOM transfer syntax JPEG-LS Lossless Image Compression (1.2.840.10008.1.2.4.80) needs a decoder "
            "that is not installed: pip install 'pylibjpeg>=2.0' 'pylibjpeg-libjpeg>=2.1'",
        )
    return cases


def _jpegls_decoder() -> bool:
    from pydicom.pixels import get_decoder

    return get_decoder(JPEGLSLossless).is_available


JPEGLS_DECODER = _jpegls_decoder()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _bad_files(tmp_path_factory.mktemp("bad"))


def test_each_bad_file_gives_one_line(bad_files):
    from ganaug.data.prepare import _decode_or_error

    for name, (path, reason) in bad_files.items():
        got = _decode_or_error((str(path), 32, 1, ImageOptions()))
        assert isinstance(got, str) and got.startswith(reason), (name, got)
        assert "\n" not in got
    # multiframe: first reads the first frame of both multi-frame files
    first = ImageOptions(multiframe="first", window="minmax")
    frames = _rng(8).integers(0, 4096, (3, 16, 16)).astype(np.uint16)
    for name in ("multi-frame DICOM", "multi-frame TIFF"):
        np.testing.assert_array_equal(decode_image(bad_files[name][0], 16, 1, first)[:, :, 0], minmax(frames[0]))
    if JPEGLS_DECODER:  # a JPEG-LS plugin is installed: the compressed file is read like its uncompressed twin
        mr = decode_image(get_testdata_file("MR_small.dcm"), 64, 1)
        np.testing.assert_array_equal(decode_image(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), 64, 1), mr)


def _good_dicom_folder(root: Path, n: int = 5) -> Path:
    for k, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            write_dicom(root / cls / f"{i:02d}.dcm", _ct_like(100 * k + i, (16, 16)), number=100 * k + i)
    return root


def test_bad_dicom_error_and_skip(tmp_path, bad_files):
    """on_bad_image: error stops at the first bad file with one line naming it and writes nothing;
    skip leaves every bad file out and records it in the manifest with its reason."""
    root = _good_dicom_folder(tmp_path / "ds")
    for path, _ in bad_files.values():
        shutil.copyfile(path, root / "a" / f"zz_{path.name}")
    spec = {"source": "folder", "path": str(root)}
    with pytest.raises(ValueError) as info:
        _prepare(spec, tmp_path)
    msg = str(info.value)
    first = sorted(f"zz_{p.name}" for p, _ in bad_files.values())[0]
    assert msg.startswith(f"{root / 'a' / first}: ") and msg.endswith(
        "(set on_bad_image: skip to leave such files out)"
    )
    assert "\n" not in msg and not (tmp_path / "p.npz").exists()

    summary, data, manifest = _prepare(spec, tmp_path, on_bad_image="skip")
    skipped = manifest[manifest.split == "skipped"]
    reasons = dict(zip(skipped.source, skipped.note))
    assert len(skipped) == len(bad_files)
    for name, (path, reason) in bad_files.items():
        assert reasons[str(root / "a" / f"zz_{path.name}")].startswith(reason), name
    assert sum(sum(c.values()) for c in summary.values()) == 10


def test_extensionless_dicom_in_folder_and_csv(tmp_path):
    """DICOM files named by their UID, without extension (or with the UID's last digits as 'extension'),
    are read when they carry the preamble; another extensionless file is a bad image."""
    root = tmp_path / "ds"
    stored = {}
    for k, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            uid = f"{_UID_ROOT}.{k}.{i}"
            stored[str(root / cls / uid)] = _ct_like(10 * k + i, (16, 16))
            write_dicom(root / cls / uid, stored[str(root / cls / uid)], number=10 * k + i)
    _, data, manifest = _prepare({"source": "folder", "path": str(root)}, tmp_path, resolution=16)
    got = prepared_by_source(data, manifest)
    assert sorted(got) == sorted(stored)
    for src, values in stored.items():
        np.testing.assert_array_equal(got[src], minmax(values))

    rows = [{"image_id": Path(p).name, "dx": Path(p).parent.name} for p in stored]
    pd.DataFrame(rows).to_csv(tmp_path / "meta.csv", index=False)
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in stored:
        shutil.copyfile(p, flat / Path(p).name)
    spec = {"source": "csv", "path": str(tmp_path), "csv": "meta.csv", "image_dir": "flat", "extension": ""}
    _, data, manifest = _prepare(spec, tmp_path, "c", resolution=16)
    assert len(manifest[manifest.split != "skipped"]) == 10

    (root / "a" / "README").write_text("exported from PACS\n")
    with pytest.raises(ValueError, match=r"a/README: not an image file \(extension '<none>'; .*'DICM' preamble\)"):
        _prepare({"source": "folder", "path": str(root)}, tmp_path, resolution=16)


# --------------------------------------------------------------------------- through the workflow


N_PER_CLASS = 12


def _dicom_dataset(root: Path) -> dict[str, tuple[np.ndarray, bool]]:
    """24 DICOM files (32 x 20, 12-bit, slope 2 / intercept -1024, window 1000 / 2000), every other one MONOCHROME1."""
    truth = {}
    for k, cls in enumerate(("NORMAL", "PNEUMONIA")):
        (root / cls).mkdir(parents=True)
        for i in range(N_PER_CLASS):
            stored, mono1 = _ct_like(1000 + 100 * k + i), i % 2 == 1
            path = root / cls / f"img{i:02d}.dcm"
            write_dicom(
                path,
                stored,
                photometric="MONOCHROME1" if mono1 else "MONOCHROME2",
                slope=2,
                intercept=-1024,
                window=(1000, 2000),
                number=1000 + 100 * k + i,
            )
            truth[str(path)] = (stored, mono1)
    return truth


def _png16_dataset(root: Path) -> dict[str, np.ndarray]:
    """24 16-bit PNGs, half 48 x 32 and half 32 x 48, values 2000..40000 (not the stored range)."""
    truth = {}
    for k, cls in enumerate(("NORMAL", "PNEUMONIA")):
        (root / cls).mkdir(parents=True)
        for i in range(N_PER_CLASS):
            shape = (32, 48) if i % 2 == 0 else (48, 32)
            stored = _rng(2000 + 100 * k + i).integers(2000, 40001, shape).astype(np.uint16)
            path = root / cls / f"img{i:02d}.png"
            Image.fromarray(stored).save(path)
            truth[str(path)] = stored
    return truth


def _workflow_config(root: Path, **experiment) -> dict:
    """The tiny config on the dataset at ``root``, cut to a micro sweep so that the whole DAG runs in about
    a minute: one per-class GAN of 8 steps, FID on 8 images, one seed, fractions 0 and 1, one baseline."""
    cfg = tiny_config()
    cfg["datasets"] = {"scans": {"source": "folder", "path": str(root)}}
    cfg["experiment"].update(dataset="scans", **experiment)
    cfg["experiment"]["subsample"] = {"seed": 0, "max_per_class": {}}
    cfg["gans"] = {"dcgan": {"mode": "per_class"}}
    cfg["gan_defaults"].update(steps=8, sample_every=4, ngf=8, ndf=8, batch_size=16)
    cfg["generate"]["n_per_class"] = 2 * N_PER_CLASS
    cfg["metrics"].update(
        fid={"n": 8, "batch_size": 8, "seed": 0}, fid_curve={"n": 4, "seed": 0}, msssim={"pairs": 5, "seed": 0}
    )
    cfg["classifier"].update(
        seeds=[0], synthetic_fractions=[0.0, 1.0], baselines=["none"], extra_cells=[], epochs=1, width=4
    )
    cfg["statistics"]["primary"] = {"source": "dcgan", "strategy": "replace", "fraction": 1.0}  # in this sweep
    return cfg


TARGETS = ("results/data/scans/32px_1ch.npz", "results/report/figures/prepared_examples.png")


def _env() -> dict:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO / "src"), path) if p))


def _run(work: Path, cfg: dict, *args: str, check: bool = True, targets: tuple[str, ...] = TARGETS):
    work.mkdir(parents=True, exist_ok=True)
    (work / "test.yaml").write_text(yaml.safe_dump(cfg))
    return snakemake(work, *args, configfile="test.yaml", targets=targets, env=_env(), timeout=900, check=check)


@pytest.fixture(scope="module")
def workflow_runs(tmp_path_factory) -> dict:
    """The DICOM and the 16-bit PNG dataset through the whole workflow (``all``: data, GAN, metrics,
    classifiers, report) on a micro sweep, run side by side."""
    base = tmp_path_factory.mktemp("inputs workflow")
    dicom_truth = _dicom_dataset(base / "dicom data")
    png_truth = _png16_dataset(base / "png data")
    runs = {
        "dicom": (_workflow_config(base / "dicom data", resize="pad", pad_value="black"), dicom_truth),
        "png16": (_workflow_config(base / "png data", window=[32767.5, 65535], resize="center_crop"), png_truth),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(_run, base / name, cfg, "--cores", "1", targets=("all",))
            for name, (cfg, _) in runs.items()
        }
        procs = {name: f.result() for name, f in futures.items()}
    return {name: (base / name, runs[name][0], runs[name][1], procs[name]) for name in runs}


def _outputs(work: Path) -> tuple[dict, pd.DataFrame]:
    # the run went end to end: GAN scores, classifier runs (f = 0 and 1) and the verdict in words
    report = work / "results" / "report"
    scores = pd.read_csv(report / "gan_scores.csv")
    assert sorted(scores["class"]) == ["NORMAL", "PNEUMONIA"] and (scores["fid"] > 0).all()
    runs = pd.read_csv(report / "classifier_runs.csv")
    assert sorted(runs["fraction"]) == [0.0, 1.0] and runs["auc"].between(0, 1).all()
    assert (report / "summary.md").read_text().startswith("# Summary")
    data = load_npz(work / TARGETS[0])
    manifest = pd.read_csv(work / "results/data/scans/32px_1ch_manifest.csv", keep_default_na=False)
    figure = work / TARGETS[1]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    return data, manifest


@pytest.mark.slow
def test_dicom_dataset_through_the_workflow(workflow_runs):
    work, cfg, truth, _ = workflow_runs["dicom"]
    data, manifest = _outputs(work)
    got = prepared_by_source(data, manifest)
    assert sorted(got) == sorted(truth) and len(got) == 2 * N_PER_CLASS
    for src, (stored, mono1) in truth.items():
        windowed = linear_window(stored.astype(np.float64) * 2 - 1024, 1000, 2000)
        np.testing.assert_array_equal(got[src], pad_rows(255 - windowed if mono1 else windowed, 32, 0), src)
    # the same settings: nothing to do; another window: the data stage is rerun for its params
    proc = _run(work, cfg, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    cfg = dict(cfg, experiment=dict(cfg["experiment"], window="minmax"))
    proc = _run(work, cfg, "-n")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts.get("prepare_dataset") == 1 and counts.get("prepared_examples") == 1, counts


@pytest.mark.slow
def test_png16_dataset_through_the_workflow(workflow_runs):
    work, _, truth, _ = workflow_runs["png16"]
    data, manifest = _outputs(work)
    got = prepared_by_source(data, manifest)
    assert sorted(got) == sorted(truth) and len(got) == 2 * N_PER_CLASS
    for src, stored in truth.items():
        crop = stored[:, 8:40] if stored.shape[1] == 48 else stored[8:40, :]
        np.testing.assert_array_equal(got[src], np.round(crop * 255.0 / 65535).astype(np.uint8), src)
