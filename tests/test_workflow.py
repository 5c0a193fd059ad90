"""End to end: the whole DAG through `snakemake` on the tiny config, in a temp directory."""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ganaug.config import generator_replicates
from helpers import REPO, job_counts, snakemake

# with pytest-xdist these tests share one worker, the one that runs the tiny DAG (conftest.tiny_run)
pytestmark = pytest.mark.xdist_group("tiny")

SHARED = REPO.parent / "shared" / "data"


# `tiny_run` (the whole tiny DAG, run once per session) is in conftest.py.


def finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


@pytest.mark.slow
def test_report_tables(tiny_run):
    work, _ = tiny_run
    report = work / "results" / "report"
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    seeds = cfg["classifier"]["seeds"]
    fractions = cfg["classifier"]["synthetic_fractions"]
    gans = ["dcgan", "cdcgan"]
    classes = ["NORMAL", "PNEUMONIA"]

    reps = [0]  # classifiers_per_generator all: one generator replicate, shared by both seeds
    scores = pd.read_csv(report / "gan_scores.csv")
    assert sorted(zip(scores["gan"], scores["replicate"], scores["class"])) == sorted(
        (g, r, c) for g in gans for r in reps for c in classes
    )
    assert finite(scores[["fid", "fid_floor", "msssim_generated", "msssim_real"]].to_numpy().ravel().tolist())
    # the FID and its floor at one N: the smallest of metrics.fid.n and the generated / train / test images
    assert (scores["fid_n"] == scores["fid_floor_n"]).all() and (scores["fid_n"] <= cfg["metrics"]["fid"]["n"]).all()
    assert (scores["fid_n"] == scores[["fid_n_generated", "fid_n_real", "fid_floor_n_test"]].min(axis=1)).all()
    matched = ["fid_inf", "fid_inf_floor", "kid_floor", "fid_full", "fid_floor_full"]
    assert finite(scores[matched].to_numpy().ravel().tolist())
    assert (scores["fid"] > 0).all() and (scores["fid_n_generated"] == cfg["metrics"]["fid"]["n"]).all()
    assert scores["minority"].tolist() == [c == "NORMAL" for c in scores["class"]]
    new_cols = [
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "nn1_accuracy",
        "memo_near_copy_fraction",
        "memo_pixel_nn_median",
        "memo_feature_nn_median",
        "fullref_psnr_mean",
        "fullref_ssim_mean",
        "fullref_ms_gmsd_mean",
        "fullref_mdsi_mean",
        "fullref_haarpsi_mean",
    ]
    assert finite(scores[new_cols].to_numpy().ravel().tolist())
    for col in ("precision", "recall", "nn1_accuracy", "memo_near_copy_fraction"):
        assert scores[col].between(0, 1).all(), col
    assert scores["mode_collapse"].isin([True, False]).all()
    # generator-quality verdict from FID / floor and precision / recall (config metrics.quality)
    assert scores["fid_ratio"].to_numpy() == pytest.approx((scores["fid"] / scores["fid_floor"]).to_numpy())
    assert scores["quality"].isin(["usable", "weak", "failed"]).all()
    # the pipeline's exact low-rank FID is pytorch-fid's value (one cell, the unmatched fid_full of every
    # extracted image: a 2048x2048 sqrtm takes ~20 s)
    from ganaug.metrics import fid_from_stats, load_stats

    gen = load_stats(work / "results/metrics/gan/dcgan/rep0/NORMAL_stats.npz")
    ref = load_stats(next((work / "results/metrics/real").glob("*/*/train_NORMAL.npz")))
    row = scores[(scores["gan"] == "dcgan") & (scores["class"] == "NORMAL")].iloc[0]
    assert row["fid_full"] == pytest.approx(fid_from_stats(gen["mu"], gen["sigma"], ref["mu"], ref["sigma"]), rel=1e-5)
    for gan in gans:
        for rep in reps:
            for cls in classes:
                base = work / "results" / "metrics" / "gan" / gan / f"rep{rep}" / cls
                assert Path(f"{base}_nearest.png").stat().st_size > 0
                assert len(pd.read_csv(f"{base}_nearest.csv")) == cfg["metrics"]["fid"]["n"]

    runs = pd.read_csv(report / "classifier_runs.csv", dtype={"n_real": str})
    baselines, extra = cfg["classifier"]["baselines"], cfg["classifier"]["extra_cells"]
    n_cells = len(baselines) + (len(fractions) - 1) * len(gans) + len(extra)
    assert len(runs) == len(seeds) * n_cells
    assert (runs["replicate"] == 0).all()  # the pairing unit: here one generator replicate for both seeds
    assert set(runs.loc[runs["fraction"] == 0, "source"]) == {"real"}
    assert set(runs.loc[runs["fraction"] == 0, "strategy"]) == {"none"}
    assert set(runs["baseline"]) == {"none", "classic", "oversample", "weighted_loss"}  # every baseline ran
    assert finite(
        runs[["auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity"]].to_numpy().ravel().tolist()
    )
    assert ((runs["auc"] >= 0) & (runs["auc"] <= 1)).all()
    # bootstrap CI of each run's test AUC
    assert ((runs["auc_ci_low"] <= runs["auc"]) & (runs["auc"] <= runs["auc_ci_high"])).all()
    # replace at f = 1 trains on synthetic images only; f = 0 on real only
    full = runs[(runs["fraction"] == 1.0) & (runs["strategy"] == "replace")]
    assert len(full) and (full["n_synthetic"] == full["n_train"]).all()
    assert (runs.loc[runs["fraction"] == 0, "n_synthetic"] == 0).all()
    # n_real = 50 keeps 50 real NORMAL images; balance at f = 1 then adds synthetic NORMAL ones up to PNEUMONIA's count
    small = runs[runs["n_real"] == "50"]
    assert len(small) == 3 * len(seeds) and (small["n_real_NORMAL"] == 50).all()
    balanced = runs[runs["strategy"] == "balance"]
    assert len(balanced) and (balanced["n_train_NORMAL"] == balanced["n_train_PNEUMONIA"]).all()
    assert (balanced["n_synthetic_NORMAL"] == balanced["n_train_PNEUMONIA"] - 50).all()

    # operating point chosen on each run's validation predictions; argmax metrics kept beside it
    assert (runs["threshold_rule"] == "youden").all() and runs["threshold"].between(0, 1).all()
    at = ["val_auc", "ap_NORMAL", "ap_PNEUMONIA", "balanced_accuracy_argmax", "recall_NORMAL_argmax"]
    assert finite(runs[at].to_numpy().ravel().tolist())
    for run_dir in {p.parent for p in (work / "results" / "classifier").rglob("metrics.json")}:
        val = pd.read_csv(run_dir / "predictions_val.csv")
        assert len(val) > 0 and list(val.columns) == list(pd.read_csv(run_dir / "predictions.csv").columns)

    summary = pd.read_csv(report / "classifier_summary.csv")
    assert len(summary) == n_cells
    assert (summary["n_seeds"] == len(seeds)).all()
    assert finite(summary[["auc_mean", "auc_std"]].to_numpy().ravel().tolist())
    # 2 seeds < statistics.min_seeds_for_ci (3): no t interval, and the table says so
    assert len(seeds) == 2 and summary[["auc_ci_low", "auc_ci_high"]].isna().all().all()
    assert "(2 seeds: no interval)" in (report / "classifier_summary.md").read_text()

    paired = pd.read_csv(report / "paired_differences.csv", dtype={"n_real": str})
    # every cell at n_real all but the declared reference (none, which has no run at n_real 50, where the extra
    # cells are), x AUC / NORMAL AP / balanced accuracy / NORMAL recall; one primary row (tiny.yaml's)
    assert len(paired) == 4 * (n_cells - len(extra) - 1) and set(paired["n_real"]) == {"all"}
    assert set(paired["metric"]) == {"auc", "ap_NORMAL", "balanced_accuracy", "recall_NORMAL"}
    assert set(paired["verdict"]) <= {"better", "worse", "equivalent", "inconclusive"}
    primary = paired[paired["role"] == "primary"]
    assert primary[["source", "strategy", "fraction", "metric"]].values.tolist() == [["dcgan", "replace", 0.5, "auc"]]
    assert paired["p_adjusted"].dropna().ge(paired["p_value"].dropna()).all()
    assert (paired.loc[paired["source"] != "real", "generator_quality"].isin(["usable", "weak", "failed"])).all()

    # the verdict in words, and the test-set shift of each class it draws on
    text = (report / "summary.md").read_text()
    assert text.startswith("# Summary\n\n**The primary question**") and "Can synthetic images substitute" in text
    assert "Does adding" in text and "The reference `none` did not run at n_real = 50" in text
    assert "<h1>Summary</h1>" in (report / "summary.html").read_text()
    for cls in classes:
        shift = json.loads(next((work / "results/metrics/real").glob(f"*/*/shift_{cls}.json")).read_text())
        assert shift["n"] == cfg["metrics"]["fid"]["n"] // 2 and shift["ratio"] > 0

    for md in ("gan_scores.md", "classifier_summary.md", "paired_differences.md"):
        text = (report / md).read_text()
        assert text.startswith("# ") and "|" in text
    assert (report / "summary.html").read_text().count('src="data:image/png;base64,') == 2
    figures = ["primary_roc_pr.png", "forest_auc.png"]
    for fig in ["loss_curves.png", "metrics_vs_fraction.png", "delta_vs_n_real.png", *figures] + [
        f"samples_{g}.png" for g in gans
    ]:
        path = report / "figures" / fig
        assert path.stat().st_size > 5000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_artefacts_and_logs(tiny_run):
    work, _ = tiny_run
    res = work / "results"
    losses = pd.read_csv(res / "gan" / "dcgan" / "rep0" / "NORMAL" / "losses.csv")
    assert {"step", "loss_d", "loss_g"} <= set(losses.columns) and len(losses) > 0
    assert (res / "gan" / "cdcgan" / "rep0" / "conditional" / "checkpoint.pt").is_file()
    run = res / "classifier" / "none" / "real" / "none" / "f0" / "nall" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["source"] == "real" and metrics["n_synthetic"] == 0 and metrics["baseline"] == "none"
    assert metrics["auc_ci_low"] <= metrics["auc"] <= metrics["auc_ci_high"]
    history = pd.read_csv(run / "history.csv")
    assert metrics["selected_epoch"] == int(history.loc[history["selected"], "epoch"].iloc[0])
    manifest = pd.read_csv(res / "data" / "chest_xray" / "32px_1ch_manifest.csv")
    assert set(manifest["split"]) == {"train", "val", "test"}
    # every rule logged, the GAN log shows the progress bar
    gan_log = (res / "logs" / "train_gan" / "dcgan" / "rep0" / "NORMAL.log").read_text()
    steps = yaml.safe_load((work / "tiny.yaml").read_text())["gan_defaults"]["steps"]
    assert "100%" in gan_log and f"{steps}/{steps}" in gan_log, gan_log[-2000:]
    # no temporary files left behind by the atomic writers
    assert not [p for p in res.rglob(".*") if p.is_file()]


