"""Datasets: config checks, download, preparation (decode/resize/split) and subsampling."""

from .download import download, md5sum
from .images import IMAGE_DEFAULTS, BadImage, ImageOptions
from .prepare import decode_image, load_prepared, prepare_dataset, skipped_images
from .sources import IMAGE_EXTENSIONS, SOURCES, SPLITS, validate_dataset_spec
from .subsample import class_counts, subsample, write_subsample

__all__ = [
    "IMAGE_DEFAULTS",
    "IMAGE_EXTENSIONS",
    "BadImage",
    "ImageOptions",
    "SOURCES",
    "SPLITS",
    "class_counts",
    "decode_image",
    "download",
    "load_prepared",
    "md5sum",
    "prepare_dataset",
    "skipped_images",
    "subsample",
    "validate_dataset_spec",
    "write_subsample",
]
