"""The tables of ``results/report/``, built from the per-job JSON files.

* GAN side (rule gan_report): :func:`gan_scores_table` (one row per GAN × class from
  the gan_metrics JSON files), :func:`gan_training_table` (training status and the
  checkpoint used), :func:`domain_table` (domain-classifier scores) and the merges
  that join them into ``gan_scores.csv``.
* Classifier side (rule classifier_report): :func:`classifier_runs_table` (one row
  per run), :func:`summarise_runs` (mean, std and t CI per cell over seeds) and
  :func:`paired_differences` (each cell against the declared reference baseline, the primary
  comparison and the secondary family of each metric).

The CSV / Markdown files are written by :mod:`ganaug.report.markdown`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ganaug.io import PathLike, read_json

# ----------------------------------------------------------------------------- GAN tables


#: the keys of a row of the GAN tables
GAN_KEYS = ["gan", "replicate", "class"]

GAN_COLUMNS = [
    "gan",
    "replicate",
    "model",
    "mode",
    "class",
    "minority",
    "fid",
    "fid_std",
    "fid_n",
    "fid_draws",
    "fid_floor",
    "fid_floor_std",
    "fid_floor_n",
    "fid_floor_draws",
    "fid_inf",
    "fid_inf_floor",
    "fid_inf_n_min",
    "fid_inf_n_max",
    "fid_inf_points",
    "fid_full",
    "fid_floor_full",
    "fid_n_generated",
    "fid_n_real",
    "fid_floor_n_test",
    "msssim_generated",
    "msssim_real",
    "msssim_pairs",
    "mode_collapse",
    "collapse_margin",
    "kid_mean",
    "kid_std",
    "kid_floor",
    "kid_floor_std",
    "kid_subset_size",
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
    "gan", "replicate", "class", "status", "quality", "minority", "selected_step", "fid_n", "fid", "fid_floor", "fid_ratio",
    "fid_inf", "fid_inf_floor", "kid_mean", "kid_floor", "precision", "recall", "nn1_accuracy", "msssim_generated", "msssim_real", "mode_collapse",
    "memo_near_copy_fraction", "domain_fid", "domain_fid_floor", "class_agreement", "classifier_score",
]  # fmt: skip


def gan_scores_table(metric_files: Iterable[PathLike], minority_class: str | None = None) -> pd.DataFrame:
    """One row per GAN × generator replicate × class from the ``gan_metrics`` JSON files (their scalar
    entries; files written before replicates existed are replicate 0).

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
    df["replicate"] = _replicates(df)
    cols = [c for c in GAN_COLUMNS if c in df.columns] + [c for c in df.columns if c not in GAN_COLUMNS]
    return df[cols].sort_values(GAN_KEYS).reset_index(drop=True)


def _replicates(df: pd.DataFrame) -> pd.Series:
    """The ``replicate`` column as integers, 0 where a record has none (written before replicates)."""
    if "replicate" not in df.columns:
        return pd.Series(0, index=df.index, dtype=int)
    return df["replicate"].fillna(0).astype(int)


def quality_verdict(fid_ratio: float, precision: float, recall: float, thresholds: Mapping[str, float]) -> str:
    """``usable`` / ``weak`` / ``failed`` for one GAN × class (thresholds: config ``metrics.quality``).

    failed: ``fid_ratio`` (FID over the real floor) above ``failed_fid_ratio``, or
    precision or recall below ``failed_precision`` / ``failed_recall`` (the
    images miss the class); usable: the ratio at most ``usable_fid_ratio`` and
    precision and recall at least ``usable_precision`` / ``usable_recall``;
    weak otherwise. A missing value counts as failed.
    """
    t = thresholds
    values = (float(fid_ratio), float(precision), float(recall))
    if not all(math.isfinite(v) for v in values):
        return "failed"
    ratio, prec, rec = values
    if ratio > t["failed_fid_ratio"] or prec < t["failed_precision"] or rec < t["failed_recall"]:
        return "failed"
    if ratio <= t["usable_fid_ratio"] and prec >= t["usable_precision"] and rec >= t["usable_recall"]:
        return "usable"
    return "weak"