@pytest.mark.slow
def test_second_run_has_nothing_to_do(tiny_run):
    work, _ = tiny_run
    proc = snakemake(work, "-n", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _medmnist_config(work: Path, md5: str) -> None:
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["datasets"]["chest_xray"]["path"] = str(SHARED / "chest_xray")
    cfg["datasets"]["breast"] = {
        "source": "medmnist",
        "url": (SHARED / "breastmnist.npz").as_uri(),
        "md5": md5,
        "class_names": ["malignant", "benign"],
    }
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))


def _run_target(work: Path, target: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "tiny.yaml"),
        "--cores",
        "1",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_medmnist_download_and_prepare_through_workflow(tmp_path):
    """A medmnist dataset with no local copy is downloaded (file:// here), md5-checked and prepared."""
    import hashlib

    src = SHARED / "breastmnist.npz"
    assert src.is_file(), f"real data missing: {src}"
    _medmnist_config(tmp_path, hashlib.md5(src.read_bytes()).hexdigest())
    proc = _run_target(tmp_path, "results/data/breast/32px_1ch.npz")
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert (tmp_path / "results" / "raw" / "breast.npz").read_bytes() == src.read_bytes()
    with np.load(tmp_path / "results" / "data" / "breast" / "32px_1ch.npz", allow_pickle=False) as data:
        assert data["train_images"].shape == (546, 32, 32, 1)
        assert list(data["classes"]) == ["malignant", "benign"]
        assert len(data["test_labels"]) == 156


