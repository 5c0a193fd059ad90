"""The figures a medical reader looks for first (rule classifier_report; they lead ``summary.html``).

* :func:`plot_primary_curves` - ``primary_roc_pr.png``: ROC and precision-recall
  curves of the *primary* comparison (the one declared cell against the
  declared reference baseline), per seed and averaged, with each arm's
  validation-chosen operating point;
* :func:`plot_forest` - ``forest_auc.png``: every comparison's Δ AUC with its
  interval, the primary one on top, the equivalence margin shaded.

Both return a :class:`ReportFigure` (its path, alt text, one-line caption and
the numbers drawn), which :func:`ganaug.report.verdict.summary_html` embeds.

The primary cell and the reference are explicit arguments (config
``statistics.primary`` / ``statistics.reference``). In the paired-differences
table the primary row is the one whose ``role`` is ``primary``; a table without
a ``role`` column has no primary row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ganaug.io import PathLike, read_json, save_figure
from ganaug.report.tables import RUN_KEYS

#: the common grid the per-seed curves are averaged on (FPR for ROC, recall for precision-recall)
GRID = np.linspace(0.0, 1.0, 201)

#: the marker colour of each verdict in the forest plot (others: grey)
VERDICT_COLOURS = {"better": "tab:green", "worse": "tab:red", "equivalent": "tab:blue", "inconclusive": "0.45"}


@dataclass(frozen=True)
class ReportFigure:
    """A figure written for the report: where, its alt text, a one-line caption, and the numbers it shows."""

    path: str
    alt: str
    caption: str
    data: Any = field(default=None, compare=False)


def cell_label(key: Mapping[str, Any], n_real: bool = False) -> str:
    """``dcgan balance f=1`` (+ `` + classic`` for a baseline, ``, n_real 50``); real-only cells ``real only, classic``."""
    if key["source"] == "real":
        text = f"real only, {key['baseline']}"
    else:
        text = f"{key['source']} {key['strategy']} f={float(key['fraction']):g}"
        text += "" if key["baseline"] == "none" else f" + {key['baseline']}"
    return text + (f", n_real {key['n_real']}" if n_real else "")


def cell_key(source, strategy, fraction, baseline, n_real) -> dict[str, Any]:
    """A sweep cell's key in the types of the runs table: fraction a float, n_real text."""
    return {
        "baseline": str(baseline),
        "source": str(source),
        "strategy": str(strategy),
        "fraction": float(fraction),
        "n_real": str(n_real),
    }


