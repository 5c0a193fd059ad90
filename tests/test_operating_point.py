"""Operating points chosen on validation (ganaug.operating_point), against hand-computed thresholds and metrics."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from ganaug.operating_point import (
    THRESHOLD_RULES,
    ThresholdRule,
    average_precision,
    choose_threshold,
    label_metrics,
    metrics_at,
    operating_point_metrics,
    parse_threshold_rule,
    predict_labels,
)
from helpers import multiclass_example

CLASSES = ["NORMAL", "PNEUMONIA"]
# Ten validation scores P(PNEUMONIA), descending, five positives (1) and five negatives (0).
# ">= t"     0.95 0.90 0.80 0.70 0.60 0.55 0.40 0.30 0.20 0.10
# sens       .2   .4   .4   .6   .8   .8   1    1    1    1
# spec       1    1    .8   .8   .8   .6   .6   .4   .2   0
# J          .2   .4   .2   .4   .6   .4   .6   .4   .2   0
VAL_P = np.array([0.95, 0.90, 0.80, 0.70, 0.60, 0.55, 0.40, 0.30, 0.20, 0.10])
VAL_Y = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 0])
# Eight test images.
TEST_P = np.array([0.97, 0.65, 0.62, 0.58, 0.45, 0.35, 0.20, 0.05])
TEST_Y = np.array([1, 1, 0, 1, 1, 0, 0, 0])


def _same(a: dict, b: dict) -> bool:
    """Same keys in the same order, values equal bit for bit (NaN equal to NaN)."""
    return list(a) == list(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a.values(), b.values())
    )


def _frame(p_pos: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    probs = np.stack([1 - p_pos, p_pos], axis=1)
    return pd.DataFrame(
        {
            "index": np.arange(len(y)),
            "y_true": y,
            "y_pred": probs.argmax(1),
            "p_NORMAL": probs[:, 0],
            "p_PNEUMONIA": p_pos,
        }
    )


def test_parse_threshold_rule():
    assert THRESHOLD_RULES == ("argmax", "youden", "sensitivity@X", "specificity@X")
    assert parse_threshold_rule("argmax") == ThresholdRule("argmax")
    assert parse_threshold_rule(" Youden ") == ThresholdRule("youden")
    assert parse_threshold_rule("sensitivity@0.90") == ThresholdRule("sensitivity", 0.9)
    assert str(parse_threshold_rule("specificity @ .95")) == "specificity@0.95"
    rule = parse_threshold_rule("sensitivity@0.9")
    assert parse_threshold_rule(rule) is rule and parse_threshold_rule(str(rule)) == rule
    for bad in ("", "roc", "sensitivity", "sensitivity@", "sensitivity@1", "sensitivity@0", "specificity@1.5",
                "sensitivity@abc", "sensitivity@nan", "recall@0.9", "youden@0.5"):  # fmt: skip
        with pytest.raises(ValueError, match=r"argmax, youden, sensitivity@X, specificity@X") as err:
            parse_threshold_rule(bad)
        assert "\n" not in str(err.value)


def test_choose_threshold_hand_computed():
    # Youden: J = 0.6 at both 0.60 and 0.40; the larger threshold is chosen
    assert choose_threshold(VAL_P, VAL_Y, "youden") == 0.60
    # sensitivity >= 0.9 first at 0.40; >= 0.8 already at 0.60 (4/5 = 0.8 exactly); >= 0.5 at 0.70
    assert choose_threshold(VAL_P, VAL_Y, "sensitivity@0.9") == 0.40
    assert choose_threshold(VAL_P, VAL_Y, "sensitivity@0.8") == 0.60
    assert choose_threshold(VAL_P, VAL_Y, "sensitivity@0.5") == 0.70
    # specificity >= 0.8 last at 0.60; >= 0.9 last at 0.90; >= 0.5 last at 0.40
    assert choose_threshold(VAL_P, VAL_Y, "specificity@0.8") == 0.60
    assert choose_threshold(VAL_P, VAL_Y, "specificity@0.9") == 0.90
    assert choose_threshold(VAL_P, VAL_Y, "specificity@0.5") == 0.40
    assert choose_threshold(VAL_P, VAL_Y, "argmax") == 0.5
    # order of the validation images does not matter; booleans work as well as 0/1
    perm = np.random.default_rng(0).permutation(10)
    assert choose_threshold(VAL_P[perm], VAL_Y[perm].astype(bool), "youden") == 0.60
    # each threshold reproduces its validation point with "p >= threshold"
    t = choose_threshold(VAL_P, VAL_Y, "sensitivity@0.9")
    pred = VAL_P >= t
    assert recall_score(VAL_Y, pred) == 1.0 and recall_score(VAL_Y, pred, pos_label=0) == 0.6


def test_choose_threshold_no_positive_call_and_errors():
    # the top-scored image is negative: specificity 1 (> 0.9 with two negatives) only when nobody is positive
    p, y = np.array([0.9, 0.5, 0.2]), np.array([0, 1, 0])
    t = choose_threshold(p, y, "specificity@0.9")
    assert t == np.nextafter(0.9, np.inf) and math.isfinite(t) and not (p >= t).any()
    # a reversed ranking: J <= 0 everywhere, maximal (0) at "nobody positive" and "everybody positive"; the larger wins
    p, y = np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])
    assert choose_threshold(p, y, "youden") == np.nextafter(0.9, np.inf)
    with pytest.raises(ValueError, match="only one class"):
        choose_threshold([0.2, 0.7], [1, 1], "youden")
    with pytest.raises(ValueError, match="only one class"):
        choose_threshold([0.2, 0.7], [False, False], "sensitivity@0.9")
    assert choose_threshold([0.2, 0.7], [1, 1], "argmax") == 0.5  # argmax reads no labels
    with pytest.raises(ValueError, match="finite"):
        choose_threshold([0.2, float("nan")], [0, 1], "youden")
    with pytest.raises(ValueError, match="scores"):
        choose_threshold([], [], "youden")


def test_argmax_tie_rule():
    probs = np.array([[0.5, 0.5], [0.25, 0.75], [0.75, 0.25]])
    # numpy argmax: a tie goes to the first class, whichever class is positive
    np.testing.assert_array_equal(predict_labels(probs, 1), [0, 1, 0])
    np.testing.assert_array_equal(predict_labels(probs, 0), [0, 1, 0])
    # the nominal threshold 0.5 with ">=" calls the tie positive
    np.testing.assert_array_equal(predict_labels(probs, 1, 0.5), [1, 1, 0])
    np.testing.assert_array_equal(predict_labels(probs, 0, 0.5), [0, 1, 0])
    # with p0 + p1 = 1 exactly (dyadic grid), argmax = (p1 > 0.5 -> 1) = (p0 >= 0.5 -> 0)
    p1 = np.arange(65) / 64
    grid = np.stack([1 - p1, p1], axis=1)
    assert (grid.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(predict_labels(grid, 1), np.where(p1 > 0.5, 1, 0))
    np.testing.assert_array_equal(predict_labels(grid, 0), np.where(grid[:, 0] >= 0.5, 0, 1))
    # rule argmax in operating_point_metrics: the tie counts for NORMAL (index 0), metrics equal the _argmax ones
    test = _frame(np.array([0.5, 0.75, 0.25, 0.5]), np.array([1, 1, 0, 0]))
    m = operating_point_metrics(_frame(VAL_P, VAL_Y), test, CLASSES, "PNEUMONIA", "NORMAL", "argmax")
    assert m["threshold"] == 0.5 and m["threshold_rule"] == "argmax"
    assert m["sensitivity"] == m["sensitivity_argmax"] == 0.5  # the positive tie is missed
    assert m["specificity"] == 1.0  # the negative tie is kept negative
    with pytest.raises(ValueError, match="two classes"):
        predict_labels(np.full((2, 3), 1 / 3), 1, 0.5)


def test_label_metrics_matches_sklearn():
    rng = np.random.default_rng(3)
    for k, pos in ((2, 1), (2, 0), (3, 2), (3, None)):
        logits = rng.normal(size=(150, k)) + 0.8 * np.eye(k)[rng.integers(k, size=150)]
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = rng.integers(k, size=150)
        names = [f"c{i}" for i in range(k)]
        y_pred = probs.argmax(1)
        m = label_metrics(y, y_pred, names, pos)
        assert list(m)[:4] == ["accuracy", "balanced_accuracy", "sensitivity", "specificity"]
        assert m["accuracy"] == accuracy_score(y, y_pred)
        assert m["balanced_accuracy"] == balanced_accuracy_score(y, y_pred)
        if pos is None:
            assert math.isnan(m["sensitivity"]) and math.isnan(m["specificity"])
        else:
            assert m["sensitivity"] == np.mean(y_pred[y == pos] == pos)
            assert m["specificity"] == pytest.approx(np.mean(y_pred[y != pos] != pos), abs=1e-15)
        for i, c in enumerate(names):
            assert m[f"precision_{c}"] == precision_score(y == i, y_pred == i)
            assert m[f"recall_{c}"] == recall_score(y == i, y_pred == i)
            assert m[f"f1_{c}"] == pytest.approx(f1_score(y == i, y_pred == i), abs=1e-15)
        assert _same(m, metrics_at(probs, y, names, pos))
    # undefined ratios are NaN: class 1 never predicted, class 1 absent
    m = label_metrics([0, 0, 1], [0, 0, 0], ["a", "b"], 1)
    assert math.isnan(m["precision_b"]) and m["recall_b"] == 0.0 and m["sensitivity"] == 0.0
    m = label_metrics([0, 0], [0, 1], ["a", "b"], 1)
    assert math.isnan(m["sensitivity"]) and math.isnan(m["recall_b"]) and m["precision_b"] == 0.0


def test_label_metrics_equals_evaluate_bit_for_bit():
    """evaluate() calls label_metrics; through a predictions.csv round trip the operating-point module gives
    evaluate's argmax metrics exactly."""
    pytest.importorskip("torch")
    from ganaug.classifier.evaluate import evaluate, predictions_frame

    rng = np.random.default_rng(5)
    for k, positive, never in ((2, "c1", None), (2, "c0", None), (3, "c1", None), (3, "c1", 2), (2, "c0", 0)):
        names = [f"c{i}" for i in range(k)]
        logits = rng.normal(size=(300, k)) * 2
        if never is not None:  # a class never predicted: its precision is NaN (and so, for c0, the specificity)
            logits[:, never] -= 100
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = rng.integers(k, size=300)
        want, _ = evaluate(probs, y, names, positive)
        got = label_metrics(y, probs.argmax(1), names, names.index(positive))
        assert _same(got, {key: want[key] for key in got})
        frame = pd.read_csv(io.StringIO(predictions_frame(probs, y, names).to_csv(index=False)))
        op = operating_point_metrics(frame, frame, names, positive, None, "youden")
        assert _same({key: op[f"{key}_argmax"] for key in got}, got)
        assert op["auc"] == want["auc"] and op["n_test"] == want["n_test"]


