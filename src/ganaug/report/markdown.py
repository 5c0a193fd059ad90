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
from ganaug.report.tables import RUN_KEYS


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


#: the summary columns shown in classifier_summary.md (the CSV has every metric); {min} / {pos}: class names
SUMMARY_MD_METRICS = (
    "auc", "ap_{min}", "balanced_accuracy", "sensitivity", "specificity", "recall_{min}",
    "balanced_accuracy_argmax", "recall_{min}_argmax",
)  # fmt: skip


def _interval(mean, std, low, high, n: int, min_seeds: int) -> str:
    if n < min_seeds and math.isfinite(float(mean)):
        return _pm(mean, std) + f" ({n} seed{'s' if n != 1 else ''}: no interval)"
    return _pm(mean, std) + _ci(low, high)


def write_summary(
    summary: pd.DataFrame,
    csv_path: PathLike,
    md_path: PathLike,
    minority_class: str | None = None,
    level: float = 0.95,
    *,
    min_seeds: int = 2,
    threshold: str | None = None,
) -> None:
    """``classifier_summary.csv`` (every metric) and a Markdown table of the headline metrics."""
    save_dataframe(csv_path, summary)
    shown = [m.format(min=minority_class) for m in SUMMARY_MD_METRICS if minority_class or "{min}" not in m]
    metrics = [m for m in shown if f"{m}_mean" in summary.columns]
    table = summary[RUN_KEYS + ["n_seeds"]].copy()
    if "generator_quality" in summary.columns and summary["generator_quality"].fillna("").astype(bool).any():
        table["generator"] = summary["generator_quality"].fillna("")  # usable / weak / failed (see gan_scores)
    for m in metrics:
        table[m] = [
            _interval(a, b, lo, hi, int(n), min_seeds)
            for a, b, lo, hi, n in zip(
                summary[f"{m}_mean"], summary[f"{m}_std"], summary[f"{m}_ci_low"], summary[f"{m}_ci_high"],
                summary["n_seeds"],
            )
        ]  # fmt: skip
    point = (
        f"Threshold metrics (balanced accuracy, sensitivity, specificity, recall) are read at the decision "
        f"threshold chosen on each run's real validation split (`{threshold}`); `*_argmax` columns at argmax, "
        "which on a classifier trained on imbalanced data mostly measures the class prior. `ap_*`: average "
        "precision (area under the precision-recall curve) of that class. "
        if threshold
        else ""
    )
    note = (
        f"Mean ± standard deviation over seeds [{100 * level:g} % t confidence interval, clipped to [0, 1]] on "
        f"the real test split; cells with fewer than {min_seeds} seeds get no interval. {point}"
        "`baseline`: none / classic augmentation / class-balanced oversampling / class-weighted loss. "
        "`source` real = real images only (fraction 0, strategy none). `strategy` replace: the fraction of each class's "
        "training images replaced by synthetic ones (class proportions kept; 1 = synthetic only); balance: synthetic "
        "images added to the smaller classes, the fraction of each gap to the largest class (1 = balanced). "
        "`n_real`: real training images of the minority class (all = the whole experiment training set). "
        "classifier_summary.csv has every metric."
    )
    write_text(md_path, f"# Classifier summary\n\n{note}\n\n{_markdown(table)}\n")


def _detectable_cell(mdd, n_units, sd) -> str:
    """The Markdown form of a detectable difference: NaN where one was computable is "not detectable"."""
    if math.isfinite(float(mdd)):
        return "> 1" if mdd > 1 else f"{mdd:.3f}"
    return "not detectable" if float(n_units) >= 2 and math.isfinite(float(sd)) else "n/a"


