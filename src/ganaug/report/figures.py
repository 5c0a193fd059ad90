"""The aggregate figures of ``results/report/figures/`` (rules gan_report, feature_projection, classifier_report).

Figures drawn once per job live beside what they show, in the package that
computes it, so that per-job code never imports the report layer (which
aggregates what the jobs wrote and may import their packages, never the other
way round):

* :func:`ganaug.gan.selection.plot_fid_curve` - one training job's FID per checkpoint (rule fid_curve);
* :func:`ganaug.metrics.memorisation.plot_nearest_pairs` - one GAN × class's nearest
  generated / training pairs (rule gan_metrics);
* :func:`ganaug.classifier.evaluate.plot_confusion` - one classifier run's confusion
  matrix (rule train_classifier).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ganaug.io import PathLike, load_npz, save_figure
from ganaug.report.tables import main_n_real, n_real_sort_key


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------- GAN figures


def plot_sample_grid(
    samples_npz: PathLike, out: PathLike, title: str = "", per_class: int = 8, real_npz: PathLike | None = None
) -> None:
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
        if not np.any(data["labels"] == k):  # a class the cell does not generate (per_class ``classes``)
            continue
        if real is not None:
            rows.append((f"{cls}\nreal", real["images"][real["labels"] == k][:per_class]))
        rows.append((f"{cls}\ngenerated" if real is not None else cls, data["images"][data["labels"] == k][:per_class]))
    height = len(rows) * 1.2
    fig, axes = plt.subplots(len(rows), per_class, figsize=(per_class * 1.1, height), squeeze=False)
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
    if title:  # the title 0.45 in above the first row at any height (matplotlib's default top is 12 % of it)
        fig.subplots_adjust(top=1 - 0.45 / height)
        fig.suptitle(title, y=1 - 0.1 / height, va="top")
    save_figure(out, fig)


def plot_loss_curves(curves: Mapping[str, PathLike], out: PathLike, window: int = 25) -> None:
    """D and G losses of every GAN training job, a diffusion model's one loss (raw, faint, and a rolling mean of
    up to ``window`` steps)."""
    plt = _plt()
    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], curves.items()):
        df = pd.read_csv(path)
        w = max(1, min(window, len(df) // 10))
        for col, colour in (("loss_d", "tab:red"), ("loss_g", "tab:blue"), ("loss", "tab:green")):
            if col in df.columns:
                ax.plot(df["step"], df[col], color=colour, alpha=0.2, linewidth=0.8)
                ax.plot(df["step"], df[col].rolling(w, min_periods=1).mean(), color=colour, label=col)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.legend(loc="upper right", fontsize=8)
    axes[0][0].set_ylabel("loss")
    fig.tight_layout()
    save_figure(out, fig)


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


# ----------------------------------------------------------------------------- classifier figures


def figure_metrics(
    summary: pd.DataFrame, minority_class: str | None, positive_class: str | None
) -> list[tuple[str, str]]:
    """(metric, title) pairs for the metric-vs-fraction figure: AUC, the minority class's average precision,
    balanced accuracy, minority recall, and the other class's recall (threshold metrics at the operating point
    chosen on validation, when the summary has one)."""
    at = " (val. threshold)" if "threshold_mean" in summary.columns else ""
    chosen = [("auc", "test AUC")]
    if minority_class:
        chosen.append((f"ap_{minority_class}", f"average precision {minority_class}"))
    chosen.append(("balanced_accuracy", f"balanced accuracy{at}"))
    if minority_class and f"recall_{minority_class}_mean" in summary.columns:
        chosen.append((f"recall_{minority_class}", f"recall {minority_class} (minority){at}"))
    if positive_class and positive_class != minority_class:
        chosen.append(("sensitivity", f"sensitivity (recall {positive_class}){at}"))
    elif "specificity_mean" in summary.columns:
        chosen.append(("specificity", f"specificity{at}"))
    return [(m, t) for m, t in chosen if f"{m}_mean" in summary.columns]


def _yerr(part: pd.DataFrame, m: str):
    """Asymmetric error bars from the CI columns, drawn within [0, 1] where every plotted metric lies
    (0 where a CI is undefined, e.g. one seed)."""
    mean = part[f"{m}_mean"].to_numpy(dtype=float)
    lo = mean - np.clip(part[f"{m}_ci_low"].to_numpy(dtype=float), 0.0, 1.0)
    hi = np.clip(part[f"{m}_ci_high"].to_numpy(dtype=float), 0.0, 1.0) - mean
    return [np.nan_to_num(lo), np.nan_to_num(hi)]


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
    n_sel = main_n_real(summary["n_real"].unique()) if len(summary) else "all"
    part_n = summary[summary["n_real"].astype(str) == n_sel]
    base = part_n[part_n["source"] == "real"]
    gan = part_n[part_n["source"] != "real"]
    lines = list(dict.fromkeys(zip(gan["baseline"], gan["source"], gan["strategy"])))
    line_baselines = {b for b, _, _ in lines}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (m, title) in zip(axes[0], metrics):
        for i, (b, src, strat) in enumerate(lines):
            part = pd.concat(
                [
                    base[base["baseline"] == b],
                    gan[(gan["baseline"] == b) & (gan["source"] == src) & (gan["strategy"] == strat)],
                ]
            ).sort_values("fraction")
            label = f"{src} {strat}" + ("" if b == "none" else f" + {b}")
            ax.errorbar(
                part["fraction"],
                part[f"{m}_mean"],
                yerr=_yerr(part, m),
                marker="o",
                capsize=3,
                label=label,
                color=colours[i % len(colours)],
            )
        for j, (_, row) in enumerate(base[~base["baseline"].isin(line_baselines)].iterrows()):
            style = dict(color="0.35", linestyle=["--", ":", "-."][j % 3], linewidth=1)
            ax.axhline(row[f"{m}_mean"], label=f"real only, {row['baseline']}", **style)
            if not lines:
                ax.errorbar(
                    [0.0], [row[f"{m}_mean"]], yerr=_yerr(row.to_frame().T, m), marker="o", capsize=3, color="0.35"
                )
        ax.set_xlabel("synthetic fraction")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][0].legend(fontsize=7)
    n = int(summary["n_seeds"].max()) if len(summary) else 0
    fig.suptitle(
        f"mean and {100 * level:g} % t CI over {n} seeds; fraction 0 = real images only; n_real = {n_sel}",
        fontsize=9,
        y=1.02,
    )
    fig.tight_layout()
    save_figure(out, fig)


def plot_delta_vs_n_real(paired: pd.DataFrame, out: PathLike, level: float = 0.95) -> None:
    """Paired difference to the declared reference against n_real, one line per GAN cell (error bars: CI)."""
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
            part = gan[
                (gan["metric"] == m)
                & (gan["baseline"] == b)
                & (gan["source"] == src)
                & (gan["strategy"] == strat)
                & (gan["fraction"] == f)
            ]
            part = part.assign(_x=part["n_real"].astype(str).map(pos)).sort_values("_x")
            offset = (i - (len(cells) - 1) / 2) * width / max(len(cells), 1)
            d = part["diff_mean"].to_numpy(dtype=float)
            yerr = [
                np.nan_to_num(d - part["diff_ci_low"].to_numpy(dtype=float)),
                np.nan_to_num(part["diff_ci_high"].to_numpy(dtype=float) - d),
            ]
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
        f"GAN cell minus the declared reference at the same n_real, over replicates ({100 * level:g} % t CI)",
        fontsize=9,
        y=1.02,
    )
    fig.tight_layout()
    save_figure(out, fig)
