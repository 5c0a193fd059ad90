"""The verdict in words: ``results/report/summary.md``, a few short paragraphs built from the tables.

Every sentence comes from a template filled with numbers of the classifier
summary, the paired differences, the generator-quality verdicts and the
test-set shift of each class, so the text says no more than the tables do:

* first the primary answer: the declared question (``statistics.primary``, the
  row with ``role = primary``), its Δ AUC against the declared reference with
  the CI, the verdict in words (better / worse / equivalent within ±margin /
  inconclusive), the difference and TOST p-values, the detectable difference
  (or "not detectable"), the number of replicates and the sources of variance
  its interval contains;
* then the secondary comparisons: the reference, and per question (``replace``:
  can synthetic images *substitute* for real ones? ``balance``: does *adding*
  synthetic images of the rare class help?) the best secondary GAN cell on
  validation AUC against the reference, the counts better / worse / equivalent /
  inconclusive after the multiple-comparison correction within the secondary
  family, and the smallest AUC difference the sweep could have detected;
* caveats: intervals without the generator's variance, generators too weak to
  conclude from, test sets that differ from the training images, cells with too
  few seeds for an interval, n_real values the reference did not run at.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganaug.report.tables import VARIANCE_SOURCES, main_n_real, missing_reference

#: the question each mixing strategy answers
QUESTIONS = {
    "replace": "Can synthetic images substitute for real ones? (`replace`: a fraction of every class's real "
    "training images swapped for synthetic ones)",
    "balance": "Does adding synthetic images of the smaller classes help? (`balance`: synthetic images added, a "
    "fraction of each class's gap to the largest class)",
}

#: the verdicts a comparison can get, in the order the counts list them
COUNTED = ("better", "worse", "equivalent", "inconclusive")


@dataclass(frozen=True)
class VerdictSettings:
    """What the sentences need besides the tables (config ``statistics``, ``classifier`` and
    ``experiment.subsample.seed`` and ``per_replicate``; ``pilot_seeds``: those of ``primary: {choose: ...}``)."""

    minority_class: str | None
    threshold: str = "youden"
    alpha: float = 0.05
    correction: str = "holm"
    power: float = 0.8
    detect: float = 0.01
    min_seeds: int = 3
    shift_ratio: float = 1.25
    reference: str = "none"
    equivalence_margin: float = 0.02
    level: float = 0.95
    subsample_seed: int | None = None
    subsample_per_replicate: bool = False
    pilot_seeds: tuple[int, ...] = ()
    #: the low-data copies (``train_on: n_real``), as ``(source, n_real, GAN cell)``: who made the images below all
    low_data: tuple[tuple[str, str, str], ...] = ()


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def _p(x: float, name: str = "p") -> str:
    x = float(x)
    if not math.isfinite(x):
        return f"{name} n/a"
    return f"{name} < 0.001" if x < 0.001 else f"{name} = {x:.3f}"


def _counts(rows: pd.DataFrame) -> str:
    c = rows["verdict"].value_counts()
    return ", ".join(f"{k} in {int(c.get(k, 0))}" for k in COUNTED)


def _correction(s: VerdictSettings, family: int) -> str:
    if s.correction == "none":
        return f"without correction for multiple comparisons (α = {s.alpha:g})"
    return (
        f"after {s.correction.capitalize()}'s correction over the {family} secondary AUC comparisons (α = {s.alpha:g})"
    )


def _secondary(paired: pd.DataFrame) -> pd.DataFrame:
    return paired[paired["role"] != "primary"] if "role" in paired.columns else paired


def _units(rows: pd.DataFrame) -> str:
    """'replicates' when the rows' units are generator replicates, else 'seeds'."""
    generator = rows.get("variance_sources", pd.Series(dtype=str)) == VARIANCE_SOURCES["generator"]
    return "replicates" if generator.any() else "seeds"


def _not_detectable(rows: pd.DataFrame) -> pd.Series:
    """Rows whose detectable difference was computable but lies past the scale (NaN in the table)."""
    n = rows["replicates"] if "replicates" in rows.columns else rows["n_pairs"]
    return rows["min_detectable_difference"].isna() & (n.astype(float) >= 2) & rows["diff_std"].notna()


