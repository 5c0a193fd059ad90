"""The verdict in words (ganaug.report.verdict) and the generator-quality verdict, against hand-made tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ganaug import report
from ganaug.stats import min_detectable_difference, seeds_needed

THRESHOLDS = {
    "usable_fid_ratio": 1.5, "usable_precision": 0.5, "usable_recall": 0.3,
    "failed_fid_ratio": 4.0, "failed_precision": 0.05, "failed_recall": 0.05,
}  # fmt: skip


@pytest.mark.parametrize(
    ("ratio", "precision", "recall", "expected"),
    [
        (1.2, 0.7, 0.5, "usable"),
        (1.5, 0.5, 0.3, "usable"),  # the usable thresholds are inclusive
        (2.3, 0.17, 0.16, "weak"),  # today's per-class DCGAN on NORMAL
        (1.2, 0.7, 0.2, "weak"),  # close in FID but a narrow slice of the class
        (5.6, 0.01, 0.00, "failed"),  # today's cDCGAN
        (1.1, 0.9, 0.04, "failed"),  # recall below the failed threshold alone
        (float("nan"), 0.5, 0.5, "failed"),
    ],
)
def test_quality_verdict(ratio, precision, recall, expected):
    assert report.quality_verdict(ratio, precision, recall, THRESHOLDS) == expected


def test_add_quality_and_worst_class_per_gan():
    scores = pd.DataFrame({
        "gan": ["a", "a", "b", "b"], "class": ["N", "P", "N", "P"], "status": ["ok", "ok", "ok", "diverged"],
        "fid": [60.0, 50.0, 60.0, 50.0], "fid_floor": [50.0, 50.0, 50.0, 50.0],
        "precision": [0.6, 0.3, 0.6, 0.6], "recall": [0.4, 0.2, 0.4, 0.4],
    })  # fmt: skip
    q = report.add_quality(scores, THRESHOLDS)
    assert q["fid_ratio"].tolist() == [1.2, 1.0, 1.2, 1.0]
    assert q["quality"].tolist() == ["usable", "weak", "usable", "failed"]  # b/P diverged
    assert report.generator_quality(q) == {"a": "weak", "b": "failed"}


def _runs() -> pd.DataFrame:
    """Hand-made: two real-only baselines, two replace cells and one balance cell of GAN g, 3 seeds each.

    The tests declare oversample the reference (statistics.reference; none has the higher test AUC, 0.82 vs
    0.79: nothing is chosen on results) and the balance cell the primary question.
    """
    rows = []

    def add(baseline, source, strategy, fraction, aucs, val):
        for seed, auc in enumerate(aucs):
            rows.append(dict(baseline=baseline, source=source, strategy=strategy, fraction=fraction, n_real="all",
                             seed=seed, auc=auc, val_auc=val, ap_N=auc - 0.3))  # fmt: skip

    add("none", "real", "none", 0.0, [0.80, 0.82, 0.84], 0.83)
    add("oversample", "real", "none", 0.0, [0.78, 0.80, 0.79], 0.90)
    add("none", "g", "replace", 0.5, [0.85, 0.86, 0.90], 0.88)
    add("none", "g", "replace", 1.0, [0.70, 0.72, 0.71], 0.70)
    add("none", "g", "balance", 1.0, [0.79, 0.80, 0.81], 0.80)
    return pd.DataFrame(rows)


PRIMARY = {"baseline": "none", "source": "g", "strategy": "balance", "fraction": 1.0, "n_real": "all"}


def test_summary_text_from_a_hand_made_table():
    runs = _runs()
    summary = report.summarise_runs(runs, "N", min_seeds=3)
    declared = dict(reference="oversample", primary=PRIMARY, equivalence_margin=0.05)
    paired = report.paired_differences(runs, "N", quality={"g": "weak"}, **declared)
    auc = paired[paired["metric"] == "auc"].set_index(["strategy", "fraction"])
    # AUC vs oversample (0.78, 0.80, 0.79): replace 0.5 diffs 0.07, 0.06, 0.11 (t = 0.08 / (sd / sqrt 3) = 5.2372,
    # df 2: p = 1 - t / sqrt(t^2 + 2) = 0.034578); replace 1.0 -0.08 each seed (p = 0); balance 0.01, 0, 0.02
    # (t = sqrt 3, p = 0.225403); none 0.02, 0.02, 0.05 (t = 3, p = 0.095466). Balance is the primary: tested
    # alone. Holm over the 3 secondaries: 0, 0.034578 x 2 = 0.069156, max(0.095466, 0.069156) = 0.095466.
    sd = 0.0264575131  # of 0.07, 0.06, 0.11
    t = 0.08 / (sd / math.sqrt(3))
    assert auc.loc[("replace", 0.5), "p_adjusted"] == pytest.approx(2 * (1 - t / math.sqrt(t**2 + 2)), abs=1e-6)
    assert auc.loc[("balance", 1.0), "p_adjusted"] == pytest.approx(1 - math.sqrt(3) / math.sqrt(5), abs=1e-6)
    assert auc.loc[("balance", 1.0), "role"] == "primary" and auc.loc[("replace", 1.0), "verdict"] == "worse"
    # the primary's TOST within 0.05 (se = 0.01 / sqrt 3 = 0.0057735, df 2): t = (0.01 + 0.05) / se = 10.392,
    # (0.01 - 0.05) / se = -6.9282: p_upper = (1 - 6.9282 / sqrt 50) / 2 = 0.010102 -> equivalent within 0.05
    assert auc.loc[("balance", 1.0), "p_tost"] == pytest.approx(0.5 * (1 - 6.9282032 / math.sqrt(50)), abs=1e-6)
    assert auc.loc[("balance", 1.0), "verdict"] == "equivalent"
    mdd = min_detectable_difference(sd, 3, 0.05 / 3)

    settings = report.VerdictSettings(
        "N", "youden", min_seeds=3, shift_ratio=1.5, reference="oversample", equivalence_margin=0.05, subsample_seed=0
    )
    scores = pd.DataFrame({"gan": ["g", "g"], "class": ["N", "P"], "quality": ["weak", "usable"], "fid": [120.9, 40.0],
                           "fid_ratio": [2.325, 1.1], "precision": [0.17, 0.6], "recall": [0.16, 0.5]})  # fmt: skip
    shift = {
        "N": {"n": 117, "fid_train_train": 40.0, "fid_train_test": 100.0, "ratio": 2.5},
        "P": {"n": 125, "fid_train_train": 40.0, "fid_train_test": 44.0, "ratio": 1.1},
    }
    text = report.summary_text(summary, paired, settings, scores=scores, shift=shift)
    # the first paragraph answers the declared question: balance 1.0 vs oversample, +0.010 [-0.015, +0.035]
    assert text.startswith(
        "# Summary\n\n**The primary question** (declared in the config before the run, `statistics.primary`; one "
        "test at α = 0.05, no multiplicity penalty): g images, balance at fraction 1 (baseline none, n_real all), "
        "against the reference `oversample`: does the test AUC change? Test AUC 0.800 against 0.790: Δ AUC = +0.010 "
        "(95 % CI -0.015 to +0.035); p = 0.225 for a difference, p_TOST = 0.010 for equivalence within ±0.05: "
        "**equivalent to the reference within ±0.05 (the 90 % interval lies inside ±0.05)**."
    )  # fmt: skip
    primary_mdd = min_detectable_difference(0.01, 3, 0.05)
    assert f"The smallest true difference this test detects with 80 % power is {primary_mdd:.3f}." in text
    assert ("The runs record no generator replicate (no `replicate` column: every seed used the one generator of its "
            "GAN cell), so the interval is over the 3 classifier seeds and contains classifier-seed variance only, "
            "not the generator's; the real training subsample is fixed (`experiment.subsample.seed` = 0)") in text  # fmt: skip
    assert ("**Secondary comparisons.** 5 sweep cells, 3 seeds each. The reference is declared in the config "
            "(`statistics.reference`), `oversample` (test AUC 0.790)") in text  # fmt: skip
    assert "operating point chosen on each run's validation split (`youden`)" in text
    # replace: the best cell on validation AUC is f = 0.5 (0.88 > 0.70)
    assert (
        "The best such cell on validation AUC, g at fraction 0.5 (baseline none), reaches test AUC 0.870 against "
        "0.790 for the reference: a difference of +0.080 (p = 0.069 adjusted; inconclusive)."
    ) in text
    assert (
        "Over all 2 such cells the AUC is better in 0, worse in 1, equivalent in 0, inconclusive in 1 after Holm's "
        "correction over the 3 secondary AUC comparisons (α = 0.05)."
    ) in text
    assert "The average precision of N is better in 0, worse in 1, equivalent in 0, inconclusive in 1." in text
    # the median of the two replace cells' detectable differences: replace 1.0 has std 0, so 0 is one of them
    assert f"would detect with 80 % power is {mdd / 2:.3f} (median over the cells, from 0.000 to {mdd:.3f})" in text
    assert f"detecting 0.01 would take about {int(pd.Series([seeds_needed(sd, 0.01, 0.05 / 3), 2]).median())}" in text
    # balance: its one cell is the primary
    assert (
        "help? (`balance`: synthetic images added, a fraction of each class's gap to the largest class)** The only such cell is the primary one, above."
        in text
    )
    assert "GAN cells' comparisons have intervals over classifier seeds that share one generator" in text
    # caveats: the weak generator (only its weak class), the shifted class N (not P)
    assert ("Generator g is weak (N: weak, FID 120.9 = 2.3× the real floor, precision 0.17, recall 0.16): its cells "
            "show what these images do, not what a good generator's would.") in text  # fmt: skip
    assert ("The real test images of N differ from its training images: FID train vs test 100.0 against 40.0 "
            "between two halves of the training set (2.5×, 117 images per side).") in text  # fmt: skip
    assert "test images of P" not in text and "fewer than 3 seeds" not in text


def test_summary_text_names_an_unasked_question_and_too_few_seeds():
    runs = _runs()
    runs = runs[(runs["strategy"] != "balance") & (runs["seed"] < 2)]
    summary = report.summarise_runs(runs, "N", min_seeds=3)
    primary = {**PRIMARY, "strategy": "replace", "fraction": 0.5}
    paired = report.paired_differences(runs, "N", reference="oversample", primary=primary)
    settings = report.VerdictSettings("N", correction="holm", min_seeds=3, reference="oversample")
    text = report.summary_text(summary, paired, settings)
    assert "**Does adding synthetic images of the smaller classes help?" in text
    assert "The sweep ran no such cell, so it does not answer this." in text
    assert "4 cells have fewer than 3 seeds: the tables give no confidence interval for them" in text
    html = report.summary_html(text)
    assert html.count("<p>") == text.count("\n\n") and "<strong>Can synthetic images substitute" in html


def test_summary_markdown_says_when_a_cell_has_no_interval(tmp_path):
    runs = _runs()
    runs = runs[runs["seed"] < 2]
    summary = report.summarise_runs(runs, "N", min_seeds=3)
    assert summary["auc_ci_low"].isna().all() and summary["auc_std"].notna().all()
    report.write_summary(summary, tmp_path / "s.csv", tmp_path / "s.md", "N", min_seeds=3, threshold="youden")
    md = (tmp_path / "s.md").read_text()
    assert "0.810 ± 0.014 (2 seeds: no interval)" in md and "(`youden`)" in md


def test_summary_text_with_generator_replicates_and_a_missing_reference():
    """Three generator replicates of two seeds each; a second n_real where the declared reference did not run."""
    rows = []
    for seed in range(6):
        for baseline, source, strategy, fraction, n_real, auc in (
            ("classic", "real", "none", 0.0, "all", 0.80),
            ("none", "g", "balance", 1.0, "all", 0.80 + [0.03, 0.05, 0.02, 0.04, 0.04, 0.06][seed]),
            ("oversample", "real", "none", 0.0, "50", 0.70),
            ("none", "g", "balance", 1.0, "50", 0.72),
        ):
            rows.append(dict(baseline=baseline, source=source, strategy=strategy, fraction=fraction, n_real=n_real,
                             seed=seed, replicate=seed // 2, auc=auc, val_auc=auc))  # fmt: skip
    runs = pd.DataFrame(rows)
    summary = report.summarise_runs(runs, None, min_seeds=3)
    primary = {"baseline": "none", "source": "g", "strategy": "balance", "fraction": 1.0, "n_real": "all"}
    paired = report.paired_differences(runs, None, reference="classic", primary=primary)
    assert set(paired["n_real"]) == {"all"} and report.missing_reference(summary, "classic") == ["50"]
    text = report.summary_text(summary, paired, report.VerdictSettings(None, reference="classic", subsample_seed=3))
    # replicate differences 0.04, 0.03, 0.05: t = 6.9282, df 2, p = 0.020204: better; +0.040 is past the margin
    assert "Δ AUC = +0.040 (95 % CI +0.015 to +0.065); p = 0.020 for a difference" in text
    assert "**better than the reference**." in text
    assert ("The interval is over 3 generator replicates (2 classifier seeds each): it contains the variance of "
            "generator training and of classifier training (initialisation, batch order); the real training "
            "subsample is fixed (`experiment.subsample.seed` = 3)") in text  # fmt: skip
    assert "The reference `classic` did not run at n_real = 50: the 2 cells there are compared with nothing." in text
    assert "share one generator" not in text
    # a generator weak or failed in some replicates: one entry per class, with how many and the ranges
    scores = pd.DataFrame({
        "gan": ["g"] * 6, "class": ["N", "P"] * 3, "replicate": [0, 0, 1, 1, 2, 2],
        "quality": ["failed", "usable", "weak", "usable", "failed", "weak"], "fid": [300.0, 40, 90, 41, 280, 80],
        "fid_n": [40] * 6, "fid_ratio": [5.04, 1.1, 1.52, 1.12, 4.7, 1.61], "precision": [0.01, 0.6, 0.31, 0.6, 0.0, 0.4],
        "recall": [0.0, 0.5, 0.12, 0.5, 0.02, 0.2],
    })  # fmt: skip
    text = report.summary_text(summary, paired, report.VerdictSettings(None, reference="classic"), scores=scores)
    assert ("Generator g is failed (N: failed in 2, weak in 1 of 3 replicates, FID 1.5–5.0× the real floor (N = 40 "
            "per side, as its floor), precision 0.00–0.31, recall 0.00–0.12; P: weak in 1 of 3 replicates, FID "
            "1.6× the real floor (N = 40 per side, as its floor), precision 0.40, recall 0.20): its cells cannot "
            "tell whether GAN augmentation helps, only that these images do not.") in text  # fmt: skip
    # experiment.subsample.per_replicate: each replicate redrew its real training set
    settings = report.VerdictSettings(None, reference="classic", subsample_seed=3, subsample_per_replicate=True)
    text = report.summary_text(summary, paired, settings)
    assert ("generator training and of classifier training (initialisation, batch order); each generator replicate "
            "also draws its own real training subsample (`experiment.subsample.per_replicate`), so the interval "
            "contains the subsample's variance too.") in text  # fmt: skip


def test_the_low_data_arm_paragraph():
    """The primary cell at a smaller n_real is answered in its own paragraph, with the Holm-adjusted p and the
    generator it used: its low-data copy (train_on: n_real), or a note that the GAN saw every image."""
    runs = _runs()
    low = runs[runs["strategy"].isin(["none", "balance"])].assign(n_real="25")
    low.loc[low["strategy"] == "balance", "auc"] = [0.70, 0.75, 0.74]  # vs oversample at 25: 0.78, 0.80, 0.79
    runs = pd.concat([runs, low], ignore_index=True)
    summary = report.summarise_runs(runs, "N", min_seeds=3)
    paired = report.paired_differences(runs, "N", reference="oversample", primary=PRIMARY)
    row = paired[(paired["metric"] == "auc") & (paired["n_real"].astype(str) == "25") & (paired["source"] == "g")]
    assert row["diff_mean"].iloc[0] == pytest.approx(-0.06) and row["role"].iloc[0] == "secondary"
    settings = report.VerdictSettings("N", reference="oversample", low_data=(("g", "25", "g_n25"),))
    text = report.summary_text(summary, paired, settings)
    para = next(p for p in text.split("\n\n") if p.startswith("**The low-data arm.**"))
    assert para.startswith(
        "**The low-data arm.** The primary comparison (g images, balance at fraction 1 against `oversample`) at the "
        "sweep's other n_real values, each a secondary comparison (Holm-adjusted with the others, margin ±0.02): "
        "n_real = 25: Δ AUC = -0.060 (95 % CI "
    )
    assert f"adjusted p = {row['p_adjusted'].iloc[0]:.3f}, **{row['verdict'].iloc[0]}**" in para
    assert "n_real = all (the primary, above): Δ AUC = +0.010" in para
    assert "(`train_on: n_real`: GAN cells `g_n25`, their quality in gan_scores.md)" in para
    plain = report.summary_text(summary, paired, report.VerdictSettings("N", reference="oversample"))
    assert "(`train_on: all`): below n_real all this is an optimistic bound" in plain
    one_n = report.summary_text(report.summarise_runs(_runs(), "N", min_seeds=3),
                                report.paired_differences(_runs(), "N", reference="oversample", primary=PRIMARY),
                                settings)  # fmt: skip
    assert "low-data arm" not in one_n
