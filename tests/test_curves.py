"""The figures summary.html leads with (ganaug.report.curves): hand-made predictions with known answers."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from ganaug import report
from ganaug.operating_point import operating_point_metrics
from ganaug.report.curves import GRID

CLASSES = ["NORMAL", "PNEUMONIA"]
PRIMARY = {"source": "dcgan", "strategy": "balance", "fraction": 1.0, "baseline": "none", "n_real": "all"}
PNG = b"\x89PNG\r\n\x1a\n"


def _grid(x: float) -> int:
    i = int(np.argmin(np.abs(GRID - x)))
    assert GRID[i] == pytest.approx(x)
    return i


def _frame(y, p_pos, classes=CLASSES) -> pd.DataFrame:
    p_pos = np.asarray(p_pos, dtype=float)
    return pd.DataFrame({"index": range(len(y)), "y_true": y, "p_NORMAL": 1 - p_pos, "p_PNEUMONIA": p_pos})


def _run(root, cell: dict, seed: int, test: pd.DataFrame, val: pd.DataFrame, classes=CLASSES):
    d = root / f"{cell['baseline']}_{cell['source']}_{cell['strategy']}_{cell['fraction']}_{cell['n_real']}_s{seed}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({**cell, "seed": seed, "classes": classes}))
    test.to_csv(d / "predictions.csv", index=False)
    val.to_csv(d / "predictions_val.csv", index=False)
    return d / "metrics.json", d / "predictions.csv", d / "predictions_val.csv"


# validation: negatives 0.2, 0.5, positives 0.65, 0.8 -> youden picks 0.65 (the largest threshold with J = 1)
VAL = _frame([0, 1, 0, 1], [0.2, 0.65, 0.5, 0.8])
# seed 0: perfectly separable; seed 1: ranked P (0.9), N (0.7), P (0.6), N (0.3) -> ROC AUC 0.75
TEST = {0: _frame([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]), 1: _frame([0, 0, 1, 1], [0.3, 0.7, 0.6, 0.9])}


@pytest.fixture
def tree(tmp_path):
    """Runs of the primary cell (2 seeds), the classic reference (1 seed) and an unrelated cell (ignored)."""
    files = [_run(tmp_path, PRIMARY, s, TEST[s], VAL) for s in (0, 1)]
    ref = {"source": "real", "strategy": "none", "fraction": 0.0, "baseline": "classic", "n_real": "all"}
    files.append(_run(tmp_path, ref, 0, _frame([0, 1, 0, 1], [0.4, 0.6, 0.3, 0.7]), VAL))
    other = dict(PRIMARY, fraction=0.5)
    files.append(_run(tmp_path, other, 0, _frame([0, 1], [0.9, 0.1]), VAL))
    return [list(x) for x in zip(*files)]


def _curves(tree, out, **kw):
    m, t, v = tree
    kw = {"primary": PRIMARY, "reference": "classic", "positive_class": "PNEUMONIA", "minority_class": "NORMAL", **kw}
    return report.plot_primary_curves(m, t, v, out, **kw)


def test_tpr_at_averages_vertically_by_hand():
    # separable: TPR 1 from FPR 0 on, the curve passes through (0, 1)
    fpr, tpr, _ = roc_curve([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])
    assert report.tpr_at(fpr, tpr)[0] == 1.0 and (report.tpr_at(fpr, tpr) == 1.0).all()
    # a tie between one positive and one negative: the diagonal, TPR 0.25 at FPR 0.25
    fpr_tie, tpr_tie, _ = roc_curve([1, 0], [0.5, 0.5])
    assert report.tpr_at(fpr_tie, tpr_tie)[_grid(0.25)] == pytest.approx(0.25)
    # a jump at FPR 0.5 (from TPR 0.5 to 1): its top at 0.5, flat before it
    f, t = np.array([0, 0, 0.5, 0.5, 1]), np.array([0, 0.5, 0.5, 1, 1])
    at = report.tpr_at(f, t)
    assert at[_grid(0.0)] == 0.5 and at[_grid(0.25)] == 0.5 and at[_grid(0.5)] == 1.0 and at[-1] == 1.0
    # the mean of the separable and the tie curve at FPR 0.25: (1 + 0.25) / 2
    assert np.mean([report.tpr_at(fpr, tpr), report.tpr_at(fpr_tie, tpr_tie)], 0)[_grid(0.25)] == 0.625


def test_precision_at_is_the_average_precision_step():
    # NORMAL scores ranked N, P, N, P: precision 1 up to recall 0.5, then 2/3 (the strictest threshold reaching 1)
    y, s = np.array([1, 1, 0, 0]), np.array([0.7, 0.3, 0.4, 0.1])
    prec, rec, _ = precision_recall_curve(y, s)
    at = report.precision_at(rec, prec)
    assert at[_grid(0.25)] == 1.0 and at[_grid(0.5)] == 1.0
    assert at[_grid(0.75)] == pytest.approx(2 / 3) and at[-1] == pytest.approx(2 / 3)
    # its area over (0, 1] is the average precision
    assert at[1:].mean() == pytest.approx(average_precision_score(y, s), abs=0.005)
    assert average_precision_score(y, s) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_primary_curves_numbers_by_hand(tree, tmp_path):
    fig = _curves(tree, tmp_path / "roc_pr.png", min_seeds=2)
    assert (tmp_path / "roc_pr.png").read_bytes()[:8] == PNG
    assert fig.data["roc_class"] == "PNEUMONIA" and fig.data["pr_class"] == "NORMAL"
    p, r = fig.data["primary"], fig.data["reference"]
    assert p["seeds"] == [0, 1] and r["seeds"] == [0] and p["label"] == "dcgan balance f=1"
    assert r["label"] == "real only, classic"
    # seed 0 separable (AUC 1, TPR 1 at FPR 0), seed 1 AUC 0.75 with TPR 0.5 at FPR 0.25
    assert p["auc"] == pytest.approx(0.875)
    assert p["tpr_max"][0] == 1.0 and p["tpr_mean"][_grid(0.25)] == pytest.approx(0.75)
    assert p["tpr_min"][_grid(0.25)] == 0.5 and p["tpr_max"][_grid(0.25)] == 1.0
    # one reference seed: no interval; two seeds: a t interval around the mean
    assert np.isnan(r["auc_ci_low"]) and p["auc_ci_low"] < 0.875 < p["auc_ci_high"] <= 1.0


def test_operating_point_is_the_confusion_at_the_validation_threshold(tree, tmp_path):
    p = _curves(tree, tmp_path / "roc_pr.png").data["primary"]
    # threshold 0.65 from validation; seed 1's test: PNEUMONIA called for 0.7 (N) and 0.9 (P):
    # TP 1, FN 1, FP 1, TN 1 -> (FPR, TPR) = (1/2, 1/2); NORMAL called for 0.3 (N) and 0.6 (P): recall 1/2, precision 1/2
    tp, fn, fp, tn = 1, 1, 1, 1
    assert p["roc_points"][1] == (fp / (fp + tn), tp / (tp + fn))
    assert p["pr_points"][1] == (tn / (tn + fp), tn / (tn + fn))
    assert p["roc_points"][0] == (0.0, 1.0) and p["pr_points"][0] == (1.0, 1.0)  # seed 0: no error at 0.65
    assert tuple(p["roc_point"]) == (0.25, 0.75) and tuple(p["roc_point_min"]) == (0.0, 0.5)
    # the same numbers as the runs table's (operating_point_metrics)
    for seed, (fpr, tpr), (rec, prec) in zip((0, 1), p["roc_points"], p["pr_points"]):
        m = operating_point_metrics(VAL, TEST[seed], CLASSES, "PNEUMONIA", "NORMAL", "youden")
        assert m["threshold"] == 0.65
        assert (1 - m["specificity"], m["sensitivity"]) == pytest.approx((fpr, tpr))
        assert (m["recall_NORMAL"], m["precision_NORMAL"]) == pytest.approx((rec, prec))


def test_missing_primary_cell_still_writes_the_figure(tree, tmp_path):
    out = tmp_path / "roc_pr.png"
    fig = _curves(tree, out, primary=dict(PRIMARY, n_real="50"))  # no run at n_real 50, nor its reference
    assert out.read_bytes()[:8] == PNG
    assert fig.data["primary"]["seeds"] == [] and fig.data["reference"]["seeds"] == []
    fig = _curves(tree, out, reference="oversample")  # the primary ran, the reference did not
    assert fig.data["primary"]["seeds"] == [0, 1] and fig.data["reference"]["seeds"] == []
    assert out.read_bytes()[:8] == PNG


def test_multiclass_uses_the_minority_class_one_vs_rest(tmp_path):
    classes = ["A", "B", "C"]
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    frame = pd.DataFrame(
        {"index": range(5), "y_true": [0, 1, 2, 1, 2], **{f"p_{c}": probs[:, i] for i, c in enumerate(classes)}}
    )
    files = [_run(tmp_path, PRIMARY, 0, frame, frame, classes)]
    files.append(_run(tmp_path, dict(PRIMARY, source="real", strategy="none", fraction=0.0, baseline="classic"), 0,
                      frame, frame, classes))  # fmt: skip
    m, t, v = ([x[i] for x in files] for i in range(3))
    fig = report.plot_primary_curves(
        m, t, v, tmp_path / "mc.png", primary=PRIMARY, reference="classic", minority_class="A"
    )
    assert fig.data["roc_class"] == "A" and fig.data["pr_class"] == "A"
    # argmax calls A for rows 0 and 3; A is row 0 only: FPR 1/4, TPR 1; precision 1/2
    assert fig.data["primary"]["roc_points"] == [(0.25, 1.0)] and fig.data["primary"]["pr_points"] == [(1.0, 0.5)]


def _paired(role: bool = True) -> pd.DataFrame:
    cells = [
        ("oversample", "real", "none", 0.0, "all", 0.01, "inconclusive"),
        ("none", "dcgan", "replace", 0.5, "all", -0.05, "worse"),
        ("none", "dcgan", "balance", 1.0, "all", 0.004, "equivalent"),
        ("none", "dcgan", "balance", 1.0, "50", 0.03, "better"),
    ]
    rows = []
    for b, src, strat, f, n, d, verdict in cells:
        for metric in ("auc", "ap_NORMAL"):
            rows.append({
                "baseline": b, "source": src, "strategy": strat, "fraction": f, "n_real": n, "reference": "classic",
                "metric": metric, "n_pairs": 3, "diff_mean": d, "diff_ci_low": d - 0.01, "diff_ci_high": d + 0.01,
                "verdict": verdict, "equivalence_margin": 0.02,
            })  # fmt: skip
    df = pd.DataFrame(rows)
    if role:
        primary = (df["strategy"] == "balance") & (df["n_real"] == "all")
        df["role"] = np.where(primary, "primary", "secondary")
    return df


def test_forest_puts_the_primary_comparison_first(tmp_path):
    fig = report.plot_forest(_paired(), tmp_path / "forest.png", margin=0.02)
    assert (tmp_path / "forest.png").read_bytes()[:8] == PNG
    rows = fig.data
    assert list(rows["role"]) == ["primary", "secondary", "secondary", "secondary"]
    assert list(rows["label"]) == [
        "dcgan balance f=1, n_real all",
        "real only, oversample, n_real all",
        "dcgan replace f=0.5, n_real all",
        "dcgan balance f=1, n_real 50",
    ]
    assert list(rows["verdict"]) == ["equivalent", "inconclusive", "worse", "better"]
    assert rows["diff_mean"].iloc[0] == 0.004 and "on top" in fig.caption and "±0.02" in fig.caption


def test_forest_without_role_column_has_no_primary_row(tmp_path):
    fig = report.plot_forest(_paired(role=False), tmp_path / "forest.png", margin=None)  # margin from the table
    assert set(fig.data["role"]) == {"secondary"} and fig.data["label"].iloc[0] == "real only, oversample, n_real all"
    assert "±0.02" in fig.caption and "on top" not in fig.caption
    empty = report.plot_forest(_paired().iloc[:0], tmp_path / "empty.png")
    assert empty.data.empty and (tmp_path / "empty.png").read_bytes()[:8] == PNG


class _Checker(HTMLParser):
    """Collects the images and figure captions, and checks that every non-void element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.captions, self.order, self.errors = [], [], [], [], []
        self._caption = False

    def handle_starttag(self, tag, attrs):
        self.order.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in self.VOID:
            self.stack.append(tag)
        self._caption = tag == "figcaption"

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)
        self._caption = False

    def handle_data(self, data):
        if self._caption:
            self.captions.append(data)


