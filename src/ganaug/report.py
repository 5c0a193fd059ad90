"""Aggregation of per-job results into the tables and figures of ``results/report/``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ganaug.io import PathLike, load_npz, read_json, save_dataframe, save_figure, write_text

GAN_COLUMNS = [
    "gan", "model", "mode", "class", "minority", "fid", "fid_n_generated", "fid_n_real", "fid_floor", "fid_floor_n_test",
    "msssim_generated", "msssim_real", "msssim_pairs", "mode_collapse", "collapse_margin",
    "kid_mean", "kid_std", "precision", "recall", "nn1_accuracy", "nn1_real_accuracy", "nn1_fake_accuracy",
    "memo_near_copy_fraction", "memo_near_copy_threshold", "memo_pixel_nn_median", "memo_feature_nn_median",
    "fullref_psnr_mean", "fullref_ssim_mean", "fullref_ms_gmsd_mean", "fullref_mdsi_mean", "fullref_haarpsi_mean",
]

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------- tables


def gan_scores_table(metric_files: Iterable[PathLike], minority_class: str | None = None) -> pd.DataFrame:
    """One row per GAN × class from the ``gan_metrics`` JSON files (their scalar entries).

    ``mode_collapse`` comes from the JSON; for a file without it, it is computed
    by :func:`~ganaug.metrics.msssim.mode_collapse` with the file's
    ``collapse_margin`` or :data:`~ganaug.metrics.msssim.DEFAULT_COLLAPSE_MARGIN`.
    """
    rows = []
    for p in metric_files:
        rec = {k: v for k, v in read_json(p).items() if not isinstance(v, (list, dict))}
        if "mode_collapse" not in rec and "msssim_generated" in rec and "msssim_real" in rec:
            # imported here, for older files only: ganaug.metrics imports torch, which the report jobs need not load
            from ganaug.metrics.msssim import DEFAULT_COLLAPSE_MARGIN, mode_collapse

            rec.setdefault("collapse_margin", DEFAULT_COLLAPSE_MARGIN)
            rec["mode_collapse"] = mode_collapse(rec["msssim_generated"], rec["msssim_real"], rec["collapse_margin"])
        rows.append(rec)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=GAN_COLUMNS)
    df["minority"] = df["class"] == minority_class
    cols = [c for c in GAN_COLUMNS if c in df.columns] + [c for c in df.columns if c not in GAN_COLUMNS]
    return df[cols].sort_values(["gan", "class"]).reset_index(drop=True)


def _markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt)


def write_table(
    df: pd.DataFrame, csv_path: PathLike, md_path: PathLike, title: str, note: str = "",
    md_columns: Sequence[str] | None = None,
) -> None:
    """Write ``df`` as CSV (every column) and Markdown (``md_columns`` that exist, or every column)."""
    save_dataframe(csv_path, df)
    shown = df if md_columns is None else df[[c for c in md_columns if c in df.columns]]
    text = f"# {title}\n\n" + (f"{note}\n\n" if note else "") + _markdown(shown) + "\n"
    write_text(md_path, text)


RUN_KEYS = ["baseline", "source", "strategy", "fraction", "n_real"]


def n_real_sort_key(value) -> float:
    """Numeric order of n_real labels: counts ascending, ``all`` last."""
    return math.inf if str(value) == "all" else float(value)


def _baseline_rank(name) -> int:
    from ganaug.config import CLASSIFIER_BASELINES

    return CLASSIFIER_BASELINES.index(name) if name in CLASSIFIER_BASELINES else len(CLASSIFIER_BASELINES)


def _sort_cells(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Sort by n_real, then real-only runs first, then source, strategy, fraction, baseline (+ ``extra``)."""
    keys = pd.DataFrame({
        "_n": df["n_real"].map(n_real_sort_key),
        "_gan": (df["source"] != "real").astype(int),
        "_b": df["baseline"].map(_baseline_rank),
    }, index=df.index)
    order = ["_n", "_gan", "source", "strategy", "fraction", "_b", *extra]
    return pd.concat([df, keys], axis=1).sort_values(order, kind="stable").drop(columns=list(keys)).reset_index(drop=True)


