"""Classifiers trained on real, synthetic and mixed images, and their evaluation.

* :mod:`~ganaug.classifier.resnet` - ResNet-18 for small inputs (``resnet18_small``).
* :mod:`~ganaug.classifier.networks` - the arch registry: it and torchvision's model zoo, ImageNet weights.
* :mod:`~ganaug.classifier.mixing` - real/synthetic training-set mixing strategies, n_real subsets.
* :mod:`~ganaug.classifier.baselines` - none / classic / oversample / weighted_loss.
* :mod:`~ganaug.classifier.train` - the training loop with validation model selection.
* :mod:`~ganaug.classifier.evaluate` - probabilities, metrics, prediction tables, plots.
* :mod:`~ganaug.classifier.cell` - one run of the sweep (rule train_classifier): mix, train, evaluate, record.
* :mod:`~ganaug.classifier.seeds` - every seed of one cell in one process (data read once, per-seed resume).
* :mod:`~ganaug.classifier.batched` - several seeds' models trained as one vmapped network.
"""

from ganaug.classifier.baselines import BASELINES, ClassicAugment, baseline_options, inverse_frequency_weights
from ganaug.classifier.cell import Cell, CellResult, run_cell
from ganaug.classifier.evaluate import evaluate, plot_confusion, predict_proba, predictions_frame
from ganaug.classifier.mixing import STRATEGIES, limit_class, mix_training_set, n_synthetic
from ganaug.classifier.networks import ARCHITECTURES, build_classifier
from ganaug.classifier.resnet import resnet18_small
from ganaug.classifier.seeds import SeedOutputs, SeedRun, SeedsFailed, run_seeds
from ganaug.classifier.train import train_classifier

__all__ = [
    "ARCHITECTURES",
    "BASELINES",
    "Cell",
    "CellResult",
    "ClassicAugment",
    "STRATEGIES",
    "SeedOutputs",
    "SeedRun",
    "SeedsFailed",
    "baseline_options",
    "build_classifier",
    "evaluate",
    "inverse_frequency_weights",
    "limit_class",
    "mix_training_set",
    "n_synthetic",
    "plot_confusion",
    "predict_proba",
    "predictions_frame",
    "resnet18_small",
    "run_cell",
    "run_seeds",
    "train_classifier",
]