def test_summary_html_leads_with_the_figures_as_data_uris(tree, tmp_path):
    curves = _curves(tree, tmp_path / "roc_pr.png")
    forest = report.plot_forest(_paired(), tmp_path / "forest.png")
    text = "# Summary\n\nFirst **paragraph** with `code`.\n\nSecond paragraph."
    page = report.summary_html(text, figures=[curves, forest])
    assert page.startswith("<!doctype html>")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    assert len(checker.images) == 2 and len(checker.captions) == 2 and all(c.strip() for c in checker.captions)
    for img, path in zip(checker.images, (tmp_path / "roc_pr.png", tmp_path / "forest.png")):
        assert img["alt"].strip()
        head, payload = img["src"].split(",", 1)
        assert head == "data:image/png;base64" and base64.b64decode(payload) == path.read_bytes()
    # under the heading, before the text; the page fits a phone
    order = [t for t in checker.order if t in ("h1", "img", "p")]
    assert order == ["h1", "img", "img", "p", "p"]
    assert "name='viewport'" in page and "max-width" in page and "img{width:100%" in page
    # without figures the page is as before: one <p> per paragraph
    assert report.summary_html(text).count("<p>") == 2 and "<img" not in report.summary_html(text)
    # (path, alt, caption) tuples work too
    assert report.summary_html(text, figures=[(tmp_path / "forest.png", "a", "b")]).count("<img") == 1