def classifier_runs_table(metric_files: Iterable[PathLike]) -> pd.DataFrame:
    """One row per classifier run (every scalar of its metrics.json).

    Records written before baselines / strategies / n_real existed get
    ``baseline = none``, ``strategy = replace`` (``none`` for source ``real``)
    and ``n_real = all``.  ``n_real`` is text (``all`` or a count).
    """
    rows = []
    for p in metric_files:
        rec = read_json(p)
        rows.append({k: v for k, v in rec.items() if not isinstance(v, (list, dict))})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for key in ("baseline", "strategy", "n_real"):
        if key not in df:
            df[key] = None
    df["baseline"] = df["baseline"].fillna("none")
    df["strategy"] = [
        ("none" if src == "real" else "replace") if pd.isna(s) else s for s, src in zip(df["strategy"], df["source"])
    ]
    df["n_real"] = df["n_real"].fillna("all").astype(str)
    df["fraction"] = df["fraction"].astype(float)
    front = RUN_KEYS + ["seed"]
    df = df[front + [c for c in df.columns if c not in front]]
    return _sort_cells(df, extra=["seed"])


def summary_metrics(minority_class: str | None) -> list[str]:
    metrics = ["auc", "balanced_accuracy", "accuracy", "sensitivity", "specificity"]
    if minority_class:
        metrics.append(f"recall_{minority_class}")
    return metrics