def _run_key(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The cell of one metrics.json, with the defaults :func:`~ganaug.report.tables.classifier_runs_table` gives
    records older than baselines / strategies / n_real."""
    source = str(rec["source"])
    strategy = rec.get("strategy") or ("none" if source == "real" else "replace")
    return cell_key(source, strategy, rec["fraction"], rec.get("baseline") or "none", rec.get("n_real") or "all")


# ----------------------------------------------------------------------------- curves on a grid


def tpr_at(fpr: np.ndarray, tpr: np.ndarray, grid: np.ndarray = GRID) -> np.ndarray:
    """Vertical averaging's TPR of one ROC curve at each FPR of ``grid``.

    ``fpr`` / ``tpr``: :func:`sklearn.metrics.roc_curve`'s points (FPR
    non-decreasing). At an FPR the curve jumps at, the top of the jump (the
    highest TPR reached at that FPR); between two FPRs, the straight line from
    the top of one jump to the bottom of the next - the curve sklearn draws and
    the trapezoids its AUC sums, so the area under the averaged curve is the
    mean AUC (up to the grid).
    """
    fpr, tpr, x = (np.asarray(a, dtype=float) for a in (fpr, tpr, grid))
    j = np.searchsorted(fpr, x, side="right") - 1  # last point with fpr <= x: the top of its jump
    j = np.clip(j, 0, len(fpr) - 1)
    k = np.minimum(j + 1, len(fpr) - 1)
    span = fpr[k] - fpr[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (x - fpr[j]) / span, 0.0)
    return tpr[j] + np.clip(w, 0.0, 1.0) * (tpr[k] - tpr[j])


def precision_at(recall: np.ndarray, precision: np.ndarray, grid: np.ndarray = GRID) -> np.ndarray:
    """Precision of one precision-recall curve at each recall of ``grid``, as a step function.

    ``recall`` / ``precision``: :func:`sklearn.metrics.precision_recall_curve`'s
    points (recall non-increasing, ending at recall 0, precision 1). At recall
    ``r`` the precision of the strictest threshold that still reaches recall
    ``>= r`` - the step function :func:`sklearn.metrics.average_precision_score`
    integrates, so the area under the averaged curve is the mean average
    precision (up to the grid). No linear interpolation: straight lines in
    precision-recall space overstate precision.
    """
    recall, precision, x = (np.asarray(a, dtype=float) for a in (recall, precision, grid))
    reached = len(recall) - np.searchsorted(recall[::-1], x, side="left")  # points with recall >= x: a prefix
    return precision[np.clip(reached - 1, 0, len(recall) - 1)]


@dataclass
class _Arm:
    """One arm's per-seed curves and operating points."""

    label: str
    seeds: list[int] = field(default_factory=list)
    roc: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    pr: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)
    ap: list[float] = field(default_factory=list)
    roc_point: list[tuple[float, float]] = field(default_factory=list)
    pr_point: list[tuple[float, float]] = field(default_factory=list)
    prevalence: list[float] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def _classes(classes: Sequence[str], positive_class: str | None, minority_class: str | None):
    """(index of the positive class or None, the ROC class, the precision-recall class)."""
    k = len(classes)
    pos = classes.index(positive_class) if positive_class is not None else (1 if k == 2 else None)
    roc_cls = classes[pos] if k == 2 else (minority_class or classes[0])
    pr_cls = minority_class or (classes[pos] if pos is not None else roc_cls)
    return pos, roc_cls, pr_cls


def _add_run(arm: _Arm, seed: int, test: pd.DataFrame, val: pd.DataFrame, classes, pos, roc_cls, pr_cls, rule):
    """One run's curves, AUC, AP and operating point (the test point at its validation threshold)."""
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    from ganaug.operating_point import average_precision, choose_threshold, parse_threshold_rule, predict_labels

    probs = test[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    y = test["y_true"].to_numpy().astype(int)
    r, q = classes.index(roc_cls), classes.index(pr_cls)
    if len(np.unique(y == r)) < 2 or not (y == q).any():
        arm.skipped.append(seed)
        return
    threshold = None
    if len(classes) == 2 and parse_threshold_rule(rule).kind != "argmax":
        vy = val["y_true"].to_numpy().astype(int)
        threshold = choose_threshold(val[f"p_{classes[pos]}"].to_numpy(dtype=float), vy == pos, rule)
    pred = predict_labels(probs, pos, threshold)
    fpr, tpr, _ = roc_curve(y == r, probs[:, r])
    prec, rec, _ = precision_recall_curve(y == q, probs[:, q])
    arm.seeds.append(seed)
    arm.roc.append((fpr, tpr))
    arm.pr.append((rec, prec))
    arm.auc.append(float(roc_auc_score(y == r, probs[:, r])))
    arm.ap.append(average_precision(probs[:, q], y == q))
    arm.roc_point.append((float(np.mean(pred[y != r] == r)), float(np.mean(pred[y == r] == r))))
    called = pred == q
    arm.pr_point.append((float(np.mean(called[y == q])), float(np.mean(y[called] == q)) if called.any() else math.nan))
    arm.prevalence.append(float(np.mean(y == q)))


def _summary(arm: _Arm, level: float, min_seeds: int) -> dict[str, Any]:
    """The numbers drawn for one arm: grid means and min-max bands, AUC / AP mean and t CI, operating point."""
    from ganaug.stats import mean_ci

    out: dict[str, Any] = {"label": arm.label, "seeds": list(arm.seeds), "skipped_seeds": list(arm.skipped)}
    if not arm.seeds:
        return out
    roc = np.array([tpr_at(f, t) for f, t in arm.roc])
    pr = np.array([precision_at(r, p) for r, p in arm.pr])
    for name, values in (("auc", arm.auc), ("ap", arm.ap)):
        s = mean_ci(values, level, bounds=(0.0, 1.0), min_n=min_seeds)
        out.update({name: s["mean"], f"{name}_ci_low": s["ci_low"], f"{name}_ci_high": s["ci_high"]})
    for name, curves in (("tpr", roc), ("precision", pr)):
        out.update({f"{name}_mean": curves.mean(0), f"{name}_min": curves.min(0), f"{name}_max": curves.max(0)})
    for name, points in (("roc_point", arm.roc_point), ("pr_point", arm.pr_point)):
        pts = np.array(points, dtype=float)
        out.update({name: np.nanmean(pts, 0), f"{name}_min": np.nanmin(pts, 0), f"{name}_max": np.nanmax(pts, 0)})
        out[f"{name}s"] = [tuple(p) for p in points]
    out["prevalence"] = float(np.mean(arm.prevalence))
    return out


def _interval(mean: float, lo: float, hi: float) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]" if math.isfinite(lo) and math.isfinite(hi) else f"{mean:.3f}"


