"""Decision thresholds chosen on validation, and the test metrics at them.

A classifier trained on imbalanced data puts its argmax decision where the
class prior pushes it, so threshold metrics at argmax (sensitivity,
specificity, per-class recall, ...) mostly measure the prior.  Here the
operating point - the threshold on the positive class's probability - is
chosen on the *validation* predictions by a rule (:data:`THRESHOLD_RULES`)
and applied unchanged to the test predictions, so the test split is never
used to tune it.

Binary problems only get a threshold.  With ``p_pos`` the probability of the
positive class, an image is predicted positive when ``p_pos >= threshold``.
The thresholds are validation scores (those :func:`sklearn.metrics.roc_curve`
lists), so each one reproduces its validation ROC point exactly.

* ``argmax`` - no threshold: the class of highest probability, exactly as
  :func:`numpy.argmax` resolves it (:func:`metrics_at` with ``threshold=None``
  takes the argmax of the probability columns, so the saved ``y_pred`` is
  reproduced bit for bit).  Its nominal threshold is 0.5: with ``p_0 + p_1 = 1``
  argmax predicts the positive class when ``p_pos > 0.5`` if the positive class
  has index 1 and when ``p_pos >= 0.5`` if it has index 0 (a tie goes to the
  first class, index 0).
* ``youden`` - maximise Youden's ``J = sensitivity + specificity - 1`` on the
  validation ROC curve; among thresholds with the same maximal ``J`` (compared
  exactly, in integer counts) the largest, i.e. the fewest positive calls.
* ``sensitivity@X`` (``0 < X < 1``) - the largest threshold whose validation
  sensitivity is ``>= X``: the most specific point that still finds a fraction
  ``X`` of the positives.
* ``specificity@X`` - the smallest threshold whose validation specificity is
  ``>= X``: the most sensitive point that keeps a fraction ``X`` of negatives
  negative.  (Among the validation scores: below the chosen one the next score
  already lowers the specificity.)

When a rule's point calls no validation image positive (``youden`` on a
useless ranking, ``specificity@X`` when the top-scored image is negative) the
threshold is the next float above the largest validation score - finite, so
that it can be written to JSON.

Multiclass problems (``K > 2``) keep argmax: one-vs-rest thresholds would
need ``K`` rules and no longer give one decision per image.

Metric definitions and NaN conventions are those of
:func:`ganaug.classifier.evaluate.evaluate`, which calls :func:`label_metrics`
and :func:`auc_score` from here.  Nothing here imports torch.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    precision_recall_fscore_support,
    recall_score,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "THRESHOLD_RULES",
    "ThresholdRule",
    "parse_threshold_rule",
    "choose_threshold",
    "predict_labels",
    "label_metrics",
    "metrics_at",
    "auc_score",
    "average_precision",
    "operating_point_metrics",
]

#: the forms a threshold rule may take (``X`` a number in (0, 1), e.g. ``sensitivity@0.9``)
THRESHOLD_RULES = ("argmax", "youden", "sensitivity@X", "specificity@X")
_RULE_HELP = "use one of argmax, youden, sensitivity@X, specificity@X with X in (0, 1), e.g. sensitivity@0.9"
_TARGET_RE = re.compile(r"^(sensitivity|specificity)@(.+)$")


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed rule: ``kind`` in argmax / youden / sensitivity / specificity, ``target`` the X of ``kind@X``."""

    kind: str
    target: float | None = None

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}@{self.target!r}"


def parse_threshold_rule(text: str | ThresholdRule) -> ThresholdRule:
    """``'argmax'``, ``'youden'``, ``'sensitivity@X'``, ``'specificity@X'`` (case and spaces ignored) -> rule.

    Anything else raises ValueError with one line naming the allowed forms.
    """
    if isinstance(text, ThresholdRule):
        return text
    s = re.sub(r"\s+", "", str(text)).lower()
    if s in ("argmax", "youden"):
        return ThresholdRule(s)
    m = _TARGET_RE.match(s)
    if m:
        try:
            x = float(m.group(2))
        except ValueError:
            x = float("nan")
        if 0.0 < x < 1.0:
            return ThresholdRule(m.group(1), x)
    raise ValueError(f"bad threshold rule {text!r}: {_RULE_HELP}")