def test_average_precision_hand_computed():
    # descending: 0.97 P (prec 1, rec 1/4), 0.65 P (1, 2/4), 0.62 N, 0.58 P (3/4, 3/4), 0.45 P (4/5, 1)
    # AP = sum (R_n - R_{n-1}) P_n = (1 + 1 + 3/4 + 4/5) / 4 = 0.8875
    assert average_precision(TEST_P, TEST_Y == 1) == pytest.approx(0.8875, abs=1e-12)
    # NORMAL on 1 - p: 0.05 N, 0.20 N, 0.35 N (precision 1 up to recall 3/4), 0.45 P, 0.58 P, 0.62 N (4/6, 1)
    assert average_precision(1 - TEST_P, TEST_Y == 0) == pytest.approx(0.75 + 0.25 * 4 / 6, abs=1e-12)
    assert math.isnan(average_precision([0.1, 0.9], [False, False]))
    assert average_precision([0.1, 0.9], [True, True]) == 1.0


def test_operating_point_metrics_binary_hand_computed():
    val, test = _frame(VAL_P, VAL_Y), _frame(TEST_P, TEST_Y)
    m = operating_point_metrics(val, test, CLASSES, "PNEUMONIA", "NORMAL", "youden")
    assert (m["threshold_rule"], m["threshold"]) == ("youden", 0.60)
    assert m["val_auc"] == pytest.approx(21 / 25)  # positives beat 5 + 5 + 4 + 4 + 3 of 25 negatives
    assert m["auc"] == pytest.approx(14 / 16)  # 4 + 4 + 3 + 3 of 16 pairs
    # test at 0.60: positive calls 0.97, 0.65, 0.62 -> TP 2, FP 1, FN 2, TN 3
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert (m["sensitivity"], m["specificity"]) == pytest.approx((2 / 4, 3 / 4))
    assert m["balanced_accuracy"] == pytest.approx(0.625)
    assert (m["precision_PNEUMONIA"], m["recall_PNEUMONIA"], m["f1_PNEUMONIA"]) == pytest.approx((2 / 3, 0.5, 4 / 7))
    assert (m["precision_NORMAL"], m["recall_NORMAL"], m["f1_NORMAL"]) == pytest.approx((3 / 5, 3 / 4, 2 / 3))
    # argmax (p > 0.5): positive calls 0.97, 0.65, 0.62, 0.58 -> TP 3, FP 1, FN 1, TN 3
    assert m["accuracy_argmax"] == pytest.approx(6 / 8)
    assert (m["sensitivity_argmax"], m["specificity_argmax"]) == pytest.approx((0.75, 0.75))
    assert (m["precision_NORMAL_argmax"], m["f1_PNEUMONIA_argmax"]) == pytest.approx((0.75, 0.75))
    assert m["ap_NORMAL"] == pytest.approx(0.75 + 0.25 * 4 / 6) and m["ap_PNEUMONIA"] == pytest.approx(0.8875)
    assert (m["n_val"], m["n_test"]) == (10, 8)
    metric_keys = ["accuracy", "balanced_accuracy", "sensitivity", "specificity"] + [
        f"{s}_{c}" for c in CLASSES for s in ("precision", "recall", "f1")
    ]
    assert list(m) == [
        "threshold_rule", "threshold", "val_auc", "auc", *metric_keys, *[f"{k}_argmax" for k in metric_keys],
        "ap_NORMAL", "ap_PNEUMONIA", "n_val", "n_test",
    ]  # fmt: skip
    # sensitivity@0.9 -> 0.40 on validation; on test: positive calls all but 0.35, 0.20, 0.05 -> TP 4, FP 1
    s = operating_point_metrics(val, test, CLASSES, "PNEUMONIA", "NORMAL", "sensitivity@0.9")
    assert (s["threshold_rule"], s["threshold"]) == ("sensitivity@0.9", 0.40)
    assert (s["sensitivity"], s["specificity"], s["accuracy"]) == pytest.approx((1.0, 0.75, 7 / 8))
    # the positive class defaults to class_names[1]; minority = positive gives one AP key
    d = operating_point_metrics(val, test, CLASSES, None, "PNEUMONIA", "youden")
    assert d["sensitivity"] == m["sensitivity"] and [k for k in d if k.startswith("ap_")] == ["ap_PNEUMONIA"]
    # NORMAL as the positive class: thresholds on p_NORMAL, sensitivity and specificity trade places at argmax
    n = operating_point_metrics(val, test, CLASSES, "NORMAL", None, "argmax")
    assert (n["sensitivity_argmax"], n["specificity_argmax"]) == (m["specificity_argmax"], m["sensitivity_argmax"])
    assert [k for k in n if k.startswith("ap_")] == ["ap_NORMAL"]