def test_medmnist_md5_mismatch_fails_and_leaves_nothing(tmp_path):
    _medmnist_config(tmp_path, "0" * 32)
    proc = _run_target(tmp_path, "results/data/breast/32px_1ch.npz")
    assert proc.returncode != 0
    log = (tmp_path / "results" / "logs" / "download_dataset" / "breast.log").read_text()
    assert "md5" in log and "0" * 32 in log
    raw = tmp_path / "results" / "raw"
    assert not raw.exists() or not any(raw.iterdir())


@pytest.mark.slow
def test_editing_one_cell_reruns_only_that_cell(tiny_run):
    """Change one GAN's lr_g in a copy of the config: only that cell's jobs and the aggregation are scheduled."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    # an override's `gans` replaces the default cells, so both cells are restated
    cfg["gans"]["cdcgan"]["lr_g"] = 1.0e-4

    def reversed_keys(obj):  # key order in a config file must not matter
        if isinstance(obj, dict):
            return {k: reversed_keys(obj[k]) for k in reversed(list(obj))}
        return obj

    _, scheduled = _dry_run(work, reversed_keys(cfg), "edited.yaml", sort_keys=False)
    n_frac = len([f for f in cfg["classifier"]["synthetic_fractions"] if f > 0])
    expected_cell = [
        path
        for rep in generator_replicates(cfg)  # every generator replicate of the cell
        for path in [
            f"results/gan/cdcgan/rep{rep}/conditional/checkpoint.pt",
            f"results/gan/cdcgan/rep{rep}/conditional/fid_curve.csv",
            f"results/gan/cdcgan/rep{rep}/samples.npz",
            f"results/metrics/domain/gan/cdcgan/rep{rep}.json",
        ]
        + [f"results/metrics/gan/cdcgan/rep{rep}/{c}.json" for c in ("NORMAL", "PNEUMONIA")]
    ]
    for path in expected_cell:
        assert path in scheduled, (path, scheduled)
    classifier_jobs = [o for o in scheduled if o.startswith("results/classifier/")]
    assert cfg["classifier"].get("one_job_per", "cell") == "cell"  # one job trains both seeds of a cell
    assert len(classifier_jobs) == n_frac and all("/seed0/" in o for o in classifier_jobs), classifier_jobs
    assert all(o.startswith("results/classifier/none/cdcgan/") for o in classifier_jobs)
    others = [o for o in scheduled if o not in expected_cell and o not in classifier_jobs]
    assert all(o.startswith("results/report/") for o in others), others
    assert "dcgan/" not in " ".join(o.replace("cdcgan/", "").replace("cdcgan.", "") for o in scheduled)


@pytest.mark.slow
def test_generator_replicates_retrain_with_their_own_seed(tiny_run, tmp_path):
    """The tiny run shares one generator replicate between its seeds (classifiers_per_generator: all).
    Per-seed replicates (the default, 1): seed 1 gets replicate 1 - every GAN job again with seed
    gan.seed + 1000, and seed 1's GAN cells - while replicate 0 and every real-only run stay. Then
    seeds [0, 1] -> [0, 2] reruns only replicate 2, and every cell's job (one per cell, classifier.one_job_per)
    trains seed 2 only: seed 0 comes back from the cache byte for byte."""
    import torch

    from ganaug.io import torch_load

    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    assert cfg["classifier"]["seeds"] == [0, 1] and cfg["classifier"]["classifiers_per_generator"] == "all"
    cfg["classifier"]["classifiers_per_generator"] = 1
    runs = pd.read_csv(work / "results/report/classifier_runs.csv")
    n_gan_cells = int(((runs["seed"] == 0) & (runs["source"] != "real")).sum())

    def planned(name: str, rep: int) -> list[str]:
        rules, scheduled = _dry_run(work, cfg, name)
        gan_jobs = [o for o in scheduled if o.startswith(GAN_OUTPUTS)]
        assert gan_jobs and all(f"/rep{rep}/" in o or o.endswith(f"/rep{rep}.json") for o in gan_jobs), gan_jobs
        assert rules.count("train_gan") == 2 + 1 and rules.count("generate") == 2, rules  # dcgan: 2 classes
        classifier_jobs = [o for o in scheduled if o.startswith("results/classifier/")]
        assert classifier_jobs and all("/seed0/" in o for o in classifier_jobs), classifier_jobs  # one job per cell
        others = [o for o in scheduled if o not in gan_jobs and o not in classifier_jobs]
        assert others and all(o.startswith("results/report/") for o in others), others
        assert "domain_classifier" not in rules and "prepare_dataset" not in rules, rules
        return classifier_jobs

    # seed 1's runs with synthetic images move to replicate 1; its real-only runs read no generator
    assert len(planned("per_seed.yaml", 1)) == n_gan_cells
    target = "results/gan/cdcgan/rep1/conditional/checkpoint.pt"
    snakemake(work, "--cores", "2", configfile="per_seed.yaml", targets=(target,))
    rep0, rep1 = (torch_load(work / f"results/gan/cdcgan/rep{r}/conditional/checkpoint.pt") for r in (0, 1))
    assert rep0["G"].keys() == rep1["G"].keys()
    assert not all(torch.equal(rep0["G"][k], rep1["G"][k]) for k in rep0["G"]), "replicate 1 trained the same G"
    log = (work / "results/logs/train_gan/cdcgan/rep1/conditional.log").read_text()
    assert "generator replicate 1" in log and "seed 1000" in log, log[-2000:]
    # editing one replicate's seed: every cell's job (its outputs changed), but only seed 2 trains
    cfg["classifier"]["seeds"] = [0, 2]
    assert len(planned("seed2.yaml", 2)) == int((runs["seed"] == 0).sum())
    # run it in a copy of the tree (the other tests, on other xdist workers, read the tiny run's as it is)
    clone = tmp_path / "tree"
    shutil.copytree(work, clone, symlinks=True)
    cell = "results/classifier/none/real/none/f0/nall"
    before = {n: (clone / cell / "seed0" / n).read_bytes() for n in ("metrics.json", "predictions.csv", "history.csv")}
    snakemake(clone, "--cores", "2", configfile="seed2.yaml", targets=(f"{cell}/seed2/metrics.json",))
    log = (clone / "results/logs/train_classifier/none/real/none/f0/nall/seeds.log").read_text()
    assert "seed 0: done before (cache" in log and "seed=2:" in log and "seed=0:" not in log, log[-3000:]
    assert {n: (clone / cell / "seed0" / n).read_bytes() for n in before} == before


@pytest.mark.slow
def test_low_data_generators_train_on_the_classifiers_images(tiny_run):
    """train_on: n_real: the tiny run's dcgan cell at n_real 50 gets GAN cell dcgan_n50, whose replicate r trains on results/data/rep{r}/real_train_n50.npz - the 50 NORMAL images classifier seed r keeps - and whose
    samples that classifier cell reads; dcgan itself (n_real all) is not retrained."""
    from ganaug.classifier.cell import Cell, training_set

    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["gans"]["dcgan"]["train_on"] = "n_real"
    cfg["classifier"]["classifiers_per_generator"] = 1
    edited = work / "low_data.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "all", "-n", "--snakefile", str(REPO / "Snakefile"), "--directory",
         str(work), "--configfile", str(edited), "--cores", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert job_counts(out + proc.stderr)["low_data_subset"] == 2  # seeds [0, 1]: one replicate each
    for rep in (0, 1):  # the tiny dcgan has no transfer GAN: each class's GAN reads the low-data set
        for cls in ("NORMAL", "PNEUMONIA"):
            job = f"input: results/data/rep{rep}/real_train_n50.npz\n    output: results/gan/dcgan_n50/rep{rep}/{cls}/"
            assert job in out, out[-3000:]
    assert "output: results/gan/dcgan/rep0/NORMAL/checkpoint.pt" not in out  # replicate 0 of dcgan stands
    job = out.split("output: results/classifier/classic/dcgan/balance/f1/n50/seed0/metrics.json")[0].rsplit("rule ", 1)[
        1
    ]
    assert "results/gan/dcgan_n50/rep0/samples.npz" in job and "results/gan/dcgan_n50/rep1/samples.npz" in job, job
    assert "results/gan/dcgan/rep" not in job
    snakemake(work, "--cores", "2", configfile="low_data.yaml", targets=("results/data/rep1/real_train_n50.npz",))
    sub = np.load(work / "results/data/rep1/real_train_n50.npz", allow_pickle=False)
    real = dict(np.load(work / "results/data/real_train.npz", allow_pickle=False))
    x, y, _, _ = training_set(Cell("classic", "real", "none", "0", "50", 1), real, None, "NORMAL")  # seed 1 at n50
    assert (sub["labels"] == 0).sum() == 50
    assert np.array_equal(np.sort(sub["images"][sub["labels"] == 0].reshape(50, -1), axis=0),
                          np.sort(x[y == 0].reshape(50, -1), axis=0))  # fmt: skip
    log = (work / "results/logs/low_data_subset/rep1/n50.log").read_text()
    assert "generator replicate 1: 50 NORMAL images (n_real 50)" in log, log


@pytest.mark.slow
def test_a_real_subsample_per_replicate(tiny_run):
    """experiment.subsample.per_replicate: replicate r draws its own real training set (seed + 1000 r), which its
    GANs, their memorisation features and its classifiers read; replicate 0's draw is the shared one's."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["classifier"]["classifiers_per_generator"] = 1
    cfg["experiment"]["subsample"]["per_replicate"] = True
    rules, scheduled = _dry_run(work, cfg, "per_replicate.yaml")
    assert rules.count("subsample") == 2 and rules.count("real_train_features") == 4, rules
    assert {"results/data/rep0/real_train.npz", "results/data/rep1/real_train.npz"} <= set(scheduled)
    assert "results/gan/dcgan/rep0/NORMAL/checkpoint.pt" in scheduled  # replicate 0 retrains on its own copy
    targets = ("results/data/rep0/real_train.npz", "results/data/rep1/real_train.npz")
    snakemake(work, "--cores", "2", configfile="per_replicate.yaml", targets=targets)
    shared, rep0, rep1 = (
        np.load(work / path, allow_pickle=False)["indices"] for path in ("results/data/real_train.npz", *targets)
    )
    assert np.array_equal(rep0, shared) and len(rep1) == len(shared) and not np.array_equal(rep1, shared)


