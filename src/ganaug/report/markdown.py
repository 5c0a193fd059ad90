"""CSV and Markdown files of the report tables (``results/report/*.csv`` and ``*.md``).

Each writer saves the full table as CSV and a readable Markdown version (headline
columns, mean ± std [CI] strings, a note on how to read it); the tables themselves
come from :mod:`ganaug.report.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from ganaug.io import PathLike, save_dataframe, write_text
from ganaug.report.tables import RUN_KEYS, summary_metrics


def _markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt)


def write_table(
    df: pd.DataFrame,
    csv_path: PathLike,
    md_path: PathLike,
    title: str,
    note: str = "",
    md_columns: Sequence[str] | None = None,
) -> None:
    """Write ``df`` as CSV (every column) and Markdown (``md_columns`` that exist, or every column)."""
    save_dataframe(csv_path, df)
    shown = df if md_columns is None else df[[c for c in md_columns if c in df.columns]]
    text = f"# {title}\n\n" + (f"{note}\n\n" if note else "") + _markdown(shown) + "\n"
    write_text(md_path, text)


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
            for a, b, lo, hi in zip(
                summary[f"{m}_mean"], summary[f"{m}_std"], summary[f"{m}_ci_low"], summary[f"{m}_ci_high"]
            )
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
    counts = (
        paired["verdict"].value_counts().reindex(["better", "worse", "inconclusive"], fill_value=0)
        if len(paired)
        else None
    )
    tally = "" if counts is None else " Verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."
    note = (
        "Each cell minus the best non-GAN baseline (`reference`: the real-only run with the highest mean test AUC at "
        f"the same `n_real`), paired by seed: mean difference [{100 * level:g} % t confidence interval over the "
        "seeds]. `better` / `worse`: the interval lies above / below 0; `inconclusive`: it contains 0 (or fewer than "
        f"two seeds). The reference is picked on the test AUC itself, which favours it.{tally}"
    )
    write_text(md_path, f"# Paired differences against the best non-GAN baseline\n\n{note}\n\n{_markdown(table)}\n")