def summarise_runs(runs: pd.DataFrame, minority_class: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Per cell (baseline, source, strategy, fraction, n_real): ``n_seeds`` and, per metric,
    ``{m}_mean``, ``{m}_std`` (ddof 1) and the t CI ``{m}_ci_low`` / ``{m}_ci_high`` over seeds."""
    from ganaug.stats import mean_ci

    metrics = [m for m in summary_metrics(minority_class) if m in runs.columns]
    runs = runs.assign(n_real=runs["n_real"].astype(str))
    rows = []
    for key, group in runs.groupby(RUN_KEYS, sort=False):
        row = dict(zip(RUN_KEYS, key))
        row["n_seeds"] = int(len(group))
        for m in metrics:
            s = mean_ci(group[m].to_numpy(dtype=float), level)
            row.update({f"{m}_mean": s["mean"], f"{m}_std": s["std"], f"{m}_ci_low": s["ci_low"], f"{m}_ci_high": s["ci_high"]})
        rows.append(row)
    columns = RUN_KEYS + ["n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high")]
    return _sort_cells(pd.DataFrame(rows, columns=columns))


def paired_metrics(minority_class: str | None) -> list[str]:
    """The metrics compared against the best non-GAN baseline: AUC, balanced accuracy, minority recall."""
    return ["auc", "balanced_accuracy"] + ([f"recall_{minority_class}"] if minority_class else [])


PAIRED_COLUMNS = [
    "baseline", "source", "strategy", "fraction", "n_real", "reference", "metric", "n_pairs", "mean", "reference_mean",
    "diff_mean", "diff_std", "diff_ci_low", "diff_ci_high", "verdict",
]


def best_baselines(summary: pd.DataFrame) -> dict[str, str]:
    """``{n_real: baseline}``: the real-only (f = 0) baseline with the highest mean AUC at each n_real.

    Ties (and NaN AUCs) go to the baseline listed first in ``CLASSIFIER_BASELINES``.
    """
    real = summary[(summary["source"] == "real") & (summary["fraction"] == 0)]
    best = {}
    for n, group in real.groupby("n_real", sort=False):
        group = group.assign(_auc=group["auc_mean"].fillna(-math.inf), _b=group["baseline"].map(_baseline_rank))
        best[str(n)] = str(group.sort_values(["_auc", "_b"], ascending=[False, True]).iloc[0]["baseline"])
    return best


def paired_differences(runs: pd.DataFrame, minority_class: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Every cell against the best non-GAN baseline of its n_real, paired by seed.

    One row per cell × metric (:func:`paired_metrics`): the difference
    ``cell - reference`` per seed, its mean, std and t CI over the seeds both
    have, and ``verdict`` (better / worse / inconclusive: CI above / below /
    containing 0).  The reference (:func:`best_baselines`) is chosen by mean
    test AUC, so each comparison is against the strongest baseline in hindsight
    (conservative for the GAN cells).  Cells at an n_real without real-only runs
    are left out; the reference itself gets no row.
    """
    from ganaug.stats import paired_difference

    if runs.empty:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    metrics = [m for m in paired_metrics(minority_class) if m in runs.columns]
    runs = runs.assign(n_real=runs["n_real"].astype(str))
    best = best_baselines(summarise_runs(runs, minority_class, level))
    rows = []
    for key, group in runs.groupby(RUN_KEYS, sort=False):
        cell = dict(zip(RUN_KEYS, key))
        n = str(cell["n_real"])
        if n not in best:
            continue
        ref_key = (best[n], "real", "none", 0.0, n)
        if key == ref_key:
            continue
        ref = runs[
            (runs["baseline"] == best[n]) & (runs["source"] == "real") & (runs["fraction"] == 0) & (runs["n_real"] == n)
        ]
        for m in metrics:
            a = dict(zip(group["seed"].astype(int), group[m].astype(float)))
            b = dict(zip(ref["seed"].astype(int), ref[m].astype(float)))
            d = paired_difference(a, b, level)
            rows.append({
                **cell, "reference": best[n], "metric": m, "n_pairs": d["n_pairs"],
                "mean": float(group[m].mean()), "reference_mean": float(ref[m].mean()),
                **{k: d[k] for k in ("diff_mean", "diff_std", "diff_ci_low", "diff_ci_high", "verdict")},
            })
    df = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    if df.empty:
        return df
    df["_m"] = df["metric"].map(metrics.index)
    return _sort_cells(df, extra=["_m"]).drop(columns="_m")


def _pm(mean: float, std: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def _ci(low: float, high: float) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f" [{low:.3f}, {high:.3f}]"


def write_summary(
    summary: pd.DataFrame, csv_path: PathLike, md_path: PathLike, minority_class: str | None = None, level: float = 0.95
) -> None:
    save_dataframe(csv_path, summary)
    metrics = [m for m in summary_metrics(minority_class) if f"{m}_mean" in summary.columns]
    table = summary[RUN_KEYS + ["n_seeds"]].copy()
    for m in metrics:
        table[m] = [
            _pm(a, b) + _ci(lo, hi)
            for a, b, lo, hi in zip(summary[f"{m}_mean"], summary[f"{m}_std"], summary[f"{m}_ci_low"], summary[f"{m}_ci_high"])
        ]
    note = (
        f"Mean ± standard deviation over seeds [{100 * level:g} % t confidence interval] on the real test split. "
        "`baseline`: none / classic augmentation / class-balanced oversampling / class-weighted loss. "
        "`source` real = real images only (fraction 0, strategy none). `strategy` replace: the fraction of each class's "
        "training images replaced by synthetic ones (class proportions kept; 1 = synthetic only); balance: synthetic "
        "images added to the smaller classes, the fraction of each gap to the largest class (1 = balanced). "
        "`n_real`: real training images of the minority class (all = the whole experiment training set)."
    )
    write_text(md_path, f"# Classifier summary\n\n{note}\n\n{_markdown(table)}\n")


def write_paired(paired: pd.DataFrame, csv_path: PathLike, md_path: PathLike, level: float = 0.95) -> None:
    """``paired_differences.csv`` and a Markdown table with one verdict per cell × metric."""
    save_dataframe(csv_path, paired)
    table = paired[RUN_KEYS + ["reference", "metric", "n_pairs"]].copy()
    table["difference"] = [
        (f"{d:+.3f}" if math.isfinite(d) else "n/a") + _ci(lo, hi)
        for d, lo, hi in zip(paired["diff_mean"], paired["diff_ci_low"], paired["diff_ci_high"])
    ]
    table["verdict"] = paired["verdict"]
    counts = paired["verdict"].value_counts().reindex(["better", "worse", "inconclusive"], fill_value=0) if len(paired) else None
    tally = "" if counts is None else " Verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."
    note = (
        "Each cell minus the best non-GAN baseline (`reference`: the real-only run with the highest mean test AUC at "
        f"the same `n_real`), paired by seed: mean difference [{100 * level:g} % t confidence interval over the "
        "seeds]. `better` / `worse`: the interval lies above / below 0; `inconclusive`: it contains 0 (or fewer than "
        f"two seeds). The reference is picked on the test AUC itself, which favours it.{tally}"
    )
    write_text(md_path, f"# Paired differences against the best non-GAN baseline\n\n{note}\n\n{_markdown(table)}\n")


# ----------------------------------------------------------------------------- figures


def plot_sample_grid(samples_npz: PathLike, out: PathLike, title: str = "", per_class: int = 8, real_npz: PathLike | None = None) -> None:
    """A labelled figure of generated samples, one row per class.

    With ``real_npz`` (an npz with ``images``/``labels``), each class's generated row
    is preceded by a row of real training images of that class for comparison.
    """
    plt = _plt()
    data = load_npz(samples_npz, required=("images", "labels", "classes"))
    classes = [str(c) for c in data["classes"]]
    rows = []
    real = load_npz(real_npz, required=("images", "labels")) if real_npz else None
    for k, cls in enumerate(classes):
        if real is not None:
            rows.append((f"{cls}\nreal", real["images"][real["labels"] == k][:per_class]))
        rows.append((f"{cls}\ngenerated" if real is not None else cls, data["images"][data["labels"] == k][:per_class]))
    fig, axes = plt.subplots(len(rows), per_class, figsize=(per_class * 1.1, len(rows) * 1.2), squeeze=False)
    for (label, chosen), ax_row in zip(rows, axes):
        for j, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(chosen):
                img = chosen[j]
                gray = img.shape[2] == 1
                ax.imshow(img[:, :, 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=255)
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    save_figure(out, fig)


def plot_loss_curves(curves: Mapping[str, PathLike], out: PathLike, window: int = 25) -> None:
    """D and G losses of every GAN training job (raw, faint, and a rolling mean of up to ``window`` steps)."""
    plt = _plt()
    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], curves.items()):
        df = pd.read_csv(path)
        w = max(1, min(window, len(df) // 10))
        for col, colour in (("loss_d", "tab:red"), ("loss_g", "tab:blue")):
            if col in df.columns:
                ax.plot(df["step"], df[col], color=colour, alpha=0.2, linewidth=0.8)
                ax.plot(df["step"], df[col].rolling(w, min_periods=1).mean(), color=colour, label=col)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.legend(loc="upper right", fontsize=8)
    axes[0][0].set_ylabel("loss")
    fig.tight_layout()
    save_figure(out, fig)


#: the headline columns of gan_scores.md (the CSV has every metric)
GAN_MD_COLUMNS = [
    "gan", "class", "status", "minority", "selected_step", "fid", "fid_floor", "kid_mean", "precision", "recall",
    "nn1_accuracy", "msssim_generated", "msssim_real", "mode_collapse", "memo_near_copy_fraction",
    "domain_fid", "domain_fid_floor", "class_agreement", "classifier_score",
]  # fmt: skip


def plot_fid_curves(curves: Mapping[str, PathLike], out: PathLike) -> None:
    """FID per checkpoint of every GAN training job (one panel per job, one line per class)."""
    plt = _plt()
    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], curves.items()):
        df = pd.read_csv(path)
        for cls, part in df.groupby("class", sort=False):
            ax.plot(part["step"], part["fid"], marker="o", label=str(cls))
        ax.set_title(label)
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("FID (checkpoint, small N)")
    fig.tight_layout()
    save_figure(out, fig)


def plot_feature_projection(
    real: Mapping[str, np.ndarray], generated: Mapping[str, Mapping[str, np.ndarray]], out: PathLike
) -> None:
    """2-D PCA of Inception features, real vs synthetic: one panel per GAN, colours = classes.

    ``real``: class -> real training features (N, D); ``generated``: GAN ->
    class -> generated features. The projection is fitted on the real features
    only, so every panel shares one set of axes and synthetic points land where
    real images of that kind would be.
    """
    from sklearn.decomposition import PCA

    plt = _plt()
    classes = list(real)
    pca = PCA(n_components=2, random_state=0).fit(np.concatenate([real[c] for c in classes]))
    colours = plt.get_cmap("tab10")
    n = max(len(generated), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.0), squeeze=False)
    for ax, (gan, per_class) in zip(axes[0], generated.items()):
        for k, cls in enumerate(classes):
            r = pca.transform(real[cls])
            ax.scatter(r[:, 0], r[:, 1], s=10, alpha=0.45, color=colours(k), marker="o", label=f"real {cls}")
            if cls in per_class:
                g = pca.transform(per_class[cls])
                ax.scatter(g[:, 0], g[:, 1], s=14, alpha=0.8, color=colours(k), marker="x", label=f"{gan} {cls}")
        ax.set_title(gan)
        ax.set_xlabel(f"PC1 ({100 * pca.explained_variance_ratio_[0]:.0f} %)")
        ax.set_ylabel(f"PC2 ({100 * pca.explained_variance_ratio_[1]:.0f} %)")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Inception features: real (o) vs synthetic (x), PCA fitted on the real images")
    fig.tight_layout()
    save_figure(out, fig)