GAN_OUTPUTS = ("results/gan/", "results/metrics/gan/", "results/metrics/domain/")


@pytest.mark.slow
def test_operating_point_and_statistics_rerun_only_the_report(tiny_run):
    """Another threshold rule and another multiple-comparison correction change only the aggregation:
    the report reads the saved validation and test predictions, so no classifier is retrained."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["classifier"]["threshold"] = "sensitivity@0.9"
    cfg.setdefault("statistics", {}).update(correction="bonferroni", alpha=0.1)
    rules, _ = _dry_run(work, cfg, "threshold.yaml")
    assert [r for r in rules if r != "all"] == ["classifier_report"], rules


def _dry_run(work: Path, cfg: dict, name: str, sort_keys: bool = True) -> tuple[list[str], list[str]]:
    """Rules and first outputs of the jobs `snakemake -n` schedules in ``work`` with ``cfg`` as the config."""
    import re

    edited = work / name
    edited.write_text(yaml.safe_dump(cfg, sort_keys=sort_keys))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "all",
        "-n",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(edited),
        "--cores",
        "2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rules = re.findall(r"^rule (\w+):$", proc.stdout, flags=re.M)
    outputs = re.findall(r"^\s+output: (.+)$", proc.stdout, flags=re.M)
    return rules, sorted(o.split(",")[0].strip() for o in outputs)


@pytest.mark.slow
@pytest.mark.parametrize("change", ["edit", "add"])
def test_one_per_class_cell_schedules_only_that_cell(tiny_run, change):
    """Edit the per-class cell dcgan's lr_g, or add a cell `dcgan_lr` (dcgan with another lr_g):
    exactly that cell's jobs (one GAN per class, generate, metrics, its classifiers) and the
    aggregation are scheduled - no other GAN, no other classifier."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    classes = ["NORMAL", "PNEUMONIA"]
    cell = "dcgan" if change == "edit" else "dcgan_lr"
    cfg["gans"][cell] = {**cfg["gans"]["dcgan"], "lr_g": 1.0e-4}
    rules, scheduled = _dry_run(work, cfg, f"{change}_cell.yaml")
    reps = generator_replicates(cfg)
    must = [
        path
        for r in reps
        for path in [f"results/gan/{cell}/rep{r}/{c}/checkpoint.pt" for c in classes]
        + [f"results/gan/{cell}/rep{r}/samples.npz", f"results/metrics/domain/gan/{cell}/rep{r}.json"]
        + [f"results/metrics/gan/{cell}/rep{r}/{c}.json" for c in classes]
    ]
    for path in must:
        assert path in scheduled, (path, scheduled)
    assert rules.count("train_gan") == len(classes) * len(reps), rules
    classifier_jobs = [o for o in scheduled if o.startswith("results/classifier/")]
    assert classifier_jobs and all(f"/{cell}/" in o for o in classifier_jobs), classifier_jobs
    assert "domain_classifier" not in rules, rules  # its domain metrics (above); the domain classifier stays
    cell_jobs = [
        o for o in scheduled
        if o.startswith((f"results/gan/{cell}/", f"results/metrics/gan/{cell}/", f"results/metrics/domain/gan/{cell}/"))
    ]  # fmt: skip
    others = [o for o in scheduled if o not in cell_jobs and o not in classifier_jobs]
    assert others and all(o.startswith("results/report/") for o in others), others