def _detectable_text(auc: pd.DataFrame, s: VerdictSettings) -> str:
    """The sentence on the smallest AUC difference the comparisons could detect (``""`` if none computable)."""
    mdd = auc["min_detectable_difference"].astype(float)
    lost = int(_not_detectable(auc).sum())
    if not (mdd.notna().any() or lost):
        return ""
    units = _units(auc)
    seeds = auc["seeds_needed"].dropna()
    needed = (
        f"about {int(seeds.median())} {units} (median over the cells)"
        if len(seeds)
        else f"more {units} than can be estimated"
    )
    n = auc["replicates"] if "replicates" in auc.columns else auc["n_pairs"]
    lo, hi = int(n.min()), int(n.max())
    head = f"With {lo if lo == hi else f'{lo}–{hi}'} {units} per comparison"
    tail = f"detecting {s.detect:g} would take {needed}."
    if mdd.notna().sum() == 0:
        return (
            f"{head}, no AUC gain would be detected with {100 * s.power:g} % power in any cell (the detectable "
            f"difference exceeds what the AUC can still rise above the reference: not detectable); {tail}"
        )
    spread = f", from {_f(mdd.min())} to {_f(mdd.max())}" if len(mdd.dropna()) > 1 else ""
    where = f"the {int(mdd.notna().sum())} cells where one is detectable" if lost else "the cells"
    also = f"; not detectable in {lost}" if lost else ""
    return (
        f"{head}, the smallest AUC difference a comparison would detect with {100 * s.power:g} % power is "
        f"{_f(mdd.median())} (median over {where}{spread}{also}); {tail}"
    )


def _question(strategy: str, summary: pd.DataFrame, paired: pd.DataFrame, s: VerdictSettings, where: str = "") -> str:
    """One paragraph: the best secondary GAN cell of ``strategy`` vs the reference, counts, detectable
    effect (``where``: which n_real the cells are at, when not the main one)."""
    every = paired[(paired["metric"] == "auc") & (paired["strategy"] == strategy) & (paired["source"] != "real")]
    auc = _secondary(every)
    cells = summary[(summary["strategy"] == strategy) & (summary["source"] != "real")]
    title = f"**{QUESTIONS.get(strategy, strategy)}**"
    if every.empty and not cells.empty:
        return ""  # ran, but not compared (no reference at its n_real): _uncompared says so
    if every.empty or cells.empty:
        return f"{title} The sweep ran no such cell, so it does not answer this."
    if auc.empty:
        return f"{title} The only such cell is the primary one, above."
    keys = set(zip(auc["baseline"], auc["source"], auc["fraction"]))
    cells = cells[[k in keys for k in zip(cells["baseline"], cells["source"], cells["fraction"])]]
    by = "val_auc_mean" if "val_auc_mean" in cells.columns else "auc_mean"
    best = cells.sort_values(by, ascending=False, kind="stable").iloc[0]
    key = (auc["source"] == best["source"]) & (auc["baseline"] == best["baseline"])
    row = auc[key & (auc["fraction"] == best["fraction"])].iloc[0]
    family = int(auc["family_size"].iloc[0])
    besides = " besides the primary" if len(every) > len(auc) else ""
    many = "In the one such cell" if len(auc) == 1 else f"Over all {len(auc)} such cells"
    text = [
        f"{title} The best such cell{where} on validation AUC, {best['source']} at fraction {best['fraction']:g} "
        f"(baseline {best['baseline']}), reaches test AUC {_f(row['mean'])} against {_f(row['reference_mean'])} for "
        f"the reference: a difference of {float(row['diff_mean']):+.3f} ({_p(row['p_adjusted'])} adjusted; "
        f"{row['verdict']}).",
        f"{many}{besides} the AUC is {_counts(auc)} {_correction(s, family)}.",
    ]
    if s.minority_class:
        ap = paired[(paired["metric"] == f"ap_{s.minority_class}") & (paired["strategy"] == strategy)]
        ap = ap[ap["source"] != "real"]
        if len(ap):
            text.append(f"The average precision of {s.minority_class} is {_counts(ap)}.")
    detect = _detectable_text(auc, s)
    return " ".join(text + ([detect] if detect else []))


def _uncompared(strategy: str, summary: pd.DataFrame, s: VerdictSettings) -> str:
    """The question's cells ran only at n_real values without the reference: say so instead of answering."""
    cells = summary[(summary["strategy"] == strategy) & (summary["source"] != "real")]
    if cells.empty:
        return f"**{QUESTIONS.get(strategy, strategy)}** The sweep ran no such cell, so it does not answer this."
    where = ", ".join(sorted({str(v) for v in cells["n_real"]}))
    return (
        f"**{QUESTIONS.get(strategy, strategy)}** Its {len(cells)} cells ran only at n_real = {where}, where the "
        f"reference `{s.reference}` did not run: they are compared with nothing, so the sweep does not answer this."
    )


