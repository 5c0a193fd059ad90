"""Scoring a reader study: per reader and pooled, a table, a figure and a summary sentence.

:func:`score_table` turns the readers of :func:`~ganaug.reader_study.answers.collect_readers`
into one row per complete reader (:func:`~ganaug.reader_study.stats.reader_metrics`),
a ``pooled`` row over every complete reader's answers (with Fleiss' kappa when there are
two or more), a row per partial reader (its count, no scores) and a row per skipped file
(the reason). :func:`write_scores` writes ``scores.csv``, ``scores.md``, ``scores.png`` and
``summary.md``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from ganaug.io import PathLike, save_dataframe, save_figure, write_text
from ganaug.reader_study.answers import COMPLETE, PARTIAL, SKIPPED, Reader, Skipped, collect_readers
from ganaug.reader_study.stats import fleiss_kappa, reader_metrics, signed_score

log = logging.getLogger("ganaug.reader_study")

POOLED = "pooled"
METRICS = (
    "n_correct", "accuracy", "ci_low", "ci_high", "p_value", "sensitivity", "specificity", "auc",
    "n_with_confidence", "median_seconds", "mean_seconds",
)  # fmt: skip
COLUMNS = ("reader", "status", "n_answered", "n_images", *METRICS, "fleiss_kappa", "files", "note")
MD_COLUMNS = (
    "reader", "status", "n_answered", "accuracy", "ci_low", "ci_high", "p_value", "sensitivity", "specificity",
    "auc", "fleiss_kappa", "median_seconds", "files", "note",
)  # fmt: skip


def _truth(key: pd.DataFrame, answers: pd.DataFrame) -> np.ndarray:
    source = dict(zip(key["image_id"], key["source"]))
    return np.array([source[i] == "synthetic" for i in answers["image_id"]])


def _metrics(key: pd.DataFrame, answers: pd.DataFrame) -> dict:
    return reader_metrics(_truth(key, answers), list(answers["answer"]), answers["confidence"], answers["ms"])


def kappa_of(readers: list[Reader], key: pd.DataFrame) -> float:
    """Fleiss' kappa of the complete readers over the study's images (NaN with fewer than two)."""
    done = [r for r in readers if r.status == COMPLETE]
    if len(done) < 2:
        return math.nan
    ids = list(key["image_id"])
    synthetic = np.zeros(len(ids))
    for r in done:
        said = dict(zip(r.answers["image_id"], r.answers["answer"]))
        synthetic += np.array([said[i] == "synthetic" for i in ids])
    return fleiss_kappa(np.column_stack([len(done) - synthetic, synthetic]))


def score_table(readers: list[Reader], skipped: list[Skipped], key: pd.DataFrame) -> pd.DataFrame:
    """One row per complete reader, the pooled row, then partial readers and skipped files (:data:`COLUMNS`)."""
    n_images = len(key)
    rows = []
    done = [r for r in readers if r.status == COMPLETE]
    for r in done:
        m = _metrics(key, r.answers)
        rows.append(dict(reader=r.reader_id, status=COMPLETE, n_answered=len(r.answers), **m, note=r.note))
        rows[-1]["files"] = "; ".join(_names(r.files))
    if done:
        pooled = pd.concat([r.answers for r in done], ignore_index=True)
        m = _metrics(key, pooled)
        note = f"{len(done)} complete reader(s) x {n_images} images" + (
            "" if len(done) >= 2 else "; Fleiss' kappa needs two or more complete readers"
        )
        rows.append(
            dict(reader=POOLED, status=POOLED, n_answered=len(pooled), **m, fleiss_kappa=kappa_of(readers, key))
        )
        rows[-1]["note"] = note
    for r in readers:
        if r.status == PARTIAL:
            rows.append(
                dict(reader=r.reader_id, status=PARTIAL, n_answered=len(r.answers), files="; ".join(_names(r.files)))
            )
            rows[-1]["note"] = f"{r.note}: not scored, and left out of the pooled scores and kappa"
    for s in skipped:
        rows.append(dict(reader=s.reader_id, status=SKIPPED, n_answered=0, files=_names([s.file])[0], note=s.message))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["n_images"] = n_images
    for column in ("n_answered", "n_images", "n_correct", "n_with_confidence"):  # counts, blank where not scored
        table[column] = table[column].astype("Int64")
    return table


def _names(paths) -> list[str]:
    return [str(p).replace("\\", "/").rsplit("/", 1)[-1] for p in paths]


def _pct(x: float) -> str:
    """A share as a whole percentage, halves rounded up (10 of 16: 63 %)."""
    return f"{math.floor(100 * x + 0.5 + 1e-9):.0f} %"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def summary_sentence(table: pd.DataFrame, level: float = 0.95) -> str:
    """ "3 readers told real from synthetic in 58 % of 300 answers [52 %, 64 %], p = 0.01; kappa = 0.12"."""
    done = table[table["status"] == COMPLETE]
    if done.empty:
        return "No complete reader yet: nothing is scored."
    row = table[table["status"] == POOLED].iloc[0]
    who = "1 reader" if len(done) == 1 else f"{len(done)} readers"
    n = int(row["n_answered"])
    what = f"{n} images" if len(done) == 1 else f"{n} answers ({int(row['n_images'])} images each)"
    text = (
        f"{who} told real from synthetic in {_pct(row['accuracy'])} of {what} "
        f"[{_pct(row['ci_low'])}, {_pct(row['ci_high'])}], {_p(row['p_value'])}"
    )
    kappa = row["fleiss_kappa"]
    text += f"; κ = {kappa:.2f}" if np.isfinite(kappa) else ""
    return text + "."


def summary_text(table: pd.DataFrame, study_id: str, answers_dir: str) -> str:
    """``summary.md``: the sentence, what its numbers mean, what was not scored and why."""
    lines = [f"# Reader study {study_id}", "", summary_sentence(table), ""]
    pooled = table[table["status"] == POOLED]
    if len(pooled):
        row = pooled.iloc[0]
        lines += [
            f"Accuracy with its exact (Clopper–Pearson) 95 % interval; p: two-sided binomial test against 50 % "
            f"(chance: no better than a coin). Spotting synthetic images: sensitivity {_pct(row['sensitivity'])} "
            f"(synthetic images called synthetic), specificity {_pct(row['specificity'])} (real images called "
            f"real); AUC of answer × confidence {row['auc']:.2f} (0.5 = chance); median "
            f"{row['median_seconds']:.1f} s per image. Pooled answers are not independent (every reader saw the "
            "same images), so the pooled p-value is optimistic; the per-reader rows of scores.md are exact.",
            "",
        ]
    for status, head in ((PARTIAL, "Partial readers (listed, not scored)"), (SKIPPED, "Skipped files")):
        part = table[table["status"] == status]
        if len(part):
            lines += [f"{head}:", ""]
            lines += [f"- {r['files'] or r['reader']}: {r['note']}" for _, r in part.iterrows()]
            lines.append("")
    if table.empty:
        lines += [f"No answer files in {answers_dir}: put the CSV files the readers downloaded there.", ""]
    return "\n".join(lines)


def plot_scores(table: pd.DataFrame, readers: list[Reader], key: pd.DataFrame, out: PathLike) -> None:
    """Accuracy per reader and pooled with exact CIs (left); each complete reader's ROC curve (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, (ax, roc) = plt.subplots(1, 2, figsize=(10, 4.2))
    shown = table[table["status"].isin([COMPLETE, POOLED])].reset_index(drop=True)
    if shown.empty:
        ax.text(0.5, 0.5, "no complete reader yet", ha="center", va="center", transform=ax.transAxes)
    else:
        y = np.arange(len(shown))[::-1]
        acc = shown["accuracy"].to_numpy(float)
        err = np.vstack([acc - shown["ci_low"].to_numpy(float), shown["ci_high"].to_numpy(float) - acc])
        colors = ["#c0392b" if s == POOLED else "#2a6fdb" for s in shown["status"]]
        for k in range(len(shown)):
            ax.errorbar(acc[k], y[k], xerr=err[:, k : k + 1], fmt="o", color=colors[k], capsize=4)
        ax.set_yticks(y, shown["reader"].astype(str))
    ax.axvline(0.5, color="0.4", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (real vs synthetic), exact 95 % CI; dashed: chance")
    ax.set_title("Readers")
    for r in (r for r in readers if r.status == COMPLETE):
        truth = _truth(key, r.answers)
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = roc_curve(truth, signed_score(list(r.answers["answer"]), r.answers["confidence"]))
        auc = table.loc[(table["reader"] == r.reader_id) & (table["status"] == COMPLETE), "auc"].iloc[0]
        roc.plot(fpr, tpr, marker=".", label=f"{r.reader_id} (AUC {auc:.2f})")
    roc.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1)
    roc.set_xlabel("real images called synthetic (1 - specificity)")
    roc.set_ylabel("synthetic images spotted (sensitivity)")
    roc.set_title("Reader ROC (answer x confidence)")
    if roc.get_legend_handles_labels()[0]:
        roc.legend(loc="lower right", fontsize="small")
    save_figure(out, fig)