@pytest.mark.slow
def test_a_transfer_cell_pretrains_once_then_fine_tunes_each_class(tiny_run):
    """`transfer:` adds one pretrain_gan job (all classes) that every class's train_gan starts from;
    no other GAN or classifier is touched, and the fine-tuned GAN really starts from it."""
    import torch

    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["gans"]["dcgan_tl"] = {**cfg["gans"]["dcgan"], "transfer": {"steps": 4, "freeze_d": 1}}
    # a conditional cell may start from the same shared GAN: no second pretrain_gan job
    cfg["gans"]["cdcgan_tl"] = {**cfg["gans"]["cdcgan"], "transfer": {"from": "dcgan_tl"}}
    rules, scheduled = _dry_run(work, cfg, "transfer.yaml")
    n_reps = len(generator_replicates(cfg))  # one shared GAN per generator replicate, retrained in each
    assert rules.count("pretrain_gan") == n_reps and rules.count("train_gan") == 3 * n_reps, rules
    assert {f"results/gan/dcgan_tl/rep{r}/transfer/base/checkpoint.pt" for r in range(n_reps)} <= set(scheduled)
    assert not [o for o in scheduled if o.startswith("results/gan/") and "_tl/" not in o]
    target = "results/gan/dcgan_tl/rep0/NORMAL/checkpoint.pt"
    snakemake(work, "--cores", "2", configfile="transfer.yaml",
              targets=(target, "results/gan/cdcgan_tl/rep0/conditional/checkpoint.pt"))  # fmt: skip
    log = (work / "results/logs/train_gan/dcgan_tl/rep0/NORMAL.log").read_text()
    assert "starting from results/gan/dcgan_tl/rep0/transfer/base/checkpoint.pt; D's first 1 stage(s) frozen" in log
    log = (work / "results/logs/train_gan/cdcgan_tl/rep0/conditional.log").read_text()
    assert "starting from results/gan/dcgan_tl/rep0/transfer/base/checkpoint.pt; D's first 0 stage(s) frozen" in log
    base = torch.load(work / "results/gan/dcgan_tl/rep0/transfer/base/checkpoint.pt", weights_only=True)
    tuned = torch.load(work / target, weights_only=True)
    first = [k for k in base["D"] if k.startswith("body.main.0.")]  # D's first stage: frozen
    assert first and all(torch.equal(base["D"][k], tuned["D"][k]) for k in first)
    assert base["meta"]["class_names"] == ["all"] and tuned["meta"]["init_from"].endswith("transfer/base/checkpoint.pt")

    # What an edit reruns (the tree now holds the shared GAN, dcgan_tl/NORMAL and cdcgan_tl):
    # the fine-tuning's own steps reach the per-class fine-tunings only, not the shared GAN nor
    # the conditional cell that starts from it; the shared GAN's transfer.steps reach both.
    def planned(edit: dict, name: str) -> tuple[list[str], list[str]]:
        edited = copy.deepcopy(cfg)
        edited["gans"]["dcgan_tl"].update(edit)
        return _dry_run(work, edited, name)

    rules, scheduled = planned({"steps": cfg["gan_defaults"]["steps"] - 1}, "finetune_steps.yaml")
    assert "pretrain_gan" not in rules, rules
    assert target in scheduled and "results/gan/dcgan_tl/rep0/PNEUMONIA/checkpoint.pt" in scheduled
    # (cdcgan_tl's later jobs never ran here, so only its training tells whether the edit reached it)
    assert "results/gan/cdcgan_tl/rep0/conditional/checkpoint.pt" not in scheduled, scheduled
    rules, scheduled = planned({"transfer": {"steps": 5, "freeze_d": 1}}, "transfer_steps.yaml")
    assert rules.count("pretrain_gan") == n_reps and target in scheduled, rules
    assert "results/gan/cdcgan_tl/rep0/conditional/checkpoint.pt" in scheduled

    # a conditional cell with its own shared GAN (transfer.steps; config.yaml's default cell): trained unconditionally
    # on every image without the cell's label settings, then started from as a conditional GAN
    own = copy.deepcopy(cfg)
    own["gans"] = {"cdcgan_own": {**cfg["gans"]["cdcgan"], "class_norm": True, "mode_seeking": 0.1,
                                  "balance_classes": True, "transfer": {"steps": 4}}}  # fmt: skip
    own["statistics"]["primary"]["source"] = "cdcgan_own"
    own["classifier"]["extra_cells"] = [c for c in cfg["classifier"]["extra_cells"] if c["source"] == "real"]
    rules, scheduled = _dry_run(work, own, "own_transfer.yaml")
    assert rules.count("pretrain_gan") == n_reps and rules.count("train_gan") == n_reps, rules
    conditional = "results/gan/cdcgan_own/rep0/conditional/checkpoint.pt"
    snakemake(work, "--cores", "2", configfile="own_transfer.yaml", targets=(conditional,))
    log = (work / "results/logs/train_gan/cdcgan_own/rep0/conditional.log").read_text()
    assert "starting from results/gan/cdcgan_own/rep0/transfer/base/checkpoint.pt; D's first 0 stage(s) frozen" in log
    base = torch.load(work / "results/gan/cdcgan_own/rep0/transfer/base/checkpoint.pt", weights_only=True)
    assert base["meta"]["class_names"] == ["all"] and not any("embed" in k for k in base["G"]), list(base["G"])[:8]


