"""ganaug.classifier.seeds.run_seeds: every seed of a cell in one process, on real chest X-rays.

The same outputs as one run_cell job per seed (bit-identical but for the history's seconds),
resume after a kill, and one failing seed that does not take the others down.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import ganaug.classifier.cell as cell_module
from ganaug.classifier import Cell, CellResult, run_cell
from ganaug.classifier.seeds import OUTPUT_FILES, SeedOutputs, SeedRun, SeedsFailed, run_seeds
from ganaug.io import save_npz
from helpers import write_cell_inputs

CLASSES = ["NORMAL", "PNEUMONIA"]
SETTINGS = dict(arch="resnet18_small", width=8, epochs=2, batch_size=32, lr=1e-3, weight_decay=1e-4, amp="none")
BOOTSTRAP = dict(n=50, level=0.9, seed=0)
SEEDS = (0, 1, 2)
#: a GAN cell with n_real and the classic baseline: per-seed subsets, per-seed synthetic files, augmentation
CELL = ("classic", "cdcgan", "balance", "0.5", "10")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Real training npz (30 NORMAL / 40 PNEUMONIA), a prepared npz (val and test 12 + 12 each), 28 px, and two
    generator replicates' 'synthetic' NORMAL images (other real ones): rep0 for seeds 0 and 1, rep1 for seed 2."""
    return write_cell_inputs(tmp_path_factory.mktemp("seeds_inputs"), {"rep0": 20, "rep1": 20}, CLASSES)


def _synthetic(inputs, seed: int):
    return inputs / f"rep{seed // 2}.npz"


def _common(inputs, settings=SETTINGS):
    return dict(real=inputs / "real.npz", data=inputs / "prepared.npz", settings=settings, bootstrap=BOOTSTRAP,
                positive_class="PNEUMONIA", n_real_class="NORMAL", device="cpu", progress=False)  # fmt: skip


def _runs(inputs, out, seeds=SEEDS, synthetic=_synthetic):
    return [SeedRun(Cell(*CELL, s), synthetic(inputs, s), SeedOutputs.in_dir(out / f"seed{s}")) for s in seeds]


def _separate(inputs, out, settings=SETTINGS, seeds=SEEDS):
    """One run_cell per seed (as one job per seed does), written under out/seed{s}/."""
    for s in seeds:
        result = run_cell(Cell(*CELL, s), synthetic=_synthetic(inputs, s), **_common(inputs, settings))
        result.write(**SeedOutputs.in_dir(out / f"seed{s}").paths())


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("separate")
    _separate(inputs, out, seeds=SEEDS[::-1])  # the other order: nothing carries over from one seed to the next
    return out


def _assert_same(a, b, seed: int):
    """Bit-identical metrics.json, predictions.csv, predictions_val.csv; history.csv but for its seconds column."""
    for name in ("metrics.json", "predictions.csv", "predictions_val.csv"):
        assert (a / f"seed{seed}" / name).read_bytes() == (b / f"seed{seed}" / name).read_bytes(), (seed, name)
    ha, hb = (pd.read_csv(d / f"seed{seed}" / "history.csv").drop(columns="seconds") for d in (a, b))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)
    assert (b / f"seed{seed}" / "confusion.png").stat().st_size > 0


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_seeds_in_one_process_match_separate_runs(inputs, reference, tmp_path, amp, capsys):
    """Three seeds, two generator replicates' files: each seed's outputs are its own run_cell job's, bit for bit."""
    ref = reference
    if amp != "none":
        ref = tmp_path / "separate"
        _separate(inputs, ref, settings={**SETTINGS, "amp": amp})
    capsys.readouterr()
    report = run_seeds(_runs(inputs, tmp_path / "seeds"), **_common(inputs, {**SETTINGS, "amp": amp}))
    assert (report.trained, report.skipped, report.failed) == (list(SEEDS), [], {})
    for s in SEEDS:
        _assert_same(ref, tmp_path / "seeds", s)
    assert json.loads((tmp_path / "seeds/seed2/metrics.json").read_text())["n_synthetic"] > 0
    assert capsys.readouterr().out.count("training images (") == len(SEEDS)