def gan_training_table(selections: Mapping[str, PathLike], classes: list[str]) -> pd.DataFrame:
    """One row per GAN x class: training status and the checkpoint ``generate`` used.

    ``selections``: GAN name -> its ``selection.json`` (written by ``generate``:
    per training job the selected step, the rule, the curve FID there and the
    job's status, 'ok' or 'diverged' with its message).
    """
    rows = []
    for gan, path in selections.items():
        for part, rec in read_json(path).items():
            for cls in (classes if part == "conditional" else [part]):
                rows.append({
                    "gan": gan, "class": cls, "status": rec["status"], "selected_step": rec["step"],
                    "select": rec["select"],
                    "status_message": rec.get("message", "") if rec["status"] != "ok" else "",
                })  # fmt: skip
    return pd.DataFrame(rows, columns=["gan", "class", "status", "selected_step", "select", "status_message"])


DOMAIN_COLUMNS = [
    "domain_fid", "domain_fid_floor", "class_agreement", "class_confidence", "domain_n_generated",
    "classifier_score", "classifier_score_real", "classifier_score_n_per_class", "domain_classifier_test_auc",
]  # fmt: skip


def domain_table(domain_files: Iterable[PathLike]) -> pd.DataFrame:
    """One row per GAN × class from the ``domain_metrics`` JSON files.

    The per-GAN entries (classifier score, its real reference, the domain
    classifier's test AUC) are repeated on each class row of the GAN.
    """
    rows = []
    for p in domain_files:
        rec = read_json(p)
        shared = {k: v for k, v in rec.items() if not isinstance(v, (list, dict)) and k != "gan"}
        for cls, per_class in rec["classes"].items():
            rows.append({"gan": rec["gan"], "class": cls, **per_class, **shared})
    df = pd.DataFrame(rows, columns=["gan", "class", *DOMAIN_COLUMNS] if not rows else None)
    return df[["gan", "class"] + [c for c in DOMAIN_COLUMNS if c in df.columns]]