def _draw_arm(ax_roc, ax_pr, s: Mapping[str, Any], colour: str, level: float) -> None:
    """One arm on both panels: thin per-seed curves, the mean, its min-max band, the operating point."""
    n = len(s["seeds"])
    for (fpr, tpr), (rec, prec) in zip(s["_roc"], s["_pr"]):
        ax_roc.plot(fpr, tpr, color=colour, alpha=0.25, linewidth=0.7)
        ax_pr.plot(rec, prec, color=colour, alpha=0.25, linewidth=0.7, drawstyle="steps-post")
    panels = (
        (ax_roc, "tpr", "roc_point", f"AUC {_interval(s['auc'], s['auc_ci_low'], s['auc_ci_high'])}"),
        (ax_pr, "precision", "pr_point", f"AP {_interval(s['ap'], s['ap_ci_low'], s['ap_ci_high'])}"),
    )
    for ax, curve, point, score in panels:
        x = np.concatenate([[0.0], GRID]) if curve == "tpr" else GRID
        pad = (lambda a: np.concatenate([[0.0], a])) if curve == "tpr" else (lambda a: a)
        ax.plot(x, pad(s[f"{curve}_mean"]), color=colour, linewidth=2, label=f"{s['label']} ({n} seeds): {score}")
        ax.fill_between(x, pad(s[f"{curve}_min"]), pad(s[f"{curve}_max"]), color=colour, alpha=0.15, linewidth=0)
        m, lo, hi = s[point], s[f"{point}_min"], s[f"{point}_max"]
        ax.errorbar(
            [m[0]], [m[1]], xerr=[[m[0] - lo[0]], [hi[0] - m[0]]], yerr=[[m[1] - lo[1]], [hi[1] - m[1]]],
            marker="o", markersize=7, markeredgecolor="black", color=colour, capsize=3, linestyle="none", zorder=5,
        )  # fmt: skip