@pytest.mark.slow
def test_editing_group_pattern_reruns_the_data_stage_and_everything_after(tiny_run):
    """The groups decide the carved validation split, so a new group_pattern reruns prepare_dataset and every job
    downstream of it: the subsample, every GAN, every metric, every classifier, the report."""
    work, proc = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    assert cfg["datasets"]["chest_xray"]["group_pattern"]  # the tiny run splits by person
    cfg["datasets"]["chest_xray"]["group_pattern"] = r"(person\d+|IM-\d+)"
    rules, scheduled = _dry_run(work, cfg, "group_pattern.yaml")
    for rule in ("prepare_dataset", "subsample", "train_gan", "generate", "gan_metrics", "train_classifier",
                 "split_groups", "classifier_report"):  # fmt: skip
        assert rule in rules, (rule, rules)
    n_classifiers = len([o for o in scheduled if o.startswith("results/classifier/")])
    assert n_classifiers == job_counts(proc.stdout + proc.stderr)["train_classifier"]  # all of the tiny run's


@pytest.mark.slow
def test_changing_select_reruns_generation_not_training(tiny_run):
    """`select` picks which checkpoint generate uses: editing it must not retrain the GAN or redo its FID curve."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["gans"]["cdcgan"]["select"] = "last" if cfg["gans"]["cdcgan"].get("select") == "best_fid" else "best_fid"
    rules, scheduled = _dry_run(work, cfg, "select.yaml")
    assert "generate" in rules
    assert "train_gan" not in rules and "fid_curve" not in rules, rules
    outputs = " ".join(scheduled)
    assert "results/gan/dcgan/" not in outputs


@pytest.mark.slow
def test_a_per_class_cell_for_chosen_classes(tiny_run):
    """`classes: minority` trains, generates and scores the minority class only; its balance cell is built from
    those images, and adding a class to `classes` trains that class only (the NORMAL GAN is kept)."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["gans"]["dcgan_min"] = {**cfg["gans"]["dcgan"], "classes": "minority"}
    cfg["classifier"]["extra_cells"] = [
        {"source": "dcgan_min", "strategy": "balance", "fraction": 1.0, "n_real": 50},
        {"source": "real", "fraction": 0.0, "n_real": 50},  # the reference at that n_real
    ]
    cfg["classifier"]["synthetic_fractions"] = [0.0]  # the replace sweep would need every class of dcgan_min
    cfg["statistics"]["primary"] = {"source": "dcgan_min", "strategy": "balance", "fraction": 1.0, "n_real": 50}
    rules, scheduled = _dry_run(work, cfg, "minority.yaml")
    n_reps = len(generator_replicates(cfg))
    assert rules.count("train_gan") == n_reps and "results/gan/dcgan_min/rep0/NORMAL/checkpoint.pt" in scheduled, rules
    assert not [o for o in scheduled if "PNEUMONIA" in o and "dcgan_min/" in o], scheduled
    run = "results/classifier/none/dcgan_min/balance/f1/n50/seed0/metrics.json"
    domain = "results/metrics/domain/gan/dcgan_min/rep0.json"
    # its own outputs only: the tiny run's report tables stay as they are (test_slurm compares them)
    metrics = "results/metrics/gan/dcgan_min/rep0/NORMAL.json"
    snakemake(work, "--cores", "2", configfile="minority.yaml", targets=(run, domain, metrics))
    samples = np.load(work / "results/gan/dcgan_min/rep0/samples.npz", allow_pickle=False)
    assert set(samples["labels"].tolist()) == {0} and list(samples["classes"]) == ["NORMAL", "PNEUMONIA"]
    assert not (work / "results/metrics/gan/dcgan_min/rep0/PNEUMONIA.json").exists()
    assert json.loads((work / metrics).read_text())["class"] == "NORMAL"
    assert json.loads((work / domain).read_text())["classes"].keys() == {"NORMAL"}
    assert json.loads((work / run).read_text())["auc"] > 0
    cfg["gans"]["dcgan_min"]["classes"] = ["NORMAL", "PNEUMONIA"]
    rules, scheduled = _dry_run(work, cfg, "both.yaml")
    trained = [o for o in scheduled if o.endswith("checkpoint.pt")]
    assert trained == ["results/gan/dcgan_min/rep0/PNEUMONIA/checkpoint.pt"], trained
    shutil.rmtree(work / "results/classifier/none/dcgan_min")  # the later tests count the tiny run's classifiers