# --------------------------------------------------------------------------- thresholds
def _binary_inputs(p_pos, y_pos, what: str = "validation") -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_pos, dtype=np.float64).reshape(-1)
    y = np.asarray(y_pos).reshape(-1)
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{what} y_pos must be boolean (positive or not)")
        y = y.astype(bool)
    if p.size == 0 or p.size != y.size:
        raise ValueError(f"{what} needs >= 1 score per label; got {p.size} scores and {y.size} labels")
    if not np.isfinite(p).all():
        raise ValueError(f"{what} scores must be finite")
    return p, y


def choose_threshold(p_pos_val, y_pos_val, rule: str | ThresholdRule) -> float:
    """Threshold on ``p_pos`` chosen on validation by ``rule`` (predict positive when ``p_pos >= threshold``).

    ``argmax`` returns its nominal 0.5 whatever the data (which are only checked).  The other rules need
    both classes in ``y_pos_val`` (ValueError naming the one present
    otherwise); see the module docstring for each rule and its ties.
    """
    rule = parse_threshold_rule(rule)
    p, y = _binary_inputs(p_pos_val, y_pos_val)
    if rule.kind == "argmax":
        return 0.5
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "negative" if n_pos == 0 else "positive"
        raise ValueError(f"validation has only one class ({y.size} {only}); rule {rule} needs both")
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    # counts back from the rates (exact: the rates are count / class size); ratios as recall_score forms them
    tp = np.rint(tpr * n_pos).astype(np.int64)
    fp = np.rint(fpr * n_neg).astype(np.int64)
    if rule.kind == "youden":
        j = tp * n_neg - fp * n_pos  # J * n_pos * n_neg, exact
        i = int(np.argmax(j))  # first maximum = largest threshold (thresholds decrease)
    elif rule.kind == "sensitivity":
        i = int(np.flatnonzero(tp / n_pos >= rule.target)[0])
    else:  # specificity
        i = int(np.flatnonzero((n_neg - fp) / n_neg >= rule.target)[-1])
    if i == 0:  # roc_curve's first point, threshold +inf: nobody positive
        return float(np.nextafter(thresholds[1], np.inf))
    return float(thresholds[i])


def predict_labels(probs: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Class indices: ``threshold=None`` -> ``probs.argmax(1)`` (numpy's tie rule: first class);
    otherwise (binary only) ``positive_index`` where ``probs[:, positive_index] >= threshold``, else the other class.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {probs.shape}")
    if threshold is None:
        return probs.argmax(axis=1)
    if probs.shape[1] != 2 or positive_index not in (0, 1):
        raise ValueError(
            f"a threshold needs two classes and positive_index 0 or 1; got {probs.shape[1]} classes, {positive_index}"
        )
    pos = int(positive_index)
    return np.where(probs[:, pos] >= float(threshold), pos, 1 - pos)


# --------------------------------------------------------------------------- metrics
def label_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], positive_index: int | None
) -> dict[str, float]:
    """Metrics of hard predictions: ``accuracy, balanced_accuracy, sensitivity, specificity`` and
    ``precision_<cls>, recall_<cls>, f1_<cls>`` per class, in that order.

    ``sensitivity`` = recall of class ``positive_index``, ``specificity`` =
    recall of "not that class"; both NaN when ``positive_index`` is None.  A
    ratio with a zero denominator is NaN.  These are the definitions of
    :func:`ganaug.classifier.evaluate.evaluate`, which calls this function.
    """
    class_names = [str(c) for c in class_names]
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = np.asarray(y_pred).reshape(-1).astype(np.int64)
    if y.size != y_pred.size or y.size == 0:
        raise ValueError(f"y_true has {y.size} labels and y_pred {y_pred.size} (need the same number, >= 1)")
    labels = np.arange(len(class_names))
    with warnings.catch_warnings():
        # sklearn warns on undefined ratios; NaN is already the documented answer.
        warnings.filterwarnings("ignore", message=".*(ill-defined|y_pred contains classes not in y_true).*")
        metrics: dict[str, float] = {
            "accuracy": float(accuracy_score(y, y_pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y, y_pred)),
        }
        if positive_index is None:
            metrics["sensitivity"] = float("nan")
            metrics["specificity"] = float("nan")
        else:
            t, p = y == positive_index, y_pred == positive_index
            metrics["sensitivity"] = float(recall_score(t, p, pos_label=True, zero_division=np.nan))
            metrics["specificity"] = float(recall_score(t, p, pos_label=False, zero_division=np.nan))
        prec, rec, f1, _ = precision_recall_fscore_support(y, y_pred, labels=labels, average=None, zero_division=np.nan)
    for i, name in enumerate(class_names):
        metrics[f"precision_{name}"] = float(prec[i])
        metrics[f"recall_{name}"] = float(rec[i])
        metrics[f"f1_{name}"] = float(f1[i])
    return metrics


