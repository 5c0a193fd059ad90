"""Statistics over seeds (ganaug.stats) and the report's summary / paired-difference tables, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ganaug import report
from ganaug.classifier.evaluate import auc_score
from ganaug.stats import (
    binary_auc_rows,
    bootstrap_auc_ci,
    bootstrap_auc_samples,
    mean_ci,
    paired_difference,
    verdict,
)

T975_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables: 4.303)


def test_mean_ci_hand_computed():
    s = mean_ci([0.80, 0.82, 0.84])
    # mean 0.82; std sqrt((0.02^2 + 0 + 0.02^2) / 2) = 0.02; half width 4.3027 * 0.02 / sqrt(3) = 0.049683
    assert s["n"] == 3
    assert s["mean"] == pytest.approx(0.82)
    assert s["std"] == pytest.approx(0.02)
    assert s["ci_low"] == pytest.approx(0.82 - 0.049683, abs=1e-6)
    assert s["ci_high"] == pytest.approx(0.82 + 0.049683, abs=1e-6)
    assert s["ci_high"] - s["mean"] == pytest.approx(T975_2 * 0.02 / math.sqrt(3))
    # two values: t(0.975, 1) = 12.706; 90 % level: t(0.95, 2) = 2.920
    assert mean_ci([1.0, 3.0])["ci_high"] == pytest.approx(2.0 + 12.7062047 * math.sqrt(2) / math.sqrt(2), abs=1e-6)
    assert mean_ci([0.80, 0.82, 0.84], level=0.90)["ci_high"] == pytest.approx(0.82 + 2.9199856 * 0.02 / math.sqrt(3))
    # NaN values are dropped; one value has no spread; none has no mean
    assert mean_ci([0.5, float("nan"), 0.7])["n"] == 2
    one = mean_ci([0.7])
    assert one["mean"] == 0.7 and math.isnan(one["std"]) and math.isnan(one["ci_low"])
    assert math.isnan(mean_ci([])["mean"])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=95)


def test_paired_difference_hand_computed():
    cell = {0: 0.85, 1: 0.86, 2: 0.90}
    base = {0: 0.80, 1: 0.82, 2: 0.84, 3: 0.99}  # seed 3 has no partner and is left out
    d = paired_difference(cell, base)
    # differences 0.05, 0.04, 0.06: mean 0.05, std 0.01, half width 4.3027 * 0.01 / sqrt(3) = 0.024842
    assert d["n_pairs"] == 3
    assert d["diff_mean"] == pytest.approx(0.05)
    assert d["diff_std"] == pytest.approx(0.01)
    assert (d["diff_ci_low"], d["diff_ci_high"]) == pytest.approx((0.025158, 0.074842), abs=1e-6)
    assert d["verdict"] == "better"
    assert paired_difference(base, cell)["verdict"] == "worse"
    # differences 0.01, -0.02, 0.04: mean 0.01, std 0.03, half width 0.074524 -> [-0.0645, 0.0845]
    mixed = paired_difference({0: 0.81, 1: 0.80, 2: 0.88}, base)
    assert mixed["diff_mean"] == pytest.approx(0.01) and mixed["diff_std"] == pytest.approx(0.03)
    assert mixed["diff_ci_low"] == pytest.approx(0.01 - 0.074524, abs=1e-6)
    assert mixed["verdict"] == "inconclusive"
    # pairing matters: the unpaired CIs of cell and base overlap, the paired one excludes 0
    a, b = mean_ci(list(cell.values())), mean_ci([0.80, 0.82, 0.84])
    assert a["ci_low"] < b["ci_high"]
    single = paired_difference({0: 0.9}, {0: 0.8})
    assert single["n_pairs"] == 1 and math.isnan(single["diff_ci_low"]) and single["verdict"] == "inconclusive"


def test_verdict():
    assert verdict(0.01, 0.2) == "better"
    assert verdict(-0.2, -0.01) == "worse"
    assert verdict(-0.1, 0.1) == verdict(0.0, 0.1) == verdict(float("nan"), float("nan")) == "inconclusive"


# --------------------------------------------------------------------------- bootstrap
def test_binary_auc_rows_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((5, 30)), 1)  # many ties
    y = np.r_[np.zeros(12), np.ones(18)].astype(bool)
    got = binary_auc_rows(scores[:, y], scores[:, ~y])
    want = [roc_auc_score(y, s) for s in scores]
    np.testing.assert_allclose(got, want, atol=1e-12)
    # hand computed: positives {0.4, 0.9} vs negatives {0.1, 0.6}: 3 of 4 pairs; a tie counts 1/2
    assert binary_auc_rows([0.4, 0.9], [0.1, 0.6])[0] == pytest.approx(0.75)
    assert binary_auc_rows([0.6, 0.9], [0.1, 0.6])[0] == pytest.approx(0.875)


def _reference_bootstrap(probs, y, n_boot, seed, pos=1):
    """The same stratified resamples, one sklearn AUC at a time."""
    rng = np.random.default_rng(seed)
    draws = {
        c: rng.choice(np.flatnonzero(y == c), size=(n_boot, int((y == c).sum())), replace=True) for c in np.unique(y)
    }
    out = []
    for b in range(n_boot):
        idx = np.concatenate([draws[c][b] for c in sorted(draws)])
        out.append(
            roc_auc_score(y[idx] == pos, probs[idx, pos]) if probs.shape[1] == 2 else auc_score(probs[idx], y[idx])
        )
    return np.array(out)


def test_bootstrap_auc_binary():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(40, int), np.ones(80, int)]
    p1 = np.clip(0.35 * y + 0.65 * rng.random(len(y)), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    samples = bootstrap_auc_samples(probs, y, n_boot=300, seed=7)
    np.testing.assert_allclose(samples, _reference_bootstrap(probs, y, 300, 7), atol=1e-12)
    lo, hi = bootstrap_auc_ci(probs, y, n_boot=300, seed=7)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(samples, [0.025, 0.975])))
    point = roc_auc_score(y, p1)
    assert lo < point < hi and 0.05 < hi - lo < 0.4
    assert bootstrap_auc_ci(probs, y, n_boot=300, seed=7) == (lo, hi)  # seeded
    assert bootstrap_auc_ci(probs, y, n_boot=300, seed=8) != (lo, hi)
    # the positive class does not change a binary AUC
    assert bootstrap_auc_ci(probs, y, n_boot=300, seed=7, positive_index=0) == pytest.approx((lo, hi))
    # a perfect ranking stays perfect in every stratified resample (both classes always present)
    perfect = np.stack([1 - y, y], axis=1).astype(float)
    assert bootstrap_auc_ci(perfect, y, n_boot=50) == (1.0, 1.0)
    # one class only: undefined
    assert all(math.isnan(v) for v in bootstrap_auc_ci(probs[y == 1], y[y == 1], n_boot=20))


def test_bootstrap_auc_multiclass_matches_reference():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [15, 25, 20])
    logits = rng.normal(size=(len(y), 3)) + 1.5 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    samples = bootstrap_auc_samples(probs, y, n_boot=60, seed=3)
    np.testing.assert_allclose(samples, _reference_bootstrap(probs, y, 60, 3), atol=1e-12)


# --------------------------------------------------------------------------- report tables
def _runs() -> pd.DataFrame:
    """Hand-made runs: two real-only baselines, one GAN cell, at n_real all; one baseline and one GAN cell at n_real 50."""
    rows = []

    def add(baseline, source, strategy, fraction, n_real, aucs, recalls):
        for seed, (auc, rec) in enumerate(zip(aucs, recalls)):
            rows.append(
                dict(
                    baseline=baseline,
                    source=source,
                    strategy=strategy,
                    fraction=fraction,
                    n_real=n_real,
                    seed=seed,
                    auc=auc,
                    balanced_accuracy=auc - 0.1,
                    recall_NORMAL=rec,
                )
            )

    add("none", "real", "none", 0.0, "all", [0.80, 0.82, 0.84], [0.30, 0.35, 0.40])
    add("oversample", "real", "none", 0.0, "all", [0.78, 0.80, 0.79], [0.50, 0.55, 0.60])
    add("none", "dcgan", "replace", 1.0, "all", [0.85, 0.86, 0.90], [0.30, 0.34, 0.41])
    add("oversample", "real", "none", 0.0, "50", [0.70, 0.71, 0.72], [0.20, 0.20, 0.20])
    add("none", "dcgan", "balance", 1.0, "50", [0.68, 0.69, 0.70], [0.40, 0.50, 0.60])
    return pd.DataFrame(rows)


def test_summary_and_paired_differences_hand_computed(tmp_path):
    runs = _runs()
    summary = report.summarise_runs(runs, minority_class="NORMAL")
    assert list(summary["n_real"]) == ["50", "50", "all", "all", "all"]  # n_real ascending, real-only first
    row = summary[(summary["baseline"] == "none") & (summary["source"] == "real")].iloc[0]
    assert row["n_seeds"] == 3
    assert (row["auc_mean"], row["auc_std"]) == pytest.approx((0.82, 0.02))
    assert (row["auc_ci_low"], row["auc_ci_high"]) == pytest.approx((0.770317, 0.869683), abs=1e-6)
    assert report.best_baselines(summary) == {"all": "none", "50": "oversample"}  # 0.82 > 0.79; the only one at 50

    paired = report.paired_differences(runs, minority_class="NORMAL")
    assert set(paired["metric"]) == {"auc", "balanced_accuracy", "recall_NORMAL"}
    # no row for the reference itself; every other cell x 3 metrics
    assert len(paired) == 3 * 3
    gan = paired[(paired["source"] == "dcgan") & (paired["n_real"] == "all")].set_index("metric")
    assert gan.loc["auc", "reference"] == "none"
    assert gan.loc["auc", "diff_mean"] == pytest.approx(0.05)
    assert (gan.loc["auc", "diff_ci_low"], gan.loc["auc", "diff_ci_high"]) == pytest.approx(
        (0.025158, 0.074842), abs=1e-6
    )
    assert gan.loc["auc", "verdict"] == gan.loc["balanced_accuracy", "verdict"] == "better"
    # recall differences 0, -0.01, 0.01: mean 0 -> inconclusive
    assert gan.loc["recall_NORMAL", "diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert gan.loc["recall_NORMAL", "verdict"] == "inconclusive"
    over = paired[(paired["baseline"] == "oversample") & (paired["n_real"] == "all")].set_index("metric")
    # AUC differences -0.02, -0.02, -0.05: mean -0.03, std 0.017321 -> [-0.073028, 0.013028]
    assert over.loc["auc", "diff_mean"] == pytest.approx(-0.03)
    assert over.loc["auc", "diff_ci_low"] == pytest.approx(-0.03 - T975_2 * 0.017320508 / math.sqrt(3), abs=1e-6)
    assert over.loc["auc", "verdict"] == "inconclusive"
    assert over.loc["recall_NORMAL", "verdict"] == "better"  # +0.20 every seed: std 0, CI [0.2, 0.2]
    small = paired[(paired["n_real"] == "50")].set_index("metric")
    assert small.loc["auc", "reference"] == "oversample" and small.loc["auc", "verdict"] == "worse"  # -0.02 each seed

    report.write_summary(summary, tmp_path / "s.csv", tmp_path / "s.md", minority_class="NORMAL")
    report.write_paired(paired, tmp_path / "p.csv", tmp_path / "p.md")
    assert "0.820 ± 0.020 [0.770, 0.870]" in (tmp_path / "s.md").read_text()
    md = (tmp_path / "p.md").read_text()
    assert "+0.050 [0.025, 0.075]" in md and "better 4, worse 2, inconclusive 3" in md
    back = pd.read_csv(tmp_path / "p.csv")
    assert set(back["verdict"]) <= {"better", "worse", "inconclusive"}

    for name, draw in (
        ("fraction.png", lambda p: report.plot_metrics_vs_fraction(summary, p, "NORMAL", "PNEUMONIA")),
        ("delta.png", lambda p: report.plot_delta_vs_n_real(paired, p)),
    ):
        draw(tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_table_fills_keys_of_old_records(tmp_path):
    import json

    old = {"source": "real", "fraction": 0.0, "seed": 0, "auc": 0.8, "confusion": [[1, 0], [0, 1]]}
    new = {
        "baseline": "classic",
        "source": "dcgan",
        "strategy": "balance",
        "fraction": 1.0,
        "n_real": "50",
        "seed": 1,
        "auc": 0.7,
    }
    paths = []
    for i, rec in enumerate((new, old)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(rec))
    runs = report.classifier_runs_table(paths)
    assert list(runs.columns[:6]) == ["baseline", "source", "strategy", "fraction", "n_real", "seed"]
    assert runs[["baseline", "source", "strategy", "n_real"]].values.tolist() == [
        ["classic", "dcgan", "balance", "50"],
        ["none", "real", "none", "all"],
    ]
    assert "confusion" not in runs