def merge_domain(scores: pd.DataFrame, domain: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the domain-classifier columns of :func:`domain_table` appended."""
    if scores.empty or domain.empty:
        return scores
    return scores.merge(domain, on=["gan", "class"], how="left")


def merge_training_status(scores: pd.DataFrame, training: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the training columns of :func:`gan_training_table` after ``gan`` and ``class``."""
    if scores.empty:
        return scores
    merged = scores.merge(training, on=["gan", "class"], how="left")
    merged["status"] = merged["status"].fillna("unknown")
    front = ["gan", "class", "status"]
    return merged[front + [c for c in merged.columns if c not in front]]


def figure_metrics(summary: pd.DataFrame, minority_class: str | None, positive_class: str | None) -> list[tuple[str, str]]:
    """(metric, title) pairs for the metric-vs-fraction figure: AUC, balanced accuracy, minority recall, and the other class's recall."""
    chosen = [("auc", "test AUC"), ("balanced_accuracy", "balanced accuracy")]
    if minority_class and f"recall_{minority_class}_mean" in summary.columns:
        chosen.append((f"recall_{minority_class}", f"recall {minority_class} (minority)"))
    if positive_class and positive_class != minority_class:
        chosen.append(("sensitivity", f"sensitivity (recall {positive_class})"))
    elif "specificity_mean" in summary.columns:
        chosen.append(("specificity", "specificity"))
    return [(m, t) for m, t in chosen if f"{m}_mean" in summary.columns]


def _yerr(part: pd.DataFrame, m: str):
    """Asymmetric error bars from the CI columns, drawn within [0, 1] where every plotted metric lies
    (0 where a CI is undefined, e.g. one seed)."""
    mean = part[f"{m}_mean"].to_numpy(dtype=float)
    lo = mean - np.clip(part[f"{m}_ci_low"].to_numpy(dtype=float), 0.0, 1.0)
    hi = np.clip(part[f"{m}_ci_high"].to_numpy(dtype=float), 0.0, 1.0) - mean
    return [np.nan_to_num(lo), np.nan_to_num(hi)]


def _main_n_real(values) -> str:
    values = [str(v) for v in values]
    return "all" if "all" in values else max(values, key=n_real_sort_key)


def plot_metrics_vs_fraction(
    summary: pd.DataFrame,
    out: PathLike,
    minority_class: str | None = None,
    positive_class: str | None = None,
    level: float = 0.95,
) -> None:
    """Test metrics against the synthetic fraction (error bars: t CI over seeds).

    One line per baseline combined with synthetic images × GAN × strategy,
    starting at that baseline's real-only run (fraction 0); the other real-only
    baselines are dashed horizontal lines.  With several n_real values, the
    figure shows n_real = all (or the largest).
    """
    plt = _plt()
    metrics = figure_metrics(summary, minority_class, positive_class)
    fig, axes = plt.subplots(1, max(len(metrics), 1), figsize=(4.4 * max(len(metrics), 1), 3.6), squeeze=False)
    n_sel = _main_n_real(summary["n_real"].unique()) if len(summary) else "all"
    part_n = summary[summary["n_real"].astype(str) == n_sel]
    base = part_n[part_n["source"] == "real"]
    gan = part_n[part_n["source"] != "real"]
    lines = list(dict.fromkeys(zip(gan["baseline"], gan["source"], gan["strategy"])))
    line_baselines = {b for b, _, _ in lines}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (m, title) in zip(axes[0], metrics):
        for i, (b, src, strat) in enumerate(lines):
            part = pd.concat([
                base[base["baseline"] == b],
                gan[(gan["baseline"] == b) & (gan["source"] == src) & (gan["strategy"] == strat)],
            ]).sort_values("fraction")
            label = f"{src} {strat}" + ("" if b == "none" else f" + {b}")
            ax.errorbar(part["fraction"], part[f"{m}_mean"], yerr=_yerr(part, m), marker="o", capsize=3,
                        label=label, color=colours[i % len(colours)])
        for j, (_, row) in enumerate(base[~base["baseline"].isin(line_baselines)].iterrows()):
            style = dict(color="0.35", linestyle=["--", ":", "-."][j % 3], linewidth=1)
            ax.axhline(row[f"{m}_mean"], label=f"real only, {row['baseline']}", **style)
            if not lines:
                ax.errorbar([0.0], [row[f"{m}_mean"]], yerr=_yerr(row.to_frame().T, m), marker="o", capsize=3, color="0.35")
        ax.set_xlabel("synthetic fraction")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][0].legend(fontsize=7)
    n = int(summary["n_seeds"].max()) if len(summary) else 0
    fig.suptitle(
        f"mean and {100 * level:g} % t CI over {n} seeds; fraction 0 = real images only; n_real = {n_sel}", fontsize=9, y=1.02
    )
    fig.tight_layout()
    save_figure(out, fig)


