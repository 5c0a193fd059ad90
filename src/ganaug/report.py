"""Aggregation of per-job results into the tables and figures of ``results/report/``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from ganaug.io import PathLike, load_npz, read_json, save_dataframe, save_figure, write_text

GAN_COLUMNS = [
    "gan", "model", "mode", "class", "minority", "fid", "fid_n_generated", "fid_n_real", "fid_floor", "fid_floor_n_test",
    "msssim_generated", "msssim_real", "msssim_pairs",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------- tables


def gan_scores_table(metric_files: Iterable[PathLike], minority_class: str | None = None) -> pd.DataFrame:
    """One row per GAN × class from the ``gan_metrics`` JSON files."""
    rows = [read_json(p) for p in metric_files]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=GAN_COLUMNS)
    df["minority"] = df["class"] == minority_class
    cols = [c for c in GAN_COLUMNS if c in df.columns] + [c for c in df.columns if c not in GAN_COLUMNS]
    return df[cols].sort_values(["gan", "class"]).reset_index(drop=True)


def _markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt)


def write_table(df: pd.DataFrame, csv_path: PathLike, md_path: PathLike, title: str, note: str = "") -> None:
    save_dataframe(csv_path, df)
    text = f"# {title}\n\n" + (f"{note}\n\n" if note else "") + _markdown(df) + "\n"
    write_text(md_path, text)


def classifier_runs_table(metric_files: Iterable[PathLike]) -> pd.DataFrame:
    """One row per classifier run (every scalar of its metrics.json)."""
    rows = []
    for p in metric_files:
        rec = read_json(p)
        rows.append({k: v for k, v in rec.items() if not isinstance(v, (list, dict))})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.sort_values(["fraction", "source", "seed"]).reset_index(drop=True)


def summary_metrics(minority_class: str | None) -> list[str]:
    metrics = ["auc", "balanced_accuracy", "accuracy", "sensitivity", "specificity"]
    if minority_class:
        metrics.append(f"recall_{minority_class}")
    return metrics


def summarise_runs(runs: pd.DataFrame, minority_class: str | None = None) -> pd.DataFrame:
    """Mean, std and count over seeds per (source, fraction)."""
    metrics = [m for m in summary_metrics(minority_class) if m in runs.columns]
    grouped = runs.groupby(["source", "fraction"], sort=True)
    out = grouped.size().rename("n_seeds").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = grouped[m].mean()
        out[f"{m}_std"] = grouped[m].std(ddof=1)
    out = out.reset_index()
    # real-only baseline first, then each GAN by fraction
    out["_order"] = (out["source"] != "real").astype(int)
    return out.sort_values(["_order", "source", "fraction"]).drop(columns="_order").reset_index(drop=True)


def _pm(mean: float, std: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def write_summary(summary: pd.DataFrame, csv_path: PathLike, md_path: PathLike, minority_class: str | None = None) -> None:
    save_dataframe(csv_path, summary)
    metrics = [m for m in summary_metrics(minority_class) if f"{m}_mean" in summary.columns]
    table = summary[["source", "fraction", "n_seeds"]].copy()
    for m in metrics:
        table[m] = [_pm(a, b) for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_std"])]
    note = (
        "Mean ± standard deviation over seeds on the real test split. `fraction` is the share of the "
        "training set replaced by synthetic images (class proportions kept); 0 = real only, 1 = synthetic only."
    )
    write_text(md_path, f"# Classifier summary\n\n{note}\n\n{_markdown(table)}\n")


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


def plot_metrics_vs_fraction(summary: pd.DataFrame, out: PathLike, minority_class: str | None = None, positive_class: str | None = None) -> None:
    """Test metrics against the synthetic fraction, one line per GAN (error bars: std over seeds).

    The real-only runs (fraction 0) are each GAN line's starting point.
    """
    plt = _plt()
    metrics = figure_metrics(summary, minority_class, positive_class)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    base = summary[summary["source"] == "real"]
    gans = [s for s in summary["source"].unique() if s != "real"]
    for ax, (m, title) in zip(axes[0], metrics):
        for gan in gans:
            part = pd.concat([base, summary[summary["source"] == gan]]).sort_values("fraction")
            ax.errorbar(part["fraction"], part[f"{m}_mean"], yerr=part[f"{m}_std"].fillna(0), marker="o", capsize=3, label=gan)
        if not gans and not base.empty:
            ax.errorbar(base["fraction"], base[f"{m}_mean"], yerr=base[f"{m}_std"].fillna(0), marker="o", capsize=3, label="real")
        ax.set_xlabel("synthetic fraction of training set")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, title="GAN")
    n = int(summary["n_seeds"].max()) if len(summary) else 0
    fig.suptitle(f"mean ± std over {n} seeds; fraction 0 = real images only", fontsize=9, y=1.02)
    fig.tight_layout()
    save_figure(out, fig)