def _cell_words(r) -> str:
    if r["source"] == "real":
        return f"the real-only baseline `{r['baseline']}` (n_real {r['n_real']})"
    return (
        f"{r['source']} images, {r['strategy']} at fraction {float(r['fraction']):g} (baseline {r['baseline']}, "
        f"n_real {r['n_real']}),"
    )


def _verdict_words(r, s: VerdictSettings) -> str:
    m, v = s.equivalence_margin, str(r["verdict"])
    inside = math.isfinite(float(r["p_tost"])) and float(r["p_tost"]) < s.alpha
    if v in ("better", "worse"):
        than = "better than the reference" if v == "better" else "worse than the reference"
        return than + (f", by less than the margin ±{m:g} (a real but negligible difference)" if inside else "")
    if v == "equivalent":
        return (
            f"equivalent to the reference within ±{m:g} (the {100 * (1 - 2 * s.alpha):g} % interval lies inside ±{m:g})"
        )
    return f"inconclusive: neither a difference nor equivalence within ±{m:g} is shown"


def _sources_text(r, s: VerdictSettings) -> str:
    """Which sources of variation the primary interval contains (its ``variance_sources``)."""
    seed = "" if s.subsample_seed is None else f" = {s.subsample_seed}"
    fixed = f"the real training subsample is fixed (`experiment.subsample.seed`{seed}), so no interval contains its variance"
    if s.subsample_per_replicate and int(r["replicates"]) > 1:
        fixed = (
            "each generator replicate also draws its own real training subsample (`experiment.subsample.per_replicate`),"
            " so the interval contains the subsample's variance too"
        )
    k, n, src = int(r["replicates"]), int(r["n_pairs"]), r["variance_sources"]
    if src == VARIANCE_SOURCES["generator"]:
        per = n / k if k else float("nan")
        each = f"{per:g} classifier seed{'s' if per != 1 else ''} each" if float(per).is_integer() else f"{n} seeds"
        return (
            f"The interval is over {k} generator replicates ({each}): it contains the variance of generator "
            f"training and of classifier training (initialisation, batch order); {fixed}."
        )
    if src == VARIANCE_SOURCES["shared"]:
        return (
            f"All {n} seeds share one generator, so the interval is over the classifier seeds and contains "
            "classifier-seed variance only, not the generator's: it says what these images do, not what "
            f"retraining the GAN would give; {fixed}."
        )
    if src == VARIANCE_SOURCES["unrecorded"]:
        return (
            "The runs record no generator replicate (no `replicate` column: every seed used the one generator "
            f"of its GAN cell), so the interval is over the {n} classifier seeds and contains classifier-seed "
            f"variance only, not the generator's; {fixed}."
        )
    return (
        f"The interval is over {n} classifier seeds; the cell uses no generator, so it contains classifier "
        f"training variance (initialisation, batch order); {fixed}."
    )


def _primary(paired: pd.DataFrame, s: VerdictSettings) -> str:
    """The first paragraph: the declared question and its answer."""
    rows = paired[paired["role"] == "primary"] if "role" in paired.columns else paired.iloc[:0]
    if rows.empty:
        return (
            "**The primary question** could not be answered: the declared primary cell (`statistics.primary`) "
            f"has no comparison with the reference `{s.reference}` (neither ran at its n_real, or it is the "
            "reference)."
        )
    r = rows.iloc[0]
    how = (
        f"chosen on the validation AUC of pilot seeds {', '.join(map(str, s.pilot_seeds))} (whole generator "
        "replicates), which every comparison then leaves out"
        if s.pilot_seeds
        else "declared in the config before the run, `statistics.primary`"
    )
    text = [
        f"**The primary question** ({how}; one test at α = {s.alpha:g}, no multiplicity penalty): "
        f"{_cell_words(r)} against the reference `{r['reference']}`: does the test AUC change?",
        f"Test AUC {_f(r['mean'])} against {_f(r['reference_mean'])}: Δ AUC = {float(r['diff_mean']):+.3f} "
        f"({100 * s.level:g} % CI {_signed(r['diff_ci_low'])} to {_signed(r['diff_ci_high'])}); "
        f"{_p(r['p_value'])} for a difference, {_p(r['p_tost'], 'p_TOST')} for equivalence within "
        f"±{s.equivalence_margin:g}: **{_verdict_words(r, s)}**.",
    ]
    units = "replicates" if r["variance_sources"] == VARIANCE_SOURCES["generator"] else "seeds"
    mdd, k = float(r["min_detectable_difference"]), int(r["replicates"])
    if math.isfinite(mdd):
        text.append(f"The smallest true difference this test detects with {100 * s.power:g} % power is {mdd:.3f}.")
    elif bool(_not_detectable(rows).iloc[0]):
        text.append(
            f"No AUC difference is detectable with {k} {units} at {100 * s.power:g} % power: the detectable "
            f"difference exceeds the {_f(1 - float(r['reference_mean']))} the AUC can still rise above the reference."
        )
    return " ".join(text + [_sources_text(r, s)])