def primary_of(paired: pd.DataFrame, declared: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The primary cell the figures show: the cell of the table's ``role == "primary"`` row (what the
    statistics tested, also when the pilot replicates chose it), else the ``declared`` cell
    (``statistics.primary`` resolved) when it names one, else None."""
    if "role" in paired.columns:
        rows = paired[paired["role"] == "primary"]
        if len(rows):
            return cell_key(**{k: rows.iloc[0][k] for k in RUN_KEYS})
    if declared and "source" in declared:
        return cell_key(**{k: declared[k] for k in RUN_KEYS})
    return None


def plot_primary_curves(
    metric_files: Sequence[PathLike],
    predictions: Sequence[PathLike],
    val_predictions: Sequence[PathLike],
    out: PathLike,
    *,
    primary: Mapping[str, Any] | None,
    reference: str,
    positive_class: str | None = None,
    minority_class: str | None = None,
    threshold: str = "youden",
    level: float = 0.95,
    min_seeds: int = 2,
) -> ReportFigure:
    """``primary_roc_pr.png``: ROC (left) and precision-recall (right) curves of the primary comparison.

    Two arms: the ``primary`` cell (a mapping with source, strategy, fraction,
    baseline, n_real) and the real-only ``reference`` baseline at the same
    n_real. ``metric_files`` / ``predictions`` / ``val_predictions``: every
    run's metrics.json, predictions.csv and predictions_val.csv, aligned (the
    rule's inputs); only the two arms' runs are read beyond their metrics.json.

    * ROC of the positive class (binary; ``positive_class`` None: the second
      class, as the tables), of the minority class one-vs-rest for multiclass
      tasks. Precision-recall of the minority class (the class the synthetic
      images are meant to help; its average precision is the tables'
      ``ap_<minority>``), of the positive class when no minority is given.
    * Thin lines: one curve per seed (test split). Thick line: the mean over
      seeds on a common grid - vertical averaging of the TPR at each FPR
      (:func:`tpr_at`, linear between ROC points) and of the precision at each
      recall (:func:`precision_at`, the average-precision step function).
      Band: min-max over seeds, pointwise.
    * Marker: the operating point, each run's test (FPR, TPR) and (recall,
      precision) at the threshold its validation split chose by ``threshold``
      (argmax for multiclass tasks and rule ``argmax``) - the sensitivity,
      specificity, recall and precision of the runs table - mean over seeds,
      error bars min-max.
    * Legend: mean AUC / AP with the t CI at ``level`` over seeds (none below ``min_seeds`` seeds).

    A missing arm (the cell did not run in this sweep) is named in the panels;
    the figure is written whatever ran. Returns the :class:`ReportFigure`, its
    ``data`` ``{"primary": ..., "reference": ..., "roc_class", "pr_class"}``
    with each arm's numbers (grid means, bands, AUC, AP, operating points).
    """
    if not len(metric_files) == len(predictions) == len(val_predictions):
        raise ValueError(
            f"{len(metric_files)} metrics files but {len(predictions)} test and {len(val_predictions)} prediction files"
        )
    # no primary cell (a sweep without GAN cells): an arm that matches no run, named as missing
    pkey = cell_key(**{k: primary[k] for k in RUN_KEYS}) if primary else cell_key("none", "none", 0.0, "none", "all")
    rkey = cell_key("real", "none", 0.0, reference, pkey["n_real"])
    arms = {"primary": _Arm(cell_label(pkey)), "reference": _Arm(cell_label(rkey))}
    names = None
    for m, t, v in zip(metric_files, predictions, val_predictions):
        rec = read_json(m)
        key = _run_key(rec)
        arm = "primary" if key == pkey else "reference" if key == rkey else None
        if arm is None:
            continue
        classes = [str(c) for c in rec["classes"]]
        names = names or (classes, *_classes(classes, positive_class, minority_class))
        _add_run(arms[arm], int(rec["seed"]), pd.read_csv(t), pd.read_csv(v), *names, threshold)
    data = {k: _summary(a, level, min_seeds) | {"_roc": a.roc, "_pr": a.pr} for k, a in arms.items()}
    classes, _, roc_cls, pr_cls = names or (None, None, positive_class, minority_class)
    multiclass = classes is not None and len(classes) > 2
    data.update(roc_class=roc_cls, pr_class=pr_cls)
    titles = (
        f"ROC, {roc_cls} vs rest" if multiclass else f"ROC, positive class {roc_cls}",
        f"precision–recall, {pr_cls}" + (" (minority class)" if pr_cls == minority_class else ""),
    )
    _draw_curves(data, titles, pkey, reference, out, level)
    for arm in arms:
        del data[arm]["_roc"], data[arm]["_pr"]
    alt = (
        f"ROC and precision-recall curves on the test split of {data['primary']['label']} against the "
        f"reference {data['reference']['label']}, per seed and averaged, with the validation-chosen operating points"
    )
    caption = (
        f"Primary comparison, {data['primary']['label']} vs {data['reference']['label']} (n_real {pkey['n_real']}): "
        f"test ROC ({roc_cls}) and precision-recall ({pr_cls}) curves per seed, their mean with a min–max band, "
        "and each arm's operating point at its validation-chosen threshold."
    )
    return ReportFigure(str(out), alt, caption, data)


def _draw_curves(data: Mapping[str, Any], titles, pkey: Mapping[str, Any], reference: str, out: PathLike, level: float):
    """The two panels of :func:`plot_primary_curves` from its ``data``; a missing arm is named in both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pr_cls = data["pr_class"]
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(11, 5.2))
    ax_roc.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance")
    missing = []
    for arm, colour in (("primary", "tab:red"), ("reference", "tab:blue")):
        s = data[arm]
        if not s["seeds"]:
            missing.append(f"{arm} {s['label']}: did not run in this sweep" if not s["skipped_seeds"] else
                           f"{arm} {s['label']}: every seed's test split lacks a class")  # fmt: skip
            continue
        _draw_arm(ax_roc, ax_pr, s, colour, level)
    prevalence = [data[a]["prevalence"] for a in ("primary", "reference") if data[a]["seeds"]]
    if prevalence:
        ax_pr.axhline(prevalence[0], color="0.6", linestyle=":", linewidth=1, label=f"chance ({prevalence[0]:.2f})")
    ax_roc.plot([], [], color="0.5", alpha=0.3, linewidth=6, label="band: min–max over seeds; thin: one seed")
    ax_roc.plot([], [], marker="o", color="0.5", markeredgecolor="black", linestyle="none",
                label="validation-chosen threshold (mean, min–max)")  # fmt: skip
    ax_roc.plot([], [], color="none", label=f"[ ]: {100 * level:g} % t CI over seeds")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        if missing:
            ax.text(0.5, 0.5, "\n".join(missing), transform=ax.transAxes, ha="center", va="center", fontsize=9,
                    wrap=True, bbox=dict(facecolor="white", edgecolor="tab:orange"))  # fmt: skip
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right" if ax is ax_roc else "lower left", fontsize=7)
    ax_roc.set_xlabel("false-positive rate (1 − specificity)")
    ax_roc.set_ylabel("true-positive rate (sensitivity)")
    ax_roc.set_title(titles[0], fontsize=10)
    ax_pr.set_xlabel(f"recall of {pr_cls}")
    ax_pr.set_ylabel(f"precision of {pr_cls}")
    ax_pr.set_title(titles[1], fontsize=10)
    fig.suptitle(
        f"Primary comparison (test split, n_real {pkey['n_real']}): {data['primary']['label']} vs reference {reference}",
        fontsize=11,
    )
    fig.tight_layout()
    save_figure(out, fig)