def test_resume_after_a_kill_retrains_only_the_unfinished_seeds(inputs, reference, tmp_path, monkeypatch):
    """A kill while seed 1 writes its outputs (its predictions written, its record not): the rerun skips seed 0,
    retrains 1 and 2, and every output equals the separate runs'."""
    out = tmp_path / "seeds"
    write = CellResult.write

    def killed_in_seed_1(self, **paths):
        if self.record["seed"] == 1:
            paths["predictions"].parent.mkdir(parents=True, exist_ok=True)
            self.predictions.to_csv(paths["predictions"], index=False)
            raise KeyboardInterrupt  # not an Exception: the job ends here, as under SIGKILL
        write(self, **paths)

    monkeypatch.setattr(CellResult, "write", killed_in_seed_1)
    with pytest.raises(KeyboardInterrupt):
        run_seeds(_runs(inputs, out), **_common(inputs))
    monkeypatch.setattr(CellResult, "write", write)
    assert sorted(p.name for p in (out / "seed0").iterdir()) == sorted(OUTPUT_FILES.values())
    assert [p.name for p in (out / "seed1").iterdir()] == ["predictions.csv"]
    assert not (out / "seed2").exists()
    assert not SeedOutputs.in_dir(out / "seed1").complete(Cell(*CELL, 1))
    stamp = (out / "seed0" / "metrics.json").stat().st_mtime_ns

    trained = []
    train = cell_module.train_and_evaluate
    monkeypatch.setattr(
        cell_module, "train_and_evaluate", lambda cell, *a: trained.append(cell.seed) or train(cell, *a)
    )
    report = run_seeds(_runs(inputs, out), **_common(inputs))
    assert (report.skipped, report.trained, trained) == ([0], [1, 2], [1, 2])
    assert (out / "seed0" / "metrics.json").stat().st_mtime_ns == stamp
    for s in SEEDS:
        _assert_same(reference, out, s)
    # a record of another seed is not this seed's
    assert not SeedOutputs.in_dir(out / "seed0").complete(Cell(*CELL, 5))


def test_one_failing_seed_leaves_the_others_and_fails_the_job_naming_it(inputs, reference, tmp_path, capsys):
    """Seed 1's generator replicate has other classes: seeds 0 and 2 finish with their separate runs' outputs,
    seed 1 writes nothing, and SeedsFailed names seed 1 and its file."""
    bad = tmp_path / "rep_bad.npz"
    save_npz(bad, {"images": np.zeros((4, 28, 28, 1), np.uint8), "labels": np.zeros(4, np.int64),
                   "classes": np.array(["A", "B"])})  # fmt: skip
    out = tmp_path / "seeds"
    runs = _runs(inputs, out, synthetic=lambda d, s: bad if s == 1 else _synthetic(d, s))
    with pytest.raises(SeedsFailed, match=r"1 seed\(s\) failed \(seed 1: ValueError: .*rep_bad\.npz.*seeds \[0, 2\]"):
        run_seeds(runs, **_common(inputs))
    assert not (out / "seed1").exists()
    for s in (0, 2):
        _assert_same(reference, out, s)
    assert "Traceback" in capsys.readouterr().err


def test_the_cache_restores_finished_seeds_after_snakemake_deleted_them(inputs, reference, tmp_path, monkeypatch):
    """As rule train_classifier uses it (cache=...): a job one of whose seeds failed fails; Snakemake then deletes
    every output of the job; the rerun (the bad input mended) copies seeds 0 and 2 back from the cache byte for
    byte and trains seed 1 only. A changed setting or a changed input file's content is another fingerprint."""
    import shutil

    bad = tmp_path / "rep_bad.npz"
    save_npz(bad, {"images": np.zeros((4, 28, 28, 1), np.uint8), "labels": np.zeros(4, np.int64),
                   "classes": np.array(["A", "B"])})  # fmt: skip
    out, cache = tmp_path / "seeds", tmp_path / "cache"
    with pytest.raises(SeedsFailed, match=r"seed 1"):
        run_seeds(_runs(inputs, out, synthetic=lambda d, s: bad if s == 1 else _synthetic(d, s)),
                  **_common(inputs), cache=cache)  # fmt: skip
    assert len(list(cache.iterdir())) == 2  # seeds 0 and 2, each under its fingerprint
    shutil.rmtree(out)  # what Snakemake does with a failed job's outputs
    trained = []
    train = cell_module.train_and_evaluate
    monkeypatch.setattr(
        cell_module, "train_and_evaluate", lambda cell, *a: trained.append(cell.seed) or train(cell, *a)
    )
    report = run_seeds(_runs(inputs, out), **_common(inputs), cache=cache)
    assert (report.skipped, report.trained, trained) == ([0, 2], [1], [1])
    for seed in SEEDS:
        _assert_same(reference, out, seed)
    # the history's seconds too: a restored seed is its first run's bytes
    assert len(list(cache.iterdir())) == 3
    trained.clear()
    shutil.rmtree(out)
    run_seeds(_runs(inputs, out, seeds=(0,)), **_common(inputs, {**SETTINGS, "epochs": 1}), cache=cache)
    assert trained == [0]  # another setting: another fingerprint
    edited = tmp_path / "real_edited.npz"
    real = dict(np.load(inputs / "real.npz", allow_pickle=False))
    real["images"] = real["images"].copy()
    real["images"][0] ^= 1
    save_npz(edited, real)
    trained.clear()
    run_seeds(_runs(inputs, out, seeds=(2,)), **{**_common(inputs), "real": edited}, cache=cache)
    assert trained == [2]  # another real set's content: another fingerprint