def _signed(x) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):+.3f}"


def _at_n(row) -> str:
    n = row.get("fid_n")
    return f" (N = {int(n)} per side, as its floor)" if n is not None and math.isfinite(float(n)) else ""


def _span(values: pd.Series, digits: int) -> str:
    """``a`` or ``a–b`` (the range of ``values``)."""
    lo, hi = _f(values.min(), digits), _f(values.max(), digits)
    return lo if lo == hi else f"{lo}–{hi}"


def _class_over_replicates(cls: str, rows: pd.DataFrame, n_rep: int) -> str:
    """One class's weak or failed replicates in one entry: how many of each, FID ratio, precision, recall ranges."""
    counts = rows["quality"].value_counts()
    quality = ", ".join(f"{q} in {counts[q]}" for q in ("failed", "weak") if q in counts)
    return (
        f"{cls}: {quality} of {n_rep} replicates, FID {_span(rows['fid_ratio'], 1)}× the real floor"
        f"{_at_n(rows.iloc[0])}, precision {_span(rows['precision'], 2)}, recall {_span(rows['recall'], 2)}"
    )


def _generator_caveats(scores: pd.DataFrame | None, used: set[str]) -> list[str]:
    if scores is None or scores.empty or "quality" not in scores.columns:
        return []
    out = []
    for gan, group in scores[scores["gan"].isin(used)].groupby("gan", sort=True):
        bad = group[group["quality"] != "usable"]
        if bad.empty:
            continue
        several = "replicate" in group.columns and group["replicate"].nunique() > 1
        if several:  # one entry per class over its replicates (an 8-class cell: 8 entries, not 24)
            n_rep = group["replicate"].nunique()
            parts = [_class_over_replicates(cls, rows, n_rep) for cls, rows in bad.groupby("class", sort=False)]
        else:
            parts = [
                f"{r['class']}: {r['quality']}, FID {_f(r['fid'], 1)}{_at_n(r)} = {_f(r['fid_ratio'], 1)}× the "
                f"real floor, precision {_f(r['precision'], 2)}, recall {_f(r['recall'], 2)}"
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


def _overview(summary: pd.DataFrame, paired: pd.DataFrame, s: VerdictSettings, n_sel: str) -> str:
    """The paragraph that opens the secondary comparisons: the cells, the reference, how they are compared."""
    summ = summary[summary["n_real"].astype(str) == n_sel]
    ref = s.reference
    ref_rows = summ[(summ["source"] == "real") & (summ["baseline"] == ref)]
    ref_auc = _f(ref_rows["auc_mean"].iloc[0]) if len(ref_rows) else "n/a"
    n_seeds = sorted({int(v) for v in summ["n_seeds"]})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    scope = f" (n_real = {n_sel}; the other n_real values are in the tables)" if summary["n_real"].nunique() > 1 else ""
    how = (
        f"the p-values of each metric's secondary comparisons are adjusted together ({s.correction.capitalize()})"
        if s.correction != "none"
        else "the p-values are not adjusted for multiple comparisons"
    )
    text = (
        f"**Secondary comparisons.** {len(summ)} sweep cells{scope}, {seeds} seeds each. The reference is declared "
        f"in the config (`statistics.reference`), `{ref}` (test AUC {ref_auc}); every other cell is compared with "
        f"it paired by seed, the differences averaged within each generator replicate, and {how}. Threshold metrics "
        f"are read at the operating point chosen on each run's validation split (`{s.threshold}`)."
    )
    missing = missing_reference(summary, ref)
    if missing:
        k = int(summary["n_real"].astype(str).isin(missing).sum())
        text += (
            f" The reference `{ref}` did not run at n_real = {', '.join(missing)}: the {k} cells there are "
            "compared with nothing."
        )
    return text


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
        lines += [f"No comparison against the reference `{s.reference}` could be made (no real-only runs of it).", ""]
        return "\n".join(lines)
    lines += [_primary(paired, s), ""]
    n_sel = main_n_real(paired["n_real"].astype(str).unique())  # the main n_real among those compared
    summ = summary[summary["n_real"].astype(str) == n_sel]
    lines += [_overview(summary, paired, s, n_sel), ""]
    for strategy in QUESTIONS:  # both questions, also when the sweep did not ask one (the text says so)
        n_q, where = n_sel, ""
        if not ((summ["strategy"] == strategy) & (summ["source"] != "real")).any():
            # asked only at another n_real: answer there (with that n_real's reference), and say so
            other = summary.loc[(summary["strategy"] == strategy) & (summary["source"] != "real"), "n_real"]
            other = [str(v) for v in other.unique() if str(v) in set(paired["n_real"].astype(str))]
            if other:
                n_q = main_n_real(other)
                where = f" (at n_real = {n_q})"
        q_summary = summary[summary["n_real"].astype(str) == n_q]
        q_paired = paired[paired["n_real"].astype(str) == n_q]
        compared = ((paired["strategy"] == strategy) & (paired["source"] != "real")).any()
        ran = ((summary["strategy"] == strategy) & (summary["source"] != "real")).any()
        text = _question(strategy, q_summary, q_paired, s, where) if compared or not ran else ""
        lines += [text or _uncompared(strategy, summary, s), ""]
    arm = _low_data_arm(paired, s)
    if arm:
        lines += [arm, ""]
    caveats = _variance_caveats(paired)
    caveats += _generator_caveats(scores, set(summ.loc[summ["source"] != "real", "source"]))
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


def _low_data_arm(paired: pd.DataFrame, s: VerdictSettings) -> str:
    """The primary comparison at the sweep's other n_real values (the low-data arm), and which generators made
    those cells' images; '' when the primary cell ran at one n_real only."""
    if "role" not in paired.columns or not (paired["role"] == "primary").any():
        return ""
    r = paired[paired["role"] == "primary"].iloc[0]
    keys = ("baseline", "source", "strategy", "fraction")
    auc = paired[(paired["metric"] == r["metric"]) & (paired["role"] != "primary")]
    same = auc[np.logical_and.reduce([auc[k].astype(str) == str(r[k]) for k in keys])]
    if same.empty:
        return ""
    order = sorted(same["n_real"].astype(str), key=lambda n: float("inf") if n == "all" else float(n))
    parts = []
    for n in order:
        row = same[same["n_real"].astype(str) == n].iloc[0]
        mdd = float(row["min_detectable_difference"])
        parts.append(
            f"n_real = {n}: Δ AUC = {float(row['diff_mean']):+.3f} ({100 * s.level:g} % CI {_signed(row['diff_ci_low'])} "
            f"to {_signed(row['diff_ci_high'])}; test AUC {_f(row['mean'])} against {_f(row['reference_mean'])}), "
            f"{_p(row['p_adjusted'], 'adjusted p')}, **{row['verdict']}**"
            + (f", detectable {mdd:.3f}" if math.isfinite(mdd) else ", no difference detectable")
        )
    parts.append(f"n_real = {r['n_real']} (the primary, above): Δ AUC = {float(r['diff_mean']):+.3f}")
    copies = [(n, gan) for src, n, gan in s.low_data if src == str(r["source"])]
    if copies:
        made = (
            f"Below n_real all each generator replicate trained on exactly the real {s.minority_class or 'minority'} "
            f"images its classifier saw (`train_on: n_real`: GAN cells "
            + ", ".join(f"`{gan}`" for _, gan in sorted(copies, key=lambda c: int(c[0])))
            + ", their quality in gan_scores.md)."
        )
    else:
        made = (
            f"The generators of `{r['source']}` trained on every real image at every n_real (`train_on: all`): below "
            "n_real all this is an optimistic bound, images from a GAN that saw more real data than the classifier; "
            "`train_on: n_real` trains them on the classifier's own images."
        )
    return (
        f"**The low-data arm.** The primary comparison ({_cell_words(r).split(' (')[0]} against `{r['reference']}`) "
        f"at the sweep's other n_real values, each a secondary comparison ({s.correction.capitalize()}-adjusted with "
        f"the others, margin ±{s.equivalence_margin:g}): " + "; ".join(parts) + ". " + made
    )


def _variance_caveats(paired: pd.DataFrame) -> list[str]:
    """GAN comparisons whose intervals leave the generator's training variance out."""
    if "variance_sources" not in paired.columns:
        return []
    gan = paired[(paired["source"] != "real") & (paired["metric"] == "auc")]
    without = gan["variance_sources"].isin([VARIANCE_SOURCES["shared"], VARIANCE_SOURCES["unrecorded"]])
    if not without.any():
        return []
    return [
        f"{int(without.sum())} of the {len(gan)} GAN cells' comparisons have intervals over classifier seeds that share "
        "one generator: they hold classifier-seed variance only and do not say what retraining the generator "
        "would give (`variance_sources`; classifier.classifiers_per_generator sets generator replicates)."
    ]


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