@pytest.mark.slow
def test_switching_the_classifier_arch_reruns_only_classifiers(tiny_run):
    """Another classifier network (torchvision's ResNet-18 instead of resnet18_small) reruns every classifier
    run, the domain classifier and what reads them - no data, GAN, generation or Inception-metric job. With
    ImageNet weights the weights are fetched once, by the localrule, before them."""
    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["classifier"]["arch"] = "resnet18"
    rules, scheduled = _dry_run(work, cfg, "arch.yaml")
    n_runs = len(list((work / "results" / "classifier").glob("*/*/*/*/*/*/metrics.json")))
    assert rules.count("train_classifier") * len(cfg["classifier"]["seeds"]) == n_runs > 0  # one job per cell
    assert rules.count("domain_classifier") == 1
    assert set(rules) <= {
        "all",
        "train_classifier",
        "domain_classifier",
        "domain_metrics",
        "classifier_report",
        "gan_report",
    }, rules
    assert all(o.startswith(("results/classifier/", "results/metrics/domain/", "results/report/")) for o in scheduled)

    cfg["classifier"].update(arch="resnet50", pretrained="imagenet", input_size=64, lr_backbone_mult=0.1)
    rules_pretrained, scheduled = _dry_run(work, cfg, "arch_pretrained.yaml")
    assert rules_pretrained.count("classifier_weights") == 1
    assert "results/weights/resnet50_imagenet.json" in scheduled
    assert sorted(r for r in rules_pretrained if r != "classifier_weights") == sorted(rules)