def test_operating_point_metrics_validation_errors():
    val, test = _frame(VAL_P, VAL_Y), _frame(TEST_P, TEST_Y)
    for bad_val in (None, val.iloc[:0]):
        with pytest.raises(ValueError, match="no validation predictions"):
            operating_point_metrics(bad_val, test, CLASSES, "PNEUMONIA", None, "youden")
    one = val[val["y_true"] == 1]
    for rule in ("youden", "argmax"):  # whatever the rule: the returned keys never depend on it
        with pytest.raises(ValueError, match=r"only one class \(PNEUMONIA\)"):
            operating_point_metrics(one, test, CLASSES, "PNEUMONIA", None, rule)
    with pytest.raises(ValueError, match="lack columns"):
        operating_point_metrics(val.drop(columns="p_NORMAL"), test, CLASSES, "PNEUMONIA", None, "youden")
    with pytest.raises(ValueError, match="minority_class 'TUMOUR'"):
        operating_point_metrics(val, test, CLASSES, "PNEUMONIA", "TUMOUR", "youden")
    with pytest.raises(ValueError, match="bad threshold rule"):
        operating_point_metrics(val, test, CLASSES, "PNEUMONIA", None, "f1")
    # a one-class test set is not an error: undefined metrics are NaN, as in evaluate
    with pytest.warns(RuntimeWarning, match="single class"):
        m = operating_point_metrics(val, test[test["y_true"] == 1], CLASSES, "PNEUMONIA", "NORMAL", "youden")
    assert math.isnan(m["auc"]) and math.isnan(m["specificity"]) and math.isnan(m["ap_NORMAL"])
    assert m["sensitivity"] == 0.5