# ----------------------------------------------------------------------------- forest plot


def forest_rows(paired: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """The rows of :func:`plot_forest`, top to bottom: the primary comparison (``role == "primary"``) first,
    then every other comparison of ``metric`` in the table's order; ``label`` names the cell (with its n_real
    when the table has several, with its reference when they differ)."""
    rows = paired[paired["metric"] == metric].copy()
    role = rows["role"].astype(str) if "role" in rows.columns else pd.Series("secondary", index=rows.index)
    rows["role"] = np.where(role == "primary", "primary", "secondary")
    several_n = rows["n_real"].astype(str).nunique() > 1
    several_ref = rows["reference"].astype(str).nunique() > 1
    rows["label"] = [
        cell_label(r, n_real=several_n) + (f" vs {r['reference']}" if several_ref else "") for _, r in rows.iterrows()
    ]
    rows["_order"] = (rows["role"] != "primary").astype(int)
    rows = rows.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    keep = ["role", "label", *RUN_KEYS, "reference", "n_pairs", "diff_mean", "diff_ci_low", "diff_ci_high", "verdict"]
    return rows[[c for c in keep if c in rows.columns]]


def plot_forest(
    paired: pd.DataFrame, out: PathLike, *, margin: float | None = 0.02, metric: str = "auc", level: float = 0.95
) -> ReportFigure:
    """``forest_auc.png``: every comparison's difference in ``metric`` to its reference with its interval.

    Rows (:func:`forest_rows`): the primary comparison on top (bold, square
    marker, shaded row, a line under it), the secondary ones below. Marker: the
    mean paired difference; bar: ``diff_ci_low``-``diff_ci_high`` of the table
    (the t interval at ``level`` over seeds, not adjusted for multiplicity;
    none with fewer than two pairs). Right of each row: the difference, its
    interval and the table's verdict (after the multiple-comparison
    correction), coloured by verdict. A solid line at 0; the equivalence margin
    ``±margin`` shaded (``None``: the table's ``equivalence_margin``, else
    none). An empty table gives a figure that says so. ``data``: the rows drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = forest_rows(paired, metric)
    if margin is None and "equivalence_margin" in paired.columns and paired["equivalence_margin"].notna().any():
        margin = float(paired["equivalence_margin"].dropna().iloc[0])
    n = len(rows)
    fig, ax = plt.subplots(figsize=(9.5, 1.6 + 0.36 * max(n, 2)))
    d = rows["diff_mean"].to_numpy(dtype=float)
    lo, hi = (rows[c].to_numpy(dtype=float) for c in ("diff_ci_low", "diff_ci_high"))
    y = np.arange(n)[::-1].astype(float)
    if margin:
        ax.axvspan(-margin, margin, color="tab:green", alpha=0.12, linewidth=0, label=f"equivalence margin ±{margin:g}")
        for x in (-margin, margin):
            ax.axvline(x, color="tab:green", linewidth=0.8, linestyle="--")
    ax.axvline(0.0, color="0.2", linewidth=1)
    for i, r in rows.iterrows():
        primary = r["role"] == "primary"
        colour = VERDICT_COLOURS.get(str(r["verdict"]), "0.45")
        if primary:
            ax.axhspan(y[i] - 0.5, y[i] + 0.5, color="gold", alpha=0.25, linewidth=0)
            ax.axhline(y[i] - 0.5, color="0.3", linewidth=0.8)
        if math.isfinite(lo[i]) and math.isfinite(hi[i]):
            ax.plot([lo[i], hi[i]], [y[i], y[i]], color=colour, linewidth=2.5 if primary else 1.5)
        ax.plot(d[i], y[i], marker="s" if primary else "o", markersize=9 if primary else 6, color=colour,
                markeredgecolor="black" if primary else colour)  # fmt: skip
        ci = f" [{lo[i]:+.3f}, {hi[i]:+.3f}]" if math.isfinite(lo[i]) and math.isfinite(hi[i]) else " (no interval)"
        ax.annotate(f"{d[i]:+.3f}{ci}  {r['verdict']}", (1.01, y[i]), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8, color=colour, fontweight="bold" if primary else "normal")  # fmt: skip
    ax.set_yticks(
        y, labels=[("primary: " if r == "primary" else "") + lab for r, lab in zip(rows["role"], rows["label"])]
    )
    for tick, role in zip(ax.get_yticklabels(), rows["role"]):
        tick.set_fontweight("bold" if role == "primary" else "normal")
        tick.set_fontsize(9)
    ax.set_ylim(-0.7, max(n, 1) - 0.3)
    span = np.nanmax(np.abs(np.concatenate([lo, hi, d, [margin or 0.0, 0.01]])))
    ax.set_xlim(-1.1 * span, 1.1 * span)
    ref = sorted(set(rows["reference"].astype(str))) if n else []
    what = {"auc": "test AUC"}.get(metric, metric.replace("_", " "))
    ax.set_xlabel(f"Δ {what}: cell − reference ({', '.join(ref) or 'none'}), paired by seed")
    if not n:
        ax.text(0.5, 0.5, "no comparison in this sweep", transform=ax.transAxes, ha="center", va="center")
    elif not (rows["role"] == "primary").any():
        ax.set_title("no primary comparison declared in the table (no role column or no primary row)", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if margin:
        ax.legend(
            loc="lower left", fontsize=7, bbox_to_anchor=(0.0, 1.0 if (rows["role"] == "primary").any() else 1.06)
        )
    fig.suptitle(
        f"Δ {what} per comparison: mean and {100 * level:g} % t CI over replicates (unadjusted); verdict after correction",
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(out, fig)
    primary = rows[rows["role"] == "primary"]
    head = f"the primary comparison ({primary['label'].iloc[0]}) on top, " if len(primary) else ""
    alt = f"Forest plot of the difference in {what} to the reference for {n} comparisons, with intervals and verdicts"
    caption = f"Δ {what} of every comparison with its {100 * level:g} % interval: {head}0 = no difference" + (
        f", shaded ±{margin:g} = the equivalence margin." if margin else "."
    )
    return ReportFigure(str(out), alt, caption, rows)