def source_quality(source: str, quality: Mapping, n_real: str | None = None) -> str:
    """The :func:`generator_quality` of a classifier cell's synthetic-image source ('' for real-only cells):
    ``quality[(source, n_real)]`` where the cell's images come from a low-data copy (``train_on: n_real``:
    :func:`with_low_data`), else ``quality[source]``."""
    if source == "real":
        return ""
    return quality.get((source, str(n_real)), quality.get(source, ""))


def with_low_data(quality: Mapping[str, str], low_data: Mapping[str, Mapping[str, str]]) -> dict:
    """``quality`` (GAN -> verdict) with ``(source, n_real)`` keys for the low-data copies: ``low_data`` maps a
    ``train_on: n_real`` cell to ``{n_real: its copy}`` (e.g. ``{"dcgan": {"25": "dcgan_n25"}}``)."""
    out: dict = dict(quality)
    for source, by_n in (low_data or {}).items():
        for n, gan in by_n.items():
            out[(str(source), str(n))] = quality.get(gan, "")
    return out


def add_quality(scores: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """``scores`` with ``fid_ratio`` (FID / real floor, both at the matched N ``fid_n``), ``fid_inf_ratio``
    (FID-infinity over its floor, where both are in the table) and the :func:`quality_verdict` column
    ``quality`` (from ``fid_ratio``); a GAN whose training diverged is ``failed`` whatever its scores."""
    if scores.empty:
        return scores.assign(fid_ratio=pd.Series(dtype=float), quality=pd.Series(dtype=str))
    ratio = scores["fid"].astype(float) / scores["fid_floor"].astype(float)
    quality = [quality_verdict(r, p, c, thresholds) for r, p, c in zip(ratio, scores["precision"], scores["recall"])]
    if "status" in scores.columns:
        quality = ["failed" if st == "diverged" else q for q, st in zip(quality, scores["status"])]
    extra = {}
    if {"fid_inf", "fid_inf_floor"} <= set(scores.columns):
        inf, inf_floor = (pd.to_numeric(scores[c], errors="coerce") for c in ("fid_inf", "fid_inf_floor"))
        extra["fid_inf_ratio"] = inf / inf_floor.where(inf_floor > 0)
    return scores.assign(fid_ratio=ratio, **extra, quality=quality)


def generator_quality(scores: pd.DataFrame) -> dict[str, str]:
    """GAN -> its worst :func:`quality_verdict` over the classes and generator replicates (a cell mixes in
    images of every class, and each replicate's classifiers use that replicate's generator)."""
    from ganaug.names import QUALITY_VERDICTS

    worst: dict[str, str] = {}
    for gan, q in zip(scores["gan"], scores["quality"]):
        if gan not in worst or QUALITY_VERDICTS.index(q) > QUALITY_VERDICTS.index(worst[gan]):
            worst[str(gan)] = str(q)
    return worst


def gan_training_table(selections: Mapping[str | tuple[str, int], PathLike], classes: list[str]) -> pd.DataFrame:
    """One row per GAN x generator replicate x class: training status and the checkpoint ``generate`` used.

    ``selections``: (GAN name, replicate) -> that replicate's ``selection.json`` (a bare GAN name is
    replicate 0), written by ``generate``: per training job the selected step, the rule, the curve
    FID there and the job's status, 'ok' or 'diverged' with its message.
    """
    rows = []
    for key, path in selections.items():
        gan, replicate = (key, 0) if isinstance(key, str) else key
        for part, rec in read_json(path).items():
            for cls in classes if part == "conditional" else [part]:
                rows.append({
                    "gan": gan, "replicate": int(replicate), "class": cls, "status": rec["status"],
                    "selected_step": rec["step"], "select": rec["select"],
                    "status_message": rec.get("message", "") if rec["status"] != "ok" else "",
                })  # fmt: skip
    return pd.DataFrame(rows, columns=[*GAN_KEYS, "status", "selected_step", "select", "status_message"])


DOMAIN_COLUMNS = [
    "domain_fid", "domain_fid_floor", "class_agreement", "class_confidence", "domain_n_generated",
    "classifier_score", "classifier_score_real", "classifier_score_n_per_class", "domain_classifier_test_auc",
]  # fmt: skip


def domain_table(domain_files: Iterable[PathLike]) -> pd.DataFrame:
    """One row per GAN × generator replicate × class from the ``domain_metrics`` JSON files.

    The per-GAN entries (classifier score, its real reference, the domain
    classifier's test AUC) are repeated on each class row of the GAN.
    """
    rows = []
    for p in domain_files:
        rec = read_json(p)
        shared = {k: v for k, v in rec.items() if not isinstance(v, (list, dict)) and k not in GAN_KEYS}
        for cls, per_class in rec["classes"].items():
            rows.append({"gan": rec["gan"], "replicate": int(rec.get("replicate", 0)), "class": cls, **per_class,
                         **shared})  # fmt: skip
    df = pd.DataFrame(rows, columns=[*GAN_KEYS, *DOMAIN_COLUMNS] if not rows else None)
    return df[GAN_KEYS + [c for c in DOMAIN_COLUMNS if c in df.columns]]


def merge_domain(scores: pd.DataFrame, domain: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the domain-classifier columns of :func:`domain_table` appended."""
    if scores.empty or domain.empty:
        return scores
    return scores.assign(replicate=_replicates(scores)).merge(domain, on=GAN_KEYS, how="left")


def merge_training_status(scores: pd.DataFrame, training: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the training columns of :func:`gan_training_table` after ``gan`` and ``class``."""
    if scores.empty:
        return scores
    merged = scores.assign(replicate=_replicates(scores)).merge(training, on=GAN_KEYS, how="left")
    merged["status"] = merged["status"].fillna("unknown")
    front = [*GAN_KEYS, "status"]
    return merged[front + [c for c in merged.columns if c not in front]]


# ----------------------------------------------------------------------------- classifier tables


RUN_KEYS = ["baseline", "source", "strategy", "fraction", "n_real"]


def n_real_sort_key(value) -> float:
    """Numeric order of n_real labels: counts ascending, ``all`` last."""
    return math.inf if str(value) == "all" else float(value)


def main_n_real(values) -> str:
    """The n_real value the figures and the summary show: ``all``, else the largest count."""
    return max((str(v) for v in values), key=n_real_sort_key)


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


def classifier_runs_table(
    metric_files: Iterable[PathLike],
    predictions: Sequence[PathLike] | None = None,
    val_predictions: Sequence[PathLike] | None = None,
    *,
    positive_class: str | None = None,
    minority_class: str | None = None,
    threshold: str = "youden",
    classifiers_per_generator: int | None = 1,
) -> pd.DataFrame:
    """One row per classifier run (every scalar of its metrics.json), with ``replicate``: the generator
    replicate its seed belongs to (``seed // classifiers_per_generator``; 0 for every seed when that is
    None, one generator shared), the unit the paired statistics average over.

    With ``predictions`` and ``val_predictions`` (each run's ``predictions.csv``
    and ``predictions_val.csv``, in the order of ``metric_files``), the
    threshold metrics are read at the operating point chosen on the run's
    validation split by the rule ``threshold``
    (:func:`ganaug.operating_point.operating_point_metrics`): ``accuracy``,
    ``balanced_accuracy``, ``sensitivity``, ``specificity`` and the per-class
    ``precision_`` / ``recall_`` / ``f1_`` columns are then at that threshold,
    their argmax values are kept as ``*_argmax``, and ``threshold``,
    ``threshold_rule``, ``val_auc`` and the average precision ``ap_<class>`` of
    the minority and the positive class are added.

    Records written before baselines / strategies / n_real existed get
    ``baseline = none``, ``strategy = replace`` (``none`` for source ``real``)
    and ``n_real = all``.  ``n_real`` is text (``all`` or a count).
    """
    metric_files = list(metric_files)
    if (predictions is None) != (val_predictions is None):
        raise ValueError("give both predictions and val_predictions, or neither")
    if predictions is not None and not (len(predictions) == len(val_predictions) == len(metric_files)):
        raise ValueError(
            f"{len(metric_files)} metrics files but {len(predictions)} test and {len(val_predictions)} "
            "validation prediction files"
        )
    rows = []
    for i, p in enumerate(metric_files):
        rec = read_json(p)
        row = {k: v for k, v in rec.items() if not isinstance(v, (list, dict))}
        if predictions is not None:
            row.update(
                _operating_point(rec, predictions[i], val_predictions[i], positive_class, minority_class, threshold)
            )
        rows.append(row)
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
    from ganaug.config.cells import replicate_of

    df["replicate"] = [replicate_of(seed, classifiers_per_generator) for seed in df["seed"]]
    front = RUN_KEYS + ["seed", "replicate"]
    df = df[front + [c for c in df.columns if c not in front]]
    return _sort_cells(df, extra=["seed"])


def _operating_point(rec: dict, test_csv, val_csv, positive_class, minority_class, rule) -> dict:
    """The operating-point columns of one run from its saved predictions (see :func:`classifier_runs_table`)."""
    from ganaug.operating_point import operating_point_metrics

    classes = [str(c) for c in rec["classes"]]
    try:
        return operating_point_metrics(
            pd.read_csv(val_csv), pd.read_csv(test_csv), classes, positive_class, minority_class, rule
        )
    except ValueError as exc:
        raise ValueError(f"{val_csv}: {' '.join(str(exc).split())}") from None


def summary_metrics(minority_class: str | None, positive_class: str | None = None) -> list[str]:
    """The metrics summarised per cell: threshold-free (AUC, average precision), at the validation-chosen
    operating point, at argmax (``*_argmax``), and the validation AUC (the pilot choice of a primary reads it)."""
    metrics = ["auc"]
    metrics += [f"ap_{c}" for c in dict.fromkeys(c for c in (minority_class, positive_class) if c)]
    metrics += ["balanced_accuracy", "accuracy", "sensitivity", "specificity"]
    if minority_class:
        metrics.append(f"recall_{minority_class}")
    metrics += ["balanced_accuracy_argmax", "sensitivity_argmax", "specificity_argmax"]
    if minority_class:
        metrics.append(f"recall_{minority_class}_argmax")
    return metrics + ["val_auc", "threshold"]


def summarise_runs(
    runs: pd.DataFrame,
    minority_class: str | None = None,
    level: float = 0.95,
    *,
    positive_class: str | None = None,
    min_seeds: int = 2,
    quality: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per cell (baseline, source, strategy, fraction, n_real): ``n_seeds`` and, per metric,
    ``{m}_mean``, ``{m}_std`` (ddof 1) and the t CI ``{m}_ci_low`` / ``{m}_ci_high`` over seeds.
    ``quality`` (GAN -> :func:`generator_quality`): adds ``generator_quality``, the verdict of the
    generator a cell's synthetic images come from ('' for real-only cells), so a cell fed by a
    ``failed`` GAN is marked where its numbers are.

    Every summarised metric is a proportion (or a probability threshold), so the
    intervals are clipped to [0, 1]; a cell with fewer than ``min_seeds`` seeds
    gets no interval (NaN), since a t interval on 2 seeds spans 12.7 standard errors.
    """
    from ganaug.stats import mean_ci

    metrics = [m for m in summary_metrics(minority_class, positive_class) if m in runs.columns]
    runs = runs.assign(n_real=runs["n_real"].astype(str))
    rows = []
    for key, group in runs.groupby(RUN_KEYS, sort=False):
        row = dict(zip(RUN_KEYS, key))
        row["n_seeds"] = int(len(group))
        if quality is not None:
            row["generator_quality"] = source_quality(row["source"], quality, row["n_real"])
        for m in metrics:
            s = mean_ci(group[m].to_numpy(dtype=float), level, bounds=(0.0, 1.0), min_n=min_seeds)
            row.update(
                {f"{m}_mean": s["mean"], f"{m}_std": s["std"], f"{m}_ci_low": s["ci_low"], f"{m}_ci_high": s["ci_high"]}
            )
        rows.append(row)
    columns = RUN_KEYS + ["n_seeds"] + (["generator_quality"] if quality is not None else [])
    columns += [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high")]
    return _sort_cells(pd.DataFrame(rows, columns=columns))


def paired_metrics(minority_class: str | None) -> list[str]:
    """The metrics compared against the declared reference, one family each: AUC, the minority
    class's average precision, balanced accuracy and minority recall (at the operating point)."""
    if not minority_class:
        return ["auc", "balanced_accuracy"]
    return ["auc", f"ap_{minority_class}", "balanced_accuracy", f"recall_{minority_class}"]


PAIRED_COLUMNS = [
    "role", "baseline", "source", "strategy", "fraction", "n_real", "reference", "metric", "n_pairs", "replicates",
    "variance_sources", "mean", "reference_mean", "diff_mean", "diff_std", "diff_ci_low", "diff_ci_high", "p_value",
    "p_adjusted", "family_size", "equivalence_margin", "p_tost", "p_tost_adjusted", "verdict", "verdict_unadjusted",
    "min_detectable_difference", "seeds_needed", "generator_quality",
]  # fmt: skip

#: the metric the primary comparison is made on (the other metrics' rows are all secondary)
PRIMARY_METRIC = "auc"

#: ``variance_sources`` of a comparison: what its interval's spread contains
VARIANCE_SOURCES = {
    "generator": "generator + classifier",  # units: generator replicates, each with its own trained generator
    "shared": "classifier only (shared generator)",  # one generator replicate: seeds as units
    "unrecorded": "classifier only (no replicate column)",  # runs without generator replicates
    "real": "classifier (no generator)",  # a real-only cell: no synthetic images
}


def _variance_key(source: str, has_replicates: bool, unit: str) -> str:
    if source == "real":
        return "real"
    if not has_replicates:
        return "unrecorded"
    return "generator" if unit == "replicate" else "shared"


def primary_key(primary: Mapping | None) -> tuple | None:
    """The run key ``(baseline, source, strategy, fraction, n_real)`` of a primary-cell mapping."""
    if not primary or "choose" in primary:
        return None
    return (
        str(primary["baseline"]), str(primary["source"]), str(primary["strategy"]), float(primary["fraction"]),
        str(primary["n_real"]),
    )  # fmt: skip


def choose_primary(runs: pd.DataFrame, strategy: str, pilot_seeds: Iterable[int], n_real: str = "all") -> tuple:
    """The GAN cell of ``strategy`` at ``n_real`` with the highest mean validation AUC over the
    ``pilot_seeds`` (ties: the first in table order): the data-driven primary of
    ``statistics.primary: {choose: best_on_validation}``.  Its run key; ``ValueError`` when no
    such cell ran on the pilot seeds or the runs have no ``val_auc``."""
    if "val_auc" not in runs.columns:
        raise ValueError("choosing the primary cell needs the runs' validation AUC (val_auc)")
    pilot = {int(s) for s in pilot_seeds}
    cand = runs[
        (runs["source"] != "real")
        & (runs["strategy"] == strategy)
        & (runs["n_real"].astype(str) == str(n_real))
        & runs["seed"].astype(int).isin(pilot)
    ]
    if cand.empty:
        raise ValueError(f"no GAN cell of strategy {strategy!r} at n_real {n_real} ran on pilot seeds {sorted(pilot)}")
    means = _sort_cells(cand.groupby(RUN_KEYS, sort=False, as_index=False)["val_auc"].mean())
    best = means.iloc[int(np.argmax(means["val_auc"].fillna(-math.inf).to_numpy()))]
    return tuple(best[k] for k in RUN_KEYS[:3]) + (float(best["fraction"]), str(best["n_real"]))


def _reference_runs(runs: pd.DataFrame, reference: str) -> dict[str, pd.DataFrame]:
    """``{n_real: the reference's real-only runs there}`` (n_real values where it did not run are absent)."""
    ref = runs[(runs["baseline"] == reference) & (runs["source"] == "real") & (runs["fraction"] == 0)]
    return {str(n): g for n, g in ref.groupby("n_real", sort=False)}


def missing_reference(runs_or_summary: pd.DataFrame, reference: str) -> list[str]:
    """The n_real values with sweep cells where the declared reference has no real-only run."""
    df = runs_or_summary
    have = set(_reference_runs(df.assign(n_real=df["n_real"].astype(str)), reference))
    return sorted({str(n) for n in df["n_real"]} - have, key=n_real_sort_key)


def _paired_rows(runs, metrics, reference, level, margin, quality, primary) -> list[dict]:
    """One row per (cell, metric) against the reference at the cell's n_real (before any adjustment)."""
    from ganaug.stats import paired_difference

    refs = _reference_runs(runs, reference)
    has_replicates = "replicate" in runs.columns
    rows = []
    for key, group in runs.groupby(RUN_KEYS, sort=False):
        cell = dict(zip(RUN_KEYS, key))
        n = str(cell["n_real"])
        if n not in refs or key == (reference, "real", "none", 0.0, n):
            continue
        ref = refs[n]
        units = None
        if has_replicates and cell["source"] != "real":  # real-only cells involve no generator: seeds are the units
            units = dict(zip(group["seed"].astype(int), group["replicate"].astype(int)))
        cell_key = (str(key[0]), str(key[1]), str(key[2]), float(key[3]), n)
        for m in metrics:
            a = dict(zip(group["seed"].astype(int), group[m].astype(float)))
            b = dict(zip(ref["seed"].astype(int), ref[m].astype(float)))
            d = paired_difference(a, b, level, units=units, margin=margin)
            rows.append({
                **cell, "role": "primary" if m == PRIMARY_METRIC and cell_key == primary else "secondary",
                "reference": reference, "metric": m, "n_pairs": d["n_pairs"], "replicates": d["n_units"],
                "variance_sources": VARIANCE_SOURCES[_variance_key(cell["source"], has_replicates, d["unit"])],
                "mean": float(group[m].mean()), "reference_mean": float(ref[m].mean()),
                **{k: d[k] for k in ("diff_mean", "diff_std", "diff_ci_low", "diff_ci_high", "p_value", "p_tost")},
                "equivalence_margin": margin, "verdict_unadjusted": d["verdict"],
                "generator_quality": source_quality(cell["source"], quality, cell["n_real"]),
            })  # fmt: skip
    return rows


def detectable_difference(sd: float, n: int, alpha: float, power: float, reference_mean: float) -> float:
    """:func:`~ganaug.stats.min_detectable_difference`, or NaN where no difference of that size can
    exist: at or past ``1 - reference_mean`` (a proportion cannot rise further; at least 1 anyway)."""
    from ganaug.stats import min_detectable_difference

    mdd = min_detectable_difference(sd, n, alpha, power)
    room = 1.0 - float(reference_mean) if math.isfinite(float(reference_mean)) else 1.0
    return float("nan") if math.isfinite(mdd) and mdd > 0 and mdd >= min(room, 1.0) else mdd


def _adjust_families(df, metrics, alpha, correction, power, detect) -> pd.DataFrame:
    """Adjusted p-values (difference and TOST), family sizes, detectable differences and verdicts:
    the primary row at ``alpha`` unadjusted, the secondary rows of each metric one family."""
    from ganaug.stats import adjust_pvalues, decide, seeds_needed

    df = df.copy()
    primary = df["role"] == "primary"
    df.loc[primary, "p_adjusted"] = df.loc[primary, "p_value"]
    df.loc[primary, "p_tost_adjusted"] = df.loc[primary, "p_tost"]
    df.loc[primary, "family_size"] = 1
    for m in metrics:
        fam = df.index[(df["metric"] == m) & ~primary]
        for col in ("p_value", "p_tost"):
            p = df.loc[fam, col].to_numpy(dtype=float)
            df.loc[fam, col.replace("p_value", "p") + "_adjusted"] = adjust_pvalues(p, correction)
        df.loc[fam, "family_size"] = int(np.isfinite(df.loc[fam, "p_value"].to_numpy(dtype=float)).sum())
    mdd, needed = [], []
    for _, r in df.iterrows():
        level_each = alpha / max(int(r["family_size"]), 1) if correction != "none" else alpha
        sd, k = float(r["diff_std"]), int(r["replicates"])
        mdd.append(detectable_difference(sd, k, level_each, power, float(r["reference_mean"])))
        needed.append(seeds_needed(sd, detect, level_each, power))
    df["family_size"] = df["family_size"].astype(int)
    df["min_detectable_difference"] = pd.Series(mdd, index=df.index, dtype=float)
    df["seeds_needed"] = pd.Series(needed, index=df.index, dtype=object).astype("Int64")
    df["verdict"] = [
        decide(d, p, q, alpha) for d, p, q in zip(df["diff_mean"], df["p_adjusted"], df["p_tost_adjusted"])
    ]
    return df


def paired_differences(
    runs: pd.DataFrame,
    minority_class: str | None = None,
    level: float = 0.95,
    *,
    alpha: float = 0.05,
    correction: str = "holm",
    power: float = 0.8,
    detect: float = 0.01,
    quality: Mapping[str, str] | None = None,
    reference: str = "none",
    primary: Mapping | None = None,
    equivalence_margin: float = 0.02,
) -> pd.DataFrame:
    """Every cell against the declared ``reference`` baseline of its n_real, paired by seed and
    analysed over generator replicates.

    One row per cell × metric (:func:`paired_metrics`): the difference ``cell - reference`` per
    seed, averaged within each generator replicate (the runs' ``replicate`` column; without it each
    seed is its own unit; real-only cells, which use no generator, always by seed), its mean, std
    and t CI over the ``replicates`` units (one replicate only: over the seeds), the paired t test's
    ``p_value`` and the TOST ``p_tost`` for equivalence within ``±equivalence_margin``.

    ``primary`` (the declared question, config ``statistics.primary`` as resolved by
    :func:`ganaug.config.primary_cell`): its AUC row gets ``role = primary`` and is tested at
    ``alpha`` with no adjustment (``family_size`` 1); every other row is ``secondary``, its
    ``p_adjusted`` / ``p_tost_adjusted`` adjusted by ``correction`` within the secondary rows of its
    metric.  ``{choose: best_on_validation, strategy, pilot_seeds, n_real}``: the primary is the
    cell :func:`choose_primary` picks on the pilot seeds, and every comparison uses the other seeds
    only.  ``verdict`` (:func:`ganaug.stats.decide`): ``better`` / ``worse`` when the (adjusted)
    difference p is below alpha, else ``equivalent`` when the (adjusted) TOST p is, else
    ``inconclusive``; ``verdict_unadjusted``: from the unadjusted CI (better / worse / inconclusive).
    ``min_detectable_difference``: what 80 % (``power``) of such studies would flag at the row's
    level (alpha for the primary; alpha / family size, Holm's first step, for secondaries), NaN where
    that exceeds what the scale allows above ``reference_mean``; ``seeds_needed``: the units
    (replicates) that would detect ``detect``.  Cells at an n_real where the reference did not run
    are left out (:func:`missing_reference`); the reference gets no row.
    """
    if runs.empty:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    metrics = [m for m in paired_metrics(minority_class) if m in runs.columns]
    runs = runs.assign(n_real=runs["n_real"].astype(str))
    chosen = primary_key(primary)
    if primary and "choose" in primary:
        pilot = [int(s) for s in primary["pilot_seeds"]]
        chosen = choose_primary(runs, str(primary["strategy"]), pilot, str(primary.get("n_real", "all")))
        in_pilot = runs["seed"].astype(int).isin(pilot)
        if "replicate" in runs.columns and set(runs.loc[in_pilot, "replicate"]) & set(runs.loc[~in_pilot, "replicate"]):
            raise ValueError(f"pilot seeds {sorted(pilot)} split a generator replicate: choose whole replicates")
        runs = runs[~in_pilot]
    rows = _paired_rows(runs, metrics, reference, level, equivalence_margin, dict(quality or {}), chosen)
    df = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    if df.empty:
        return df
    df = _adjust_families(df, metrics, alpha, correction, power, detect)
    df["_m"] = df["metric"].map(metrics.index)
    df = _sort_cells(df, extra=["_m"]).drop(columns="_m")
    order = np.argsort((df["role"] != "primary").to_numpy(), kind="stable")  # the primary row first
    return df.iloc[order].reset_index(drop=True)[PAIRED_COLUMNS]