def test_operating_point_metrics_multiclass():
    names = ["a", "b", "c"]
    probs, y = multiclass_example()
    frame = pd.DataFrame({"y_true": y, **{f"p_{c}": probs[:, i] for i, c in enumerate(names)}})
    m = operating_point_metrics(frame, frame, names, "b", "c", "sensitivity@0.9")
    assert m["threshold_rule"] == "argmax (multiclass)" and math.isnan(m["threshold"])
    # one-vs-rest AUCs a 7/8, b 7/8, c 1 (see test_classifier); predictions 0 1 2 1 0 2
    assert m["val_auc"] == pytest.approx(2.75 / 3) and m["auc"] == pytest.approx(2.75 / 3)
    assert m["accuracy"] == m["accuracy_argmax"] == pytest.approx(4 / 6)
    assert (m["sensitivity"], m["specificity"]) == pytest.approx((1 / 2, 3 / 4))
    assert all(m[k] == m[f"{k}_argmax"] for k in ("balanced_accuracy", "recall_a", "f1_c", "precision_b"))
    # AP of c: both c images lead the ranking (0.6, 0.6) -> 1; of b: 0.5 P, 0.4 N, 0.35 P -> (1 + 2/3) / 2
    assert m["ap_c"] == pytest.approx(1.0) and m["ap_b"] == pytest.approx(5 / 6)
    # no positive class: sensitivity / specificity NaN and only the minority's AP
    m = operating_point_metrics(frame, frame, names, None, "a", "youden")
    assert math.isnan(m["sensitivity"]) and [k for k in m if k.startswith("ap_")] == ["ap_a"]
    with pytest.raises(ValueError, match="only one class"):
        operating_point_metrics(frame[frame["y_true"] == 2], frame, names, "b", None, "argmax")
    # AUC on validation as evaluate's auc_score: sklearn's macro one-vs-rest
    assert m["val_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))


def test_module_is_torch_free():
    code = "import sys, ganaug.operating_point, ganaug.stats; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