def metrics_at(
    probs: np.ndarray,
    y_true: np.ndarray,
    class_names: Sequence[str],
    positive_index: int | None,
    threshold: float | None = None,
) -> dict[str, float]:
    """:func:`label_metrics` of :func:`predict_labels` ``(probs, positive_index, threshold)``
    (``threshold=None``: argmax, exactly)."""
    return label_metrics(y_true, predict_labels(probs, positive_index, threshold), class_names, positive_index)


def auc_score(probs: np.ndarray, y_true: np.ndarray, positive_index: int | None = None) -> float:
    """ROC AUC; NaN (with a warning) when ``y_true`` holds a single class.

    Binary: AUC of ``probs[:, positive_index]`` (default index 1; the binary AUC
    is the same for either choice).  Multiclass: macro one-vs-rest AUC; if some
    classes are absent from ``y_true`` the macro average is taken over the
    classes present, with a warning.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true).astype(np.int64)
    if probs.ndim != 2 or len(probs) != len(y):
        raise ValueError(f"probs must be (N, K) with N = len(y_true); got {probs.shape} and {len(y)} labels")
    if not np.isfinite(probs).all():
        warnings.warn("non-finite probabilities; AUC is NaN", RuntimeWarning, stacklevel=2)
        return float("nan")
    k = probs.shape[1]
    present = np.unique(y)
    if present.size < 2:
        warnings.warn(
            f"AUC is undefined with a single class in y_true (class {present.tolist()}); returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    if k == 2:
        pos = 1 if positive_index is None else int(positive_index)
        return float(roc_auc_score(y == pos, probs[:, pos]))
    if present.size == k:
        p = probs / probs.sum(axis=1, keepdims=True)
        return float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=np.arange(k)))
    warnings.warn(
        f"only {present.size} of {k} classes present in y_true; macro OvR AUC averaged over those",
        RuntimeWarning,
        stacklevel=2,
    )
    return float(np.mean([roc_auc_score(y == c, probs[:, c]) for c in present]))


def average_precision(p_class, y_is_class) -> float:
    """Average precision (area under the precision-recall curve, step-wise as
    :func:`sklearn.metrics.average_precision_score`) of one class's scores; NaN when the class is absent."""
    p = np.asarray(p_class, dtype=np.float64).reshape(-1)
    y = np.asarray(y_is_class).reshape(-1).astype(bool)
    if p.size != y.size:
        raise ValueError(f"{p.size} scores but {y.size} labels")
    if not y.any() or not np.isfinite(p).all():
        return float("nan")
    return float(average_precision_score(y, p))


