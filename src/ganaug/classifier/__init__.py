"""Classifiers trained on real, synthetic and mixed images, and their evaluation.

* :mod:`~ganaug.classifier.resnet` - ResNet-18 for small inputs, arch registry.
* :mod:`~ganaug.classifier.mixing` - real/synthetic training-set mixing strategies.
* :mod:`~ganaug.classifier.train` - the training loop with validation model selection.
* :mod:`~ganaug.classifier.evaluate` - probabilities, metrics, prediction tables, plots.
"""

from ganaug.classifier.evaluate import evaluate, plot_confusion, predict_proba, predictions_frame
from ganaug.classifier.mixing import STRATEGIES, mix_training_set, n_synthetic
from ganaug.classifier.resnet import ARCHITECTURES, build_classifier, resnet18_small
from ganaug.classifier.train import train_classifier

__all__ = [
    "ARCHITECTURES",
    "STRATEGIES",
    "build_classifier",
    "evaluate",
    "mix_training_set",
    "n_synthetic",
    "plot_confusion",
    "predict_proba",
    "predictions_frame",
    "resnet18_small",
    "train_classifier",
]