@pytest.mark.slow
def test_gan_training_artefacts(tiny_run):
    """Resumable state, snapshots, FID curve and the selection the report shows."""
    work, _ = tiny_run
    res = work / "results"
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    steps, every = cfg["gan_defaults"]["steps"], cfg["gan_defaults"]["sample_every"]
    part = res / "gan" / "cdcgan" / "rep0" / "conditional"
    assert (part / "train_state" / "state.pt").is_file()
    curve = pd.read_csv(part / "fid_curve.csv")
    assert sorted(set(curve["step"])) == list(range(every, steps + 1, every))
    assert set(curve["class"]) == {"NORMAL", "PNEUMONIA"} and (curve["fid"] > 0).all()
    selection = json.loads((res / "gan" / "cdcgan" / "rep0" / "selection.json").read_text())
    best = int(curve.groupby("step")["fid"].mean().idxmin())
    assert selection["conditional"]["step"] == best and selection["conditional"]["select"] == "best_fid"
    scores = pd.read_csv(res / "report" / "gan_scores.csv")
    assert set(scores["status"]) == {"ok"}
    assert scores.loc[scores["gan"] == "cdcgan", "selected_step"].tolist() == [best, best]
    assert (scores.loc[scores["gan"] == "dcgan", "selected_step"] == steps).all()
    assert (res / "report" / "figures" / "fid_curves.png").stat().st_size > 5000
