"""The tables of ``results/report/``, built from the per-job JSON files.

* GAN side (rule gan_report): :func:`gan_scores_table` (one row per GAN × class from
  the gan_metrics JSON files), :func:`gan_training_table` (training status and the
  checkpoint used), :func:`domain_table` (domain-classifier scores) and the merges
  that join them into ``gan_scores.csv``.
* Classifier side (rule classifier_report): :func:`classifier_runs_table` (one row
  per run), :func:`summarise_runs` (mean, std and t CI per cell over seeds) and
  :func:`paired_differences` (each cell against the best non-GAN baseline).

The CSV / Markdown files are written by :mod:`ganaug.report.markdown`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from ganaug.io import PathLike, read_json

# ----------------------------------------------------------------------------- GAN tables


GAN_COLUMNS = [
    "gan",
    "model",
    "mode",
    "class",
    "minority",
    "fid",
    "fid_n_generated",
    "fid_n_real",
    "fid_floor",
    "fid_floor_n_test",
    "msssim_generated",
    "msssim_real",
    "msssim_pairs",
    "mode_collapse",
    "collapse_margin",
    "kid_mean",
    "kid_std",
    "precision",
    "recall",
    "nn1_accuracy",
    "nn1_real_accuracy",
    "nn1_fake_accuracy",
    "memo_near_copy_fraction",
    "memo_near_copy_threshold",
    "memo_pixel_nn_median",
    "memo_feature_nn_median",
    "fullref_psnr_mean",
    "fullref_ssim_mean",
    "fullref_ms_gmsd_mean",
    "fullref_mdsi_mean",
    "fullref_haarpsi_mean",
]


#: the headline columns of gan_scores.md (the CSV has every metric)
GAN_MD_COLUMNS = [
    "gan", "class", "status", "minority", "selected_step", "fid", "fid_floor", "kid_mean", "precision", "recall",
    "nn1_accuracy", "msssim_generated", "msssim_real", "mode_collapse", "memo_near_copy_fraction",
    "domain_fid", "domain_fid_floor", "class_agreement", "classifier_score",
]  # fmt: skip


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


def gan_training_table(selections: Mapping[str, PathLike], classes: list[str]) -> pd.DataFrame:
    """One row per GAN x class: training status and the checkpoint ``generate`` used.

    ``selections``: GAN name -> its ``selection.json`` (written by ``generate``:
    per training job the selected step, the rule, the curve FID there and the
    job's status, 'ok' or 'diverged' with its message).
    """
    rows = []
    for gan, path in selections.items():
        for part, rec in read_json(path).items():
            for cls in classes if part == "conditional" else [part]:
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


# ----------------------------------------------------------------------------- classifier tables


RUN_KEYS = ["baseline", "source", "strategy", "fraction", "n_real"]


def n_real_sort_key(value) -> float:
    """Numeric order of n_real labels: counts ascending, ``all`` last."""
    return math.inf if str(value) == "all" else float(value)


def _baseline_rank(name) -> int:
    from ganaug.names import CLASSIFIER_BASELINES

    return CLASSIFIER_BASELINES.index(name) if name in CLASSIFIER_BASELINES else len(CLASSIFIER_BASELINES)


def _sort_cells(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Sort by n_real, then real-only runs first, then source, strategy, fraction, baseline (+ ``extra``)."""
    keys = pd.DataFrame(
        {
            "_n": df["n_real"].map(n_real_sort_key),
            "_gan": (df["source"] != "real").astype(int),
            "_b": df["baseline"].map(_baseline_rank),
        },
        index=df.index,
    )
    order = ["_n", "_gan", "source", "strategy", "fraction", "_b", *extra]
    return (
        pd.concat([df, keys], axis=1).sort_values(order, kind="stable").drop(columns=list(keys)).reset_index(drop=True)
    )


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
            row.update(
                {f"{m}_mean": s["mean"], f"{m}_std": s["std"], f"{m}_ci_low": s["ci_low"], f"{m}_ci_high": s["ci_high"]}
            )
        rows.append(row)
    columns = RUN_KEYS + ["n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high")]
    return _sort_cells(pd.DataFrame(rows, columns=columns))


def paired_metrics(minority_class: str | None) -> list[str]:
    """The metrics compared against the best non-GAN baseline: AUC, balanced accuracy, minority recall."""
    return ["auc", "balanced_accuracy"] + ([f"recall_{minority_class}"] if minority_class else [])


PAIRED_COLUMNS = [
    "baseline",
    "source",
    "strategy",
    "fraction",
    "n_real",
    "reference",
    "metric",
    "n_pairs",
    "mean",
    "reference_mean",
    "diff_mean",
    "diff_std",
    "diff_ci_low",
    "diff_ci_high",
    "verdict",
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
            rows.append(
                {
                    **cell,
                    "reference": best[n],
                    "metric": m,
                    "n_pairs": d["n_pairs"],
                    "mean": float(group[m].mean()),
                    "reference_mean": float(ref[m].mean()),
                    **{k: d[k] for k in ("diff_mean", "diff_std", "diff_ci_low", "diff_ci_high", "verdict")},
                }
            )
    df = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    if df.empty:
        return df
    df["_m"] = df["metric"].map(metrics.index)
    return _sort_cells(df, extra=["_m"]).drop(columns="_m")
