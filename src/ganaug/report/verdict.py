"""The verdict in words: ``results/report/summary.md``, a few short paragraphs built from the tables.

Every sentence comes from a template filled with numbers of the classifier
summary, the paired differences, the generator-quality verdicts and the
test-set shift of each class, so the text says no more than the tables do:

* the reference: the best non-GAN baseline, chosen on validation AUC;
* per question (``replace``: can synthetic images *substitute* for real ones?
  ``balance``: does *adding* synthetic images of the rare class help?): the
  best GAN cell (chosen on validation AUC) against the reference, the counts
  better / worse / inconclusive after the multiple-comparison correction, and
  the smallest AUC difference the sweep could have detected;
* caveats: generators too weak to conclude from, test sets that differ from
  the training images, cells with too few seeds for an interval.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ganaug.report.tables import main_n_real

#: the question each mixing strategy answers
QUESTIONS = {
    "replace": "Can synthetic images substitute for real ones? (`replace`: a fraction of every class's real "
    "training images swapped for synthetic ones)",
    "balance": "Does adding synthetic images of the smaller classes help? (`balance`: synthetic images added, a "
    "fraction of each class's gap to the largest class)",
}


@dataclass(frozen=True)
class VerdictSettings:
    """What the sentences need besides the tables (config ``statistics`` and ``classifier``)."""

    minority_class: str | None
    threshold: str = "youden"
    alpha: float = 0.05
    correction: str = "holm"
    power: float = 0.8
    detect: float = 0.01
    min_seeds: int = 3
    shift_ratio: float = 1.25


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def _p(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    return "p < 0.001" if x < 0.001 else f"p = {x:.3f}"


def _cells(n: int) -> str:
    return "In the one such cell" if n == 1 else f"Over all {n} such cells"


def _counts(rows: pd.DataFrame) -> str:
    c = rows["verdict"].value_counts()
    return ", ".join(f"{k} in {int(c.get(k, 0))}" for k in ("better", "worse", "inconclusive"))


def _correction(s: VerdictSettings, family: int) -> str:
    if s.correction == "none":
        return f"without correction for multiple comparisons (α = {s.alpha:g})"
    return f"after {s.correction.capitalize()}'s correction over the {family} AUC comparisons (α = {s.alpha:g})"


def _question(strategy: str, summary: pd.DataFrame, paired: pd.DataFrame, s: VerdictSettings, where: str = "") -> str:
    """One paragraph: the best GAN cell of ``strategy`` vs the reference, counts, detectable effect
    (``where``: which n_real the cells are at, when not the main one)."""
    auc = paired[(paired["metric"] == "auc") & (paired["strategy"] == strategy) & (paired["source"] != "real")]
    cells = summary[(summary["strategy"] == strategy) & (summary["source"] != "real")]
    if auc.empty or cells.empty:
        return f"**{QUESTIONS.get(strategy, strategy)}** The sweep ran no such cell, so it does not answer this."
    by = "val_auc_mean" if "val_auc_mean" in cells.columns else "auc_mean"
    best = cells.sort_values(by, ascending=False, kind="stable").iloc[0]
    key = (auc["source"] == best["source"]) & (auc["baseline"] == best["baseline"])
    row = auc[key & (auc["fraction"] == best["fraction"])].iloc[0]
    family = int(auc["family_size"].iloc[0]) if len(auc) else 0
    text = [
        f"**{QUESTIONS.get(strategy, strategy)}** The best such cell{where} on validation AUC, {best['source']} at "
        f"fraction {best['fraction']:g} (baseline {best['baseline']}), reaches test AUC {_f(row['mean'])} against "
        f"{_f(row['reference_mean'])} for the reference: a difference of {float(row['diff_mean']):+.3f} "
        f"({_p(row['p_adjusted'])} adjusted; {row['verdict']}).",
        f"{_cells(len(auc))} the AUC is {_counts(auc)} {_correction(s, family)}.",
    ]
    if s.minority_class:
        ap = paired[(paired["metric"] == f"ap_{s.minority_class}") & (paired["strategy"] == strategy)]
        ap = ap[ap["source"] != "real"]
        if len(ap):
            text.append(f"The average precision of {s.minority_class} is {_counts(ap)}.")
    mdd = auc["min_detectable_difference"].astype(float)
    if mdd.notna().any():
        seeds = auc["seeds_needed"].dropna()
        needed = (
            f"about {int(seeds.median())} seeds (median over the cells)"
            if len(seeds)
            else "more seeds than can be estimated"
        )
        lo, hi = int(auc["n_pairs"].min()), int(auc["n_pairs"].max())
        spread = f", from {_f(mdd.min())} to {_f(mdd.max())}" if len(mdd.dropna()) > 1 else ""
        seeds_text = f"With {lo if lo == hi else f'{lo}–{hi}'} seeds per comparison"
        if mdd.median() >= 1:
            text.append(
                f"{seeds_text}, no AUC difference at all would be detected with {100 * s.power:g} % power (the "
                f"detectable difference exceeds 1 in most cells); detecting {s.detect:g} would take {needed}."
            )
        else:
            text.append(
                f"{seeds_text}, the smallest AUC difference a comparison would detect with {100 * s.power:g} % power "
                f"is {_f(mdd.median())} (median over the cells{spread}); detecting {s.detect:g} would take {needed}."
            )
    return " ".join(text)


def _at_n(row) -> str:
    n = row.get("fid_n")
    return f" (N = {int(n)} per side, as its floor)" if n is not None and math.isfinite(float(n)) else ""


def _generator_caveats(scores: pd.DataFrame | None, used: set[str]) -> list[str]:
    if scores is None or scores.empty or "quality" not in scores.columns:
        return []
    out = []
    for gan, group in scores[scores["gan"].isin(used)].groupby("gan", sort=True):
        bad = group[group["quality"] != "usable"]
        if bad.empty:
            continue
        parts = [
            f"{r['class']}: {r['quality']}, FID {_f(r['fid'], 1)}{_at_n(r)} = {_f(r['fid_ratio'], 1)}× the real floor, "
            f"precision {_f(r['precision'], 2)}, recall {_f(r['recall'], 2)}"
            for _, r in bad.iterrows()
        ]
        worst = "failed" if (bad["quality"] == "failed").any() else "weak"
        consequence = (
            "its cells cannot tell whether GAN augmentation helps, only that these images do not"
            if worst == "failed"
            else "its cells show what these images do, not what a good generator's would"
        )
        out.append(f"Generator {gan} is {worst} ({'; '.join(parts)}): {consequence}.")
    return out


def _shift_caveats(shift: Mapping[str, Mapping[str, float]], s: VerdictSettings) -> list[str]:
    out = []
    for cls, r in shift.items():
        if math.isfinite(float(r["ratio"])) and float(r["ratio"]) <= s.shift_ratio:
            continue
        out.append(
            f"The real test images of {cls} differ from its training images: FID train vs test "
            f"{_f(r['fid_train_test'], 1)} against {_f(r['fid_train_train'], 1)} between two halves of the training "
            f"set ({_f(r['ratio'], 1)}×, {int(r['n'])} images per side). Metrics on {cls} measure transfer to a "
            "shifted test set as much as the classifier."
        )
    return out


def summary_text(
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    settings: VerdictSettings,
    scores: pd.DataFrame | None = None,
    shift: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """The Markdown of ``summary.md`` (see the module docstring)."""
    s = settings
    lines = ["# Summary", ""]
    if summary.empty or paired.empty:
        lines += ["No comparison against a non-GAN baseline could be made (no real-only runs).", ""]
        return "\n".join(lines)
    n_sel = main_n_real(summary["n_real"].unique())
    summ = summary[summary["n_real"].astype(str) == n_sel]
    pair = paired[paired["n_real"].astype(str) == n_sel]
    ref = str(pair["reference"].iloc[0])
    ref_row = summ[(summ["source"] == "real") & (summ["baseline"] == ref)].iloc[0]
    n_seeds = sorted({int(v) for v in summ["n_seeds"]})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    scope = f" (n_real = {n_sel}; the other n_real values are in the tables)" if summary["n_real"].nunique() > 1 else ""
    lines.append(
        f"{len(summ)} sweep cells{scope}, {seeds} seeds each. The reference is the best non-GAN baseline on "
        f"validation AUC, `{ref}` (test AUC {_f(ref_row['auc_mean'])}); every cell is compared with it paired by "
        f"seed. Threshold metrics are read at the operating point chosen on each run's validation split "
        f"(`{s.threshold}`)."
    )
    lines.append("")
    for strategy in QUESTIONS:  # both questions, also when the sweep did not ask one (the text says so)
        n_q, where = n_sel, ""
        if not ((summ["strategy"] == strategy) & (summ["source"] != "real")).any():
            # asked only at another n_real: answer there (with that n_real's reference), and say so
            other = summary.loc[(summary["strategy"] == strategy) & (summary["source"] != "real"), "n_real"]
            other = [str(v) for v in other.unique() if str(v) in set(paired["n_real"].astype(str))]
            if other:
                n_q = main_n_real(other)
                where = f" (at n_real = {n_q}, against that n_real's reference)"
        q_summary = summary[summary["n_real"].astype(str) == n_q]
        q_paired = paired[paired["n_real"].astype(str) == n_q]
        lines += [_question(strategy, q_summary, q_paired, s, where), ""]
    caveats = _generator_caveats(scores, set(summ.loc[summ["source"] != "real", "source"]))
    caveats += _shift_caveats(shift or {}, s)
    few = summ[summ["n_seeds"] < s.min_seeds]
    if len(few):
        caveats.append(
            f"{len(few)} cells have fewer than {s.min_seeds} seeds: the tables give no confidence interval for "
            "them, and their p-values rest on very few degrees of freedom."
        )
    if caveats:
        lines += ["**Caveats.** " + " ".join(caveats), ""]
    return "\n".join(lines)


def figure_data_uri(path) -> str:
    """A PNG (or SVG / JPEG, by suffix) file as a ``data:`` URI, so a page embedding it stands alone."""
    import base64
    from pathlib import Path

    path = Path(path)
    mime = {".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(path.suffix.lower(), "image/png")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure_html(fig) -> str:
    """One ``<figure>``: ``fig`` a :class:`~ganaug.report.curves.ReportFigure` or a (path, alt, caption) tuple."""
    path, alt, caption = (fig.path, fig.alt, fig.caption) if hasattr(fig, "path") else fig
    return (
        f'<figure><img src="{figure_data_uri(path)}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>\n"
    )


def summary_html(markdown_text: str, figures: Sequence = ()) -> str:
    """A small standalone HTML page of :func:`summary_text`'s paragraphs (for Snakemake's HTML report).

    ``figures`` (:class:`~ganaug.report.curves.ReportFigure` objects or
    ``(path, alt, caption)`` tuples) lead the page, under its heading: each an
    ``<img>`` with its file inlined as a base64 ``data:`` URI (the page works
    when copied and inside Snakemake's report), its alt text and a one-line
    ``<figcaption>``. The page fits a phone: a viewport, a maximal width, images
    at 100 % of it.
    """
    body = []
    for block in markdown_text.strip().split("\n\n"):
        block = html.escape(block.strip())
        if block.startswith("# "):
            body.append(f"<h1>{block[2:]}</h1>\n")
            continue
        while "**" in block:
            block = block.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
        while block.count("`") >= 2:
            block = block.replace("`", "<code>", 1).replace("`", "</code>", 1)
        body.append(f"<p>{block}</p>\n")
    at = 1 if body and body[0].startswith("<h1>") else 0
    body[at:at] = [_figure_html(f) for f in figures]
    style = (
        "body{font-family:sans-serif;max-width:50em;margin:1em auto;padding:0 0.8em;line-height:1.45}"
        "figure{margin:1em 0}img{width:100%;height:auto;display:block}"
        "figcaption{font-size:0.9em;color:#444;margin-top:0.3em}"
    )
    head = (
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Summary</title><style>{style}</style>"
    )
    return f"<!doctype html>\n<html lang='en'><head>{head}</head><body>\n{''.join(body)}</body></html>\n"