def write_paired(
    paired: pd.DataFrame,
    csv_path: PathLike,
    md_path: PathLike,
    level: float = 0.95,
    *,
    alpha: float = 0.05,
    correction: str = "holm",
    power: float = 0.8,
    detect: float = 0.01,
    equivalence_margin: float = 0.02,
) -> None:
    """``paired_differences.csv`` and a Markdown table with one verdict per cell × metric, the primary row first."""
    if "role" in paired.columns:  # the primary comparison first (paired_differences already orders it so)
        paired = paired.iloc[pd.Series(paired["role"] != "primary").argsort(kind="stable")].reset_index(drop=True)
    save_dataframe(csv_path, paired)
    units = "replicates" if "replicates" in paired.columns else "n_pairs"
    front = (["role"] if "role" in paired.columns else []) + RUN_KEYS + ["reference", "metric", "n_pairs"]
    table = paired[front + ([units] if units != "n_pairs" else [])].copy()
    table["difference"] = [
        (f"{d:+.3f}" if math.isfinite(d) else "n/a") + _ci(lo, hi)
        for d, lo, hi in zip(paired["diff_mean"], paired["diff_ci_low"], paired["diff_ci_high"])
    ]
    if "p_adjusted" in paired.columns:
        table["p"] = [_p(v) for v in paired["p_value"]]
        table[f"p ({correction})"] = [_p(v) for v in paired["p_adjusted"]]
    if "p_tost" in paired.columns:
        table[f"p TOST ±{equivalence_margin:g}"] = [_p(v) for v in paired["p_tost"]]
        table[f"p TOST ({correction})"] = [_p(v) for v in paired["p_tost_adjusted"]]
    table["verdict"] = paired["verdict"]
    if "min_detectable_difference" in paired.columns:
        table["detectable"] = [
            _detectable_cell(v, n, sd)
            for v, n, sd in zip(paired["min_detectable_difference"], paired[units], paired["diff_std"])
        ]
        table[f"{'replicates' if units == 'replicates' else 'seeds'} for {detect:g}"] = [
            "n/a" if pd.isna(v) else str(int(v)) for v in paired["seeds_needed"]
        ]  # fmt: skip
    if "variance_sources" in paired.columns:
        table["variance"] = paired["variance_sources"]
    if "generator_quality" in paired.columns and paired["generator_quality"].fillna("").astype(bool).any():
        table["generator"] = paired["generator_quality"].fillna("")
    counts = (
        paired["verdict"].value_counts().reindex(["better", "worse", "equivalent", "inconclusive"], fill_value=0)
        if len(paired)
        else None
    )
    tally = "" if counts is None else " Verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."
    corrected = (
        f"adjusted by {correction.capitalize()} within the secondary comparisons of each metric (one family per metric)"
        if correction != "none"
        else "not adjusted for multiple comparisons"
    )
    note = (
        "Each cell minus the declared reference (`reference`: config `statistics.reference`, its real-only run at "
        "the same `n_real`; nothing is chosen on results), paired by seed; the per-seed differences are averaged "
        f"within each generator replicate and the mean difference [{100 * level:g} % t confidence interval] is over "
        "the `replicates` (one replicate: over the seeds; `variance`: the sources of variation the interval "
        f"holds). `role` primary: the one declared question (AUC), tested at α = {alpha:g} unadjusted; `secondary`: "
        f"every other comparison, its p-values {corrected}. `p`: paired t test; `p TOST`: two one-sided tests of "
        f"equivalence within ±{equivalence_margin:g}. `better` / `worse`: (adjusted) p < {alpha:g} and the difference "
        f"above / below 0; `equivalent`: else (adjusted) p TOST < {alpha:g}; `inconclusive` otherwise. `detectable`: "
        f"the smallest true difference this comparison finds with {100 * power:g} % power at its level (α for the "
        f"primary, {'α / family size' if correction != 'none' else 'α'} for secondaries), from its replicates and "
        "their standard deviation; `not detectable` where that exceeds what the metric can still rise above the "
        f"reference; `replicates for {detect:g}`: the units that would detect a difference of {detect:g}. "
        f"`generator`: the generator-quality verdict of the GAN behind the cell (gan_scores.md).{tally}"
    )
    write_text(md_path, f"# Paired differences against the declared reference\n\n{note}\n\n{_markdown(table)}\n")


def _p(value) -> str:
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    return "<0.001" if v < 0.001 else f"{v:.3f}"