def test_mixed_cells_and_repeated_seeds_are_refused_before_any_data_is_read(tmp_path):
    missing = tmp_path / "no such file.npz"
    kw = dict(real=missing, data=missing, settings=SETTINGS, bootstrap=BOOTSTRAP, positive_class="PNEUMONIA")
    out = SeedOutputs.in_dir(tmp_path)
    with pytest.raises(ValueError, match="runs the seeds of one cell"):
        run_seeds([SeedRun(Cell(*CELL, 0), missing, out), SeedRun(Cell("none", *CELL[1:], 1), missing, out)], **kw)
    with pytest.raises(ValueError, match=r"seeds repeat: \[0, 0\]"):
        run_seeds([SeedRun(Cell(*CELL, 0), missing, out)] * 2, **kw)
    with pytest.raises(ValueError, match="without synthetic images"):
        run_seeds([SeedRun(Cell(*CELL, 0), None, out)], **kw)
    with pytest.raises(ValueError, match="no seeds"):
        run_seeds([], **kw)


def test_batched_seeds_follow_their_separate_runs_to_rounding(inputs, reference, tmp_path, capsys):
    """batched=True: the same training sets, counts and record keys as the separate runs; the arithmetic (grouped
    kernels) differs, so the numbers agree to a tolerance only (first-epoch loss to 1e-3 - 2e-4 seen with one thread
    per xdist worker -, probabilities to 0.02)."""
    out = tmp_path / "batched"
    report = run_seeds(_runs(inputs, out), **_common(inputs), batched=True)
    assert report.trained == list(SEEDS)
    assert capsys.readouterr().out.count("training images (") == len(SEEDS)
    for s in SEEDS:
        ra, rb = (json.loads((d / f"seed{s}" / "metrics.json").read_text()) for d in (reference, out))
        assert set(ra) == set(rb)
        assert {k: ra[k] for k in ra if k.startswith("n_")} == {k: rb[k] for k in rb if k.startswith("n_")}
        ha, hb = (pd.read_csv(d / f"seed{s}" / "history.csv") for d in (reference, out))
        assert hb["train_loss"].iloc[0] == pytest.approx(ha["train_loss"].iloc[0], rel=1e-3)
        pa, pb = (pd.read_csv(d / f"seed{s}" / "predictions.csv") for d in (reference, out))
        assert pa["y_true"].equals(pb["y_true"])
        np.testing.assert_allclose(pa["p_PNEUMONIA"], pb["p_PNEUMONIA"], atol=0.02)


def test_batched_training_that_fails_falls_back_to_one_by_one(inputs, reference, tmp_path, monkeypatch, capsys):
    import ganaug.classifier.batched as batched

    def broken(*args, **kwargs):
        raise RuntimeError("no batched kernels today")

    monkeypatch.setattr(batched, "train_batched", broken)
    run_seeds(_runs(inputs, tmp_path / "seeds"), **_common(inputs), batched=True)
    assert "batched training failed (RuntimeError: no batched kernels today); the seeds one by one" in (
        capsys.readouterr().out
    )
    for s in SEEDS:
        _assert_same(reference, tmp_path / "seeds", s)
    assert batched.batch_refusal(SETTINGS, [50, 51], "cpu") == "training sets of different sizes [50, 51]"
    assert batched.batch_refusal({**SETTINGS, "arch": "resnet18"}, [50, 50], "cpu").startswith("arch resnet18")
    assert batched.batch_refusal(SETTINGS, [50, 50], "cpu") is None