# --------------------------------------------------------------------------- one run
def _frame_arrays(df: pd.DataFrame, class_names: list[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    cols = [f"p_{c}" for c in class_names]
    missing = [c for c in ["y_true", *cols] if c not in df.columns]
    if missing:
        raise ValueError(f"{what} predictions lack columns {missing}")
    y = df["y_true"].to_numpy().astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= len(class_names)):
        raise ValueError(f"{what} y_true labels must be in [0, {len(class_names) - 1}]")
    return df[cols].to_numpy(dtype=np.float64), y


def operating_point_metrics(
    val: pd.DataFrame | None,
    test: pd.DataFrame,
    class_names: Sequence[str],
    positive_class: str | None,
    minority_class: str | None,
    rule: str | ThresholdRule,
) -> dict[str, float | str]:
    """Test metrics at an operating point chosen on validation, next to the argmax ones.

    ``val`` / ``test``: prediction frames (``predictions_val.csv`` /
    ``predictions.csv``: ``y_true`` and ``p_<cls>`` per class; ``y_pred`` is
    not read, argmax is recomputed from the probabilities, which gives the
    saved column).  ``positive_class`` None: ``class_names[1]`` for binary data
    (as :func:`~ganaug.classifier.evaluate.evaluate`), none for multiclass.

    Returns, in this order:

    * ``threshold_rule`` - the canonical rule (``str(parse_threshold_rule(rule))``),
      ``"argmax (multiclass)"`` for ``K > 2``;
    * ``threshold`` - chosen on validation (argmax: 0.5; multiclass: NaN);
    * ``val_auc`` - validation AUC (binary; multiclass macro one-vs-rest);
    * ``auc`` - test AUC (as evaluate's);
    * ``accuracy, balanced_accuracy, sensitivity, specificity`` and
      ``precision_<cls>, recall_<cls>, f1_<cls>`` for every class - on test at
      the threshold (multiclass: at argmax; rule argmax: exactly argmax);
    * the same keys suffixed ``_argmax`` - on test at argmax (evaluate's values);
    * ``ap_<cls>`` - test average precision (AUPRC, one-vs-rest on the class's
      probability column) of the minority class (when given), then of the
      positive class (binary default ``class_names[1]``) if it differs;
    * ``n_val``, ``n_test``.

    Raises ValueError (one line; the caller decides what to do) when ``val`` is
    None or empty, or when validation lacks a class the point depends on:
    binary - either class, whatever the rule (so the keys never change);
    multiclass - fewer than two classes (no validation AUC).  Also for an
    unknown rule, class or missing column.  A one-class *test* set is not an
    error: its undefined metrics are NaN, as in evaluate.
    """
    class_names = [str(c) for c in class_names]
    k = len(class_names)
    if k < 2:
        raise ValueError(f"need at least two classes, got {class_names}")
    rule = parse_threshold_rule(rule)
    for name, c in (("positive_class", positive_class), ("minority_class", minority_class)):
        if c is not None and c not in class_names:
            raise ValueError(f"{name} {c!r} is not one of the classes {class_names}")
    pos = class_names.index(positive_class) if positive_class is not None else (1 if k == 2 else None)
    if val is None or len(val) == 0:
        raise ValueError("no validation predictions: the operating point is chosen on validation")
    val_probs, val_y = _frame_arrays(val, class_names, "validation")
    test_probs, test_y = _frame_arrays(test, class_names, "test")
    if len(test_y) == 0:
        raise ValueError("no test predictions")
    present = np.unique(val_y)
    if k == 2 and present.size < 2:
        raise ValueError(f"validation has only one class ({class_names[present[0]]}); need both to choose a threshold")
    if present.size < 2:
        raise ValueError(f"validation has only one class ({class_names[present[0]]}); need two for its AUC")

    out: dict[str, float | str] = {}
    if k == 2:
        threshold = choose_threshold(val_probs[:, pos], val_y == pos, rule)
        out["threshold_rule"] = str(rule)
        out["threshold"] = threshold
        at = metrics_at(test_probs, test_y, class_names, pos, None if rule.kind == "argmax" else threshold)
    else:
        out["threshold_rule"] = "argmax (multiclass)"
        out["threshold"] = float("nan")
        at = None
    out["val_auc"] = auc_score(val_probs, val_y, positive_index=pos)
    out["auc"] = auc_score(test_probs, test_y, positive_index=pos)
    argmax = metrics_at(test_probs, test_y, class_names, pos, None)
    out.update(argmax if at is None else at)
    out.update({f"{key}_argmax": v for key, v in argmax.items()})
    positive = class_names[pos] if pos is not None else None
    for c in dict.fromkeys(c for c in (minority_class, positive) if c is not None):
        i = class_names.index(c)
        out[f"ap_{c}"] = average_precision(test_probs[:, i], test_y == i)
    out["n_val"] = int(len(val_y))
    out["n_test"] = int(len(test_y))
    return out