def plot_delta_vs_n_real(paired: pd.DataFrame, out: PathLike, level: float = 0.95) -> None:
    """Paired difference to the best non-GAN baseline against n_real, one line per GAN cell (error bars: CI)."""
    plt = _plt()
    gan = paired[paired["source"] != "real"]
    metrics = list(dict.fromkeys(paired["metric"])) or ["auc"]
    n_values = sorted({str(v) for v in paired["n_real"]}, key=n_real_sort_key)
    pos = {n: i for i, n in enumerate(n_values)}
    cells = list(dict.fromkeys(zip(gan["baseline"], gan["source"], gan["strategy"], gan["fraction"])))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    width = 0.3
    for ax, m in zip(axes[0], metrics):
        for i, (b, src, strat, f) in enumerate(cells):
            part = gan[(gan["metric"] == m) & (gan["baseline"] == b) & (gan["source"] == src)
                       & (gan["strategy"] == strat) & (gan["fraction"] == f)]
            part = part.assign(_x=part["n_real"].astype(str).map(pos)).sort_values("_x")
            offset = (i - (len(cells) - 1) / 2) * width / max(len(cells), 1)
            d = part["diff_mean"].to_numpy(dtype=float)
            yerr = [np.nan_to_num(d - part["diff_ci_low"].to_numpy(dtype=float)),
                    np.nan_to_num(part["diff_ci_high"].to_numpy(dtype=float) - d)]
            label = f"{src} {strat} f={f:g}" + ("" if b == "none" else f" + {b}")
            ax.errorbar(part["_x"] + offset, d, yerr=yerr, marker="o", capsize=3, label=label)
        ax.axhline(0.0, color="0.3", linewidth=1)
        ax.set_xticks(range(len(n_values)), labels=n_values)
        ax.set_xlabel("n_real (real minority-class training images)")
        ax.set_title("Δ " + {"auc": "test AUC"}.get(m, m.replace("_", " ")))
        ax.grid(alpha=0.3)
    if cells:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"GAN cell minus best non-GAN baseline at the same n_real, paired by seed ({100 * level:g} % t CI)", fontsize=9, y=1.02
    )
    fig.tight_layout()
    save_figure(out, fig)
