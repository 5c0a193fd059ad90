"""End to end: the whole DAG through `snakemake` on the tiny config, in a temp directory."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "snakemake", "all",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(workdir / "tiny.yaml"),
        *args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = SHARED / "chest_xray"
    assert data.is_dir(), f"real data missing: {data} (see ../shared/data/README.md)"
    work = tmp_path_factory.mktemp("tiny run with spaces ü")
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["datasets"]["chest_xray"]["path"] = str(data)
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(work, "--cores", "2", "--resources", "gpu=1")
    return work, proc


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

    scores = pd.read_csv(report / "gan_scores.csv")
    assert sorted(zip(scores["gan"], scores["class"])) == sorted((g, c) for g in gans for c in classes)
    assert finite(scores[["fid", "fid_floor", "msssim_generated", "msssim_real"]].to_numpy().ravel().tolist())
    assert (scores["fid"] > 0).all() and (scores["fid_n_generated"] == cfg["metrics"]["fid"]["n"]).all()
    assert scores["minority"].tolist() == [c == "NORMAL" for c in scores["class"]]

    runs = pd.read_csv(report / "classifier_runs.csv")
    n_expected = len(seeds) * (1 + (len(fractions) - 1) * len(gans))
    assert len(runs) == n_expected
    assert set(runs.loc[runs["fraction"] == 0, "source"]) == {"real"}
    assert finite(runs[["auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity"]].to_numpy().ravel().tolist())
    assert ((runs["auc"] >= 0) & (runs["auc"] <= 1)).all()
    # f = 1 trains on synthetic images only; f = 0 on real only
    full = runs[runs["fraction"] == 1.0]
    assert (full["n_synthetic"] == full["n_train"]).all()
    assert (runs.loc[runs["fraction"] == 0, "n_synthetic"] == 0).all()

    summary = pd.read_csv(report / "classifier_summary.csv")
    assert len(summary) == 1 + (len(fractions) - 1) * len(gans)
    assert (summary["n_seeds"] == len(seeds)).all()
    assert finite(summary["auc_mean"].tolist()) and finite(summary["auc_std"].tolist())

    for md in ("gan_scores.md", "classifier_summary.md"):
        text = (report / md).read_text()
        assert text.startswith("# ") and "|" in text
    for fig in ["loss_curves.png", "metrics_vs_fraction.png"] + [f"samples_{g}.png" for g in gans]:
        path = report / "figures" / fig
        assert path.stat().st_size > 5000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_artefacts_and_logs(tiny_run):
    work, _ = tiny_run
    res = work / "results"
    losses = pd.read_csv(res / "gan" / "dcgan" / "NORMAL" / "losses.csv")
    assert {"step", "loss_d", "loss_g"} <= set(losses.columns) and len(losses) > 0
    assert (res / "gan" / "cdcgan" / "conditional" / "checkpoint.pt").is_file()
    metrics = json.loads((res / "classifier" / "real" / "f0" / "seed0" / "metrics.json").read_text())
    assert metrics["source"] == "real" and metrics["n_synthetic"] == 0
    history = pd.read_csv(res / "classifier" / "real" / "f0" / "seed0" / "history.csv")
    assert metrics["selected_epoch"] == int(history.loc[history["selected"], "epoch"].iloc[0])
    manifest = pd.read_csv(res / "data" / "chest_xray" / "32px_1ch_manifest.csv")
    assert set(manifest["split"]) == {"train", "val", "test"}
    # every rule logged, the GAN log shows the progress bar
    gan_log = (res / "logs" / "train_gan" / "dcgan" / "NORMAL.log").read_text()
    steps = yaml.safe_load((work / "tiny.yaml").read_text())["gan_defaults"]["steps"]
    assert f"100%" in gan_log and f"{steps}/{steps}" in gan_log, gan_log[-2000:]
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
        sys.executable, "-m", "snakemake", target,
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(work / "tiny.yaml"), "--cores", "1",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_medmnist_download_and_prepare_through_workflow(tmp_path):
    """A medmnist dataset with no local copy is downloaded (file:// here), md5-checked and prepared."""
    import hashlib

    import numpy as np

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
    import re

    work, _ = tiny_run
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    # an override's `gans` replaces the default cells, so both cells are restated
    cfg["gans"] = {"dcgan": {"mode": "per_class"}, "cdcgan": {"mode": "conditional", "lr_g": 1.0e-4}}
    def reversed_keys(obj):  # key order in a config file must not matter
        if isinstance(obj, dict):
            return {k: reversed_keys(obj[k]) for k in reversed(list(obj))}
        return obj

    edited = work / "edited.yaml"
    edited.write_text(yaml.safe_dump(reversed_keys(cfg), sort_keys=False))
    cmd = [
        sys.executable, "-m", "snakemake", "all", "-n",
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(edited), "--cores", "2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = re.findall(r"^\s+output: (.+)$", proc.stdout, flags=re.M)
    scheduled = sorted(o.split(",")[0].strip() for o in outputs)
    n_frac = len([f for f in cfg["classifier"]["synthetic_fractions"] if f > 0])
    n_seeds = len(cfg["classifier"]["seeds"])
    expected_cell = (
        ["results/gan/cdcgan/conditional/checkpoint.pt", "results/gan/cdcgan/samples.npz"]
        + [f"results/metrics/gan/cdcgan/{c}.json" for c in ("NORMAL", "PNEUMONIA")]
    )
    for path in expected_cell:
        assert path in scheduled, (path, scheduled)
    classifier_jobs = [o for o in scheduled if o.startswith("results/classifier/")]
    assert len(classifier_jobs) == n_frac * n_seeds
    assert all(o.startswith("results/classifier/cdcgan/") for o in classifier_jobs)
    others = [o for o in scheduled if o not in expected_cell and o not in classifier_jobs]
    assert all(o.startswith("results/report/") for o in others), others
    assert "dcgan/" not in " ".join(o.replace("cdcgan/", "") for o in scheduled)
