"""Every classifier seed of one cell in one process: the data read once, each seed's outputs as its own job's.

Rule ``train_classifier`` runs :func:`~ganaug.classifier.cell.run_cell` once per seed, one
job each: every job pays the interpreter, the imports and the reading of the data again
(``benchmarks/README.md``, "Per-job overhead"). :func:`run_seeds` trains the seeds of one
cell (baseline x source x strategy x fraction x n_real) one after the other in the calling
process, with the real set, the validation and test splits and each generator replicate's
samples read once (seed ``s`` of a GAN cell may read another replicate's file than seed
``s + 1``: each :class:`SeedRun` names its own). Every seed is trained and scored exactly as
its own ``run_cell`` job: the process is re-seeded (``seed_everything``) and its threads set
before each seed, so on CPU the outputs are bit-identical to the separate run's (the history's
``seconds`` column aside; ``tests/test_seeds_job.py``).

Faults stay with their seed:

* **resume** - a seed whose outputs are all there (:meth:`SeedOutputs.complete`: the five
  files exist and ``metrics.json``, written last, names the seed's cell) is not trained again,
  so a job killed after two of three seeds retrains only the third;
* **atomic, as soon as done** - each seed's outputs are written (each file atomically, the
  record last: :meth:`~ganaug.classifier.cell.CellResult.write`) when that seed finishes;
* **one bad seed** - an exception in one seed is printed with its traceback and the next seed
  starts; at the end :class:`SeedsFailed` names every failed seed (the others' outputs stand).
  A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``)
  ends the job at once, as a kill would.

``batched=True`` trains the seeds that need it as one vmapped network instead
(:mod:`ganaug.classifier.batched`; not bit-identical to separate runs, see there), then scores
and writes each seed as above; where the settings cannot be batched, or batched training
raises, the seeds are trained one by one.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganaug.classifier.cell import Cell

__all__ = ["OUTPUT_FILES", "SeedOutputs", "SeedRun", "SeedsFailed", "SeedsReport", "run_seeds"]

#: a seed's outputs in its run folder, as rule train_classifier names them
OUTPUT_FILES = {
    "metrics": "metrics.json",
    "predictions": "predictions.csv",
    "val_predictions": "predictions_val.csv",
    "history": "history.csv",
    "confusion": "confusion.png",
}
#: the record's keys that name the run (``metrics.json`` of another cell or seed is not this seed's)
_IDENTITY = ("baseline", "source", "strategy", "fraction", "n_real", "seed")


@dataclass(frozen=True)
class SeedOutputs:
    """The five outputs of one seed (the arguments of :meth:`CellResult.write`)."""

    metrics: Path
    predictions: Path
    val_predictions: Path
    history: Path
    confusion: Path

    @classmethod
    def in_dir(cls, folder: str | os.PathLike) -> SeedOutputs:
        """The outputs in ``folder`` under the names rule train_classifier gives them (:data:`OUTPUT_FILES`)."""
        return cls(**{k: Path(folder) / name for k, name in OUTPUT_FILES.items()})

    def paths(self) -> dict[str, Path]:
        return {k: Path(getattr(self, k)) for k in OUTPUT_FILES}

    def complete(self, cell: Cell) -> bool:
        """All five files exist and ``metrics.json`` (written last) reads as ``cell``'s record."""
        if not all(p.is_file() for p in self.paths().values()):
            return False
        try:
            record = json.loads(Path(self.metrics).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        expected = {"baseline": cell.baseline, "source": cell.source, "strategy": cell.strategy,
                    "fraction": cell.fraction, "n_real": cell.n_real, "seed": cell.seed}  # fmt: skip
        return isinstance(record, dict) and all(record.get(k) == expected[k] for k in _IDENTITY)


@dataclass(frozen=True)
class SeedRun:
    """One seed of the cell: its coordinates, its generator replicate's samples (``None``: real only), its outputs."""

    cell: Cell
    synthetic: str | os.PathLike | None
    outputs: SeedOutputs


@dataclass
class SeedsReport:
    """What :func:`run_seeds` did, by seed: trained, skipped (outputs complete), failed (the error's line)."""

    trained: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


class SeedsFailed(RuntimeError):
    """Some seeds failed (the others finished and wrote their outputs); ``report`` says which."""

    def __init__(self, cell: str, report: SeedsReport) -> None:
        self.report = report
        lines = "; ".join(f"seed {s}: {msg}" for s, msg in sorted(report.failed.items()))
        done = sorted(report.trained + report.skipped)
        super().__init__(f"{cell}: {len(report.failed)} seed(s) failed ({lines}); seeds {done} finished")


def _check_runs(runs: Sequence[SeedRun]) -> str:
    """One cell, distinct seeds, consistent coordinates; returns the cell's name without the seed."""
    if not runs:
        raise ValueError("run_seeds: no seeds to run")
    first = runs[0].cell
    for run in runs:
        run.cell.check()
        c = run.cell
        if (c.baseline, c.source, c.strategy, c.frac, c.n_real) != (
            first.baseline, first.source, first.strategy, first.frac, first.n_real,
        ):  # fmt: skip
            raise ValueError(f"run_seeds runs the seeds of one cell: {c.title} is not a seed of {first.title}")
        if (run.synthetic is None) != (c.source == "real"):
            raise ValueError(f"seed {c.seed}: a run {'without' if c.source != 'real' else 'with'} synthetic images "
                             f"for source {c.source!r}")  # fmt: skip
    seeds = [r.cell.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"run_seeds: seeds repeat: {seeds}")
    return f"{first.baseline}/{first.source}/{first.strategy}/f{first.frac}/n{first.n_real}"


class _Inputs:
    """The data every seed shares, each file read once: real set, validation / test splits, synthetic sets by path."""

    def __init__(self, real, data) -> None:
        from ganaug.classifier.cell import EvalSets, load_set

        self.real = load_set(real)
        self.sets = EvalSets.load(data)
        self._synthetic: dict[str, Mapping[str, Any]] = {}

    def synthetic(self, path) -> Mapping[str, Any] | None:
        from ganaug.classifier.cell import load_set

        if path is None:
            return None
        key = os.fspath(path)
        if key not in self._synthetic:
            self._synthetic[key] = load_set(key)
        return self._synthetic[key]


def run_seeds(
    runs: Sequence[SeedRun],
    *,
    real: str | os.PathLike,
    data: str | os.PathLike,
    settings: Mapping[str, Any],
    bootstrap: Mapping[str, Any],
    positive_class: str,
    n_real_class: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    deterministic: bool = True,
    progress: bool = True,
    batched: bool = False,
) -> SeedsReport:
    """Train, score and write every seed of one cell in this process (see the module docstring).

    ``runs``: the seeds (:class:`SeedRun`: cell, synthetic samples, outputs); the other
    arguments are :func:`~ganaug.classifier.cell.run_cell`'s, shared by every seed.
    ``batched``: train the seeds that need training as one batched network
    (:func:`ganaug.classifier.batched.train_batched`: not bit-identical to separate runs; one
    by one where :func:`~ganaug.classifier.batched.batch_refusal` objects or it fails).
    Returns the :class:`SeedsReport`; raises :class:`SeedsFailed` after the last seed when
    any failed. Inconsistent runs (mixed cells, repeated seeds) are refused before any
    data is read.
    """
    from ganaug.classifier.cell import fetch_pretrained, train_and_evaluate, training_set
    from ganaug.runtime import resolve_device, seed_everything, set_threads

    job = _Job(_check_runs(runs), dict(settings), dict(bootstrap), positive_class, threads, deterministic, progress)
    pending = []
    for run in runs:
        if run.outputs.complete(run.cell):
            print(f"{job.name} seed {run.cell.seed}: outputs complete, not retrained")
            job.report.skipped.append(run.cell.seed)
        else:
            pending.append(run)
    if not pending:
        return job.report
    fetch_pretrained(job.settings)
    inputs = _Inputs(real, data)
    dev = resolve_device(device)
    prepared = []
    for run in pending:
        try:
            prepared.append((run, training_set(run.cell, inputs.real, inputs.synthetic(run.synthetic), n_real_class)))
        except Exception as exc:  # this seed fails; the others go on
            job.fail(run, exc)
    if batched and len(prepared) > 1:
        prepared = _run_batched(job, prepared, inputs.sets, dev)
    for run, train in prepared:
        try:
            set_threads(threads)
            seed_everything(run.cell.seed, deterministic=deterministic)
            result = train_and_evaluate(run.cell, train, inputs.sets, job.settings, job.bootstrap, positive_class, dev,
                                        progress)  # fmt: skip
            result.write(**run.outputs.paths())
        except Exception as exc:
            job.fail(run, exc)
            continue
        job.report.trained.append(run.cell.seed)
    if job.report.failed:
        raise SeedsFailed(job.name, job.report)
    return job.report


@dataclass
class _Job:
    """What every seed of the job shares, and the report it fills."""

    name: str
    settings: dict[str, Any]
    bootstrap: dict[str, Any]
    positive_class: str
    threads: int | None
    deterministic: bool
    progress: bool
    report: SeedsReport = field(default_factory=SeedsReport)

    def fail(self, run: SeedRun, exc: Exception) -> None:
        """Record and print a seed's failure (with its traceback); the job goes on with the other seeds."""
        traceback.print_exc()
        where = f" (synthetic {os.fspath(run.synthetic)})" if run.synthetic is not None else ""
        self.report.failed[run.cell.seed] = f"{type(exc).__name__}: {exc}{where}"
        print(f"{self.name} seed {run.cell.seed} failed: {self.report.failed[run.cell.seed]}; going on")


def _run_batched(job: _Job, prepared: list, sets, device) -> list:
    """Train ``prepared`` = ``[(run, training set)]`` batched, then score and write each seed; returns the seeds
    left to train one by one (all of them where the settings cannot be batched or batched training fails)."""
    from ganaug.classifier.baselines import baseline_options
    from ganaug.classifier.batched import batch_refusal, train_batched
    from ganaug.classifier.cell import describe_run, evaluate_trained
    from ganaug.runtime import seed_everything, set_threads

    reason = batch_refusal(job.settings, [len(train[0]) for _, train in prepared], device)
    if reason is not None:
        print(f"{job.name}: seeds trained one by one, not batched: {reason}")
        return prepared
    options = [baseline_options(run.cell.baseline, train[1], len(train[3])) for run, train in prepared]
    for (run, train), opt in zip(prepared, options):
        describe_run(run.cell, train, opt, device)
    set_threads(job.threads)
    seed_everything(prepared[0][0].cell.seed, deterministic=job.deterministic)
    try:
        trained = train_batched(
            [(train[0], train[1]) for _, train in prepared], sets.val_x, sets.val_y, len(prepared[0][1][3]),
            job.settings, device, [run.cell.seed for run, _ in prepared], options, progress=job.progress,
        )  # fmt: skip
    except Exception as exc:
        traceback.print_exc()
        print(f"{job.name}: batched training failed ({type(exc).__name__}: {exc}); the seeds one by one")
        return prepared
    for (run, train), (model, history) in zip(prepared, trained):
        try:
            result = evaluate_trained(run.cell, model, history, train, sets, job.settings, job.bootstrap,
                                      job.positive_class, device)  # fmt: skip
            result.write(**run.outputs.paths())
        except Exception as exc:
            job.fail(run, exc)
            continue
        job.report.trained.append(run.cell.seed)
    return []
