"""Predictions and test-set metrics for a trained classifier.

All metrics come from scikit-learn, through the torch-free
:mod:`ganaug.operating_point` (:func:`~ganaug.operating_point.auc_score`,
:func:`~ganaug.operating_point.label_metrics`; ``auc_score`` is re-exported
here).  Conventions:

* ``auc`` - binary: ROC AUC of the positive class's probability; multiclass:
  macro-averaged one-vs-rest ROC AUC.  Undefined (one class in ``y_true``)
  gives NaN and a warning, not an exception.
* ``sensitivity`` - recall of the positive class; ``specificity`` - recall of
  "not the positive class" (for multiclass data, of the positive-vs-rest split).
* ``precision_<cls>``, ``recall_<cls>``, ``f1_<cls>`` - per class.  A ratio
  whose denominator is zero (e.g. the precision of a class never predicted)
  is NaN rather than a fabricated 0 or 1.

:func:`plot_confusion` lives here, not in :mod:`ganaug.report.figures`: each
classifier job (rule train_classifier) draws it next to the confusion matrix
:func:`evaluate` computes, and per-job code never imports the report layer,
which only aggregates what the jobs wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix

from ganaug.io import PathLike, save_figure
from ganaug.operating_point import auc_score, label_metrics
from ganaug.runtime import autocast, resolve_amp

__all__ = [
    "images_to_tensor",
    "scale_images",
    "predict_logits",
    "predict_proba",
    "auc_score",
    "evaluate",
    "predictions_frame",
    "plot_confusion",
]


# --------------------------------------------------------------------------- tensors
def images_to_tensor(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images ``(N, H, W, C)`` or ``(N, H, W)`` -> uint8 tensor ``(N, C, H, W)`` on ``device``.

    Images stay uint8 (4x less memory than float); :func:`scale_images`
    converts each batch on the device.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0-255), got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C) or (N, H, W), got {x.shape}")
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous()
    return t.to(device)


def scale_images(xb: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 in [-1, 1]: ``(x / 255 - 0.5) / 0.5``."""
    return xb.float().div_(127.5).sub_(1.0)


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, xt: torch.Tensor, batch_size: int = 256, amp: str = "none") -> torch.Tensor:
    """Float32 logits for a uint8 NCHW tensor already on the model's device (model put in eval mode).

    ``amp``: a resolved mixed-precision mode (see :func:`ganaug.runtime.resolve_amp`)
    under which the network body runs; the logits are float32 either way.
    """
    model.eval()
    with autocast(xt.device, amp):
        out = [model(scale_images(xt[i : i + batch_size])).float() for i in range(0, len(xt), batch_size)]
    if not out:
        raise ValueError("no images to predict")
    return torch.cat(out)


def predict_proba(
    model: torch.nn.Module,
    x: np.ndarray,
    device: torch.device | str,
    batch_size: int = 256,
    amp: str = "none",
) -> np.ndarray:
    """Softmax class probabilities ``(N, K)`` (float64) for uint8 images ``(N, H, W, C)``.

    ``amp`` ('none', 'auto', 'bf16', 'fp16'): the classifier setting the model was
    trained with, so that test images are scored as the validation images were.
    """
    device = torch.device(device)
    model.to(device)
    xt = images_to_tensor(x, device)
    logits = predict_logits(model, xt, batch_size=batch_size, amp=resolve_amp(amp, device))
    return torch.softmax(logits.double(), dim=1).cpu().numpy()


# --------------------------------------------------------------------------- metrics
def evaluate(
    probs: np.ndarray,
    y_true: np.ndarray,
    class_names: Sequence[str],
    positive_class: str | None,
) -> tuple[dict[str, float], np.ndarray]:
    """Test metrics and the confusion matrix (rows = true, columns = predicted).

    ``positive_class`` names the class for AUC (binary), sensitivity and
    specificity.  ``None``: binary data use ``class_names[1]`` (scikit-learn's
    convention); multiclass data report NaN sensitivity / specificity.
    """
    class_names = [str(c) for c in class_names]
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    y = y.astype(np.int64)
    k = len(class_names)
    if probs.ndim != 2 or probs.shape[1] != k:
        raise ValueError(f"probs must have shape (N, {k}) for classes {class_names}, got {probs.shape}")
    if len(probs) != len(y) or len(y) == 0:
        raise ValueError(f"probs has {len(probs)} rows but y_true has {len(y)} labels (need >= 1)")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y_true labels must be in [0, {k - 1}], got range [{y.min()}, {y.max()}]")

    if positive_class is None:
        pos = 1 if k == 2 else None
    else:
        if positive_class not in class_names:
            raise ValueError(f"positive_class {positive_class!r} is not one of the classes {class_names}")
        pos = class_names.index(positive_class)

    y_pred = probs.argmax(axis=1)
    metrics: dict[str, float] = {"auc": auc_score(probs, y, positive_index=pos)}
    metrics.update(label_metrics(y, y_pred, class_names, pos))
    metrics["n_test"] = int(len(y))
    confusion = confusion_matrix(y, y_pred, labels=np.arange(k))
    return metrics, confusion


def predictions_frame(probs: np.ndarray, y_true: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per image: ``index, y_true, y_pred, p_<cls>...``."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    if probs.ndim != 2 or probs.shape != (len(y), len(class_names)):
        raise ValueError(f"probs shape {probs.shape} does not match {len(y)} labels x {len(class_names)} classes")
    df = pd.DataFrame({"index": np.arange(len(y)), "y_true": y, "y_pred": probs.argmax(axis=1)})
    for i, name in enumerate(class_names):
        df[f"p_{name}"] = probs[:, i]
    return df


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: PathLike, title: str) -> None:
    """Save a confusion-matrix heat map (colour: row-normalised; text: counts and row %)."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend is ever selected

    cm = np.asarray(confusion)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {k} classes")
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)

    size = 1.2 + 0.9 * k
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(k), labels=list(class_names), rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{100 * frac[i, j]:.0f}%",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if frac[i, j] > 0.5 else "black",
            )
    save_figure(path, fig)