def write_scores(answer_files, key_csv: PathLike, answers_dir: str, out: dict) -> pd.DataFrame:
    """Score ``answer_files`` against ``key_csv``; write ``out['csv'|'md'|'figure'|'summary']``; log what was left out."""
    key = pd.read_csv(key_csv, dtype={"image_id": str, "study_id": str})
    readers, skipped = collect_readers(answer_files, key)
    for s in skipped:
        log.warning("%s: %s; skipped", s.file, s.message)
    for r in readers:
        if r.status == PARTIAL:
            log.warning("%s: reader %r %s: partial, listed but not scored", "; ".join(r.files), r.reader_id, r.note)
        else:
            log.info("%s: reader %r complete%s", "; ".join(r.files), r.reader_id, f" ({r.note})" if r.note else "")
    table = score_table(readers, skipped, key)
    study_id = str(key["study_id"].iloc[0])
    save_dataframe(out["csv"], table)
    shown = table[list(MD_COLUMNS)]
    md = shown.astype(object).where(shown.notna(), "").to_markdown(index=False, floatfmt=".3g")
    write_text(out["md"], f"# Reader study {study_id}\n\n{summary_sentence(table)}\n\n{md}\n")
    plot_scores(table, readers, key, out["figure"])
    write_text(out["summary"], summary_text(table, study_id, answers_dir))
    log.info("%s", summary_sentence(table))
    return table
