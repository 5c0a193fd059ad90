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
) -> SeedsReport:
    """Train, score and write every seed of one cell in this process (see the module docstring).

    ``runs``: the seeds (:class:`SeedRun`: cell, synthetic samples, outputs); the other
    arguments are :func:`~ganaug.classifier.cell.run_cell`'s, shared by every seed.
    Returns the :class:`SeedsReport`; raises :class:`SeedsFailed` after the last seed when
    any failed. Inconsistent runs (mixed cells, repeated seeds) are refused before any
    data is read.
    """
    from ganaug.classifier.cell import fetch_pretrained, train_and_evaluate, training_set
    from ganaug.runtime import resolve_device, seed_everything, set_threads

    name = _check_runs(runs)
    settings, bootstrap = dict(settings), dict(bootstrap)
    report = SeedsReport()
    pending = []
    for run in runs:
        if run.outputs.complete(run.cell):
            print(f"{name} seed {run.cell.seed}: outputs complete, not retrained")
            report.skipped.append(run.cell.seed)
        else:
            pending.append(run)
    if not pending:
        return report
    fetch_pretrained(settings)
    inputs = _Inputs(real, data)
    dev = resolve_device(device)
    for run in pending:
        seed = run.cell.seed
        try:
            train = training_set(run.cell, inputs.real, inputs.synthetic(run.synthetic), n_real_class)
            set_threads(threads)
            seed_everything(seed, deterministic=deterministic)
            result = train_and_evaluate(run.cell, train, inputs.sets, settings, bootstrap, positive_class, dev,
                                        progress)  # fmt: skip
            result.write(**run.outputs.paths())
        except Exception as exc:  # this seed fails; the others go on
            traceback.print_exc()
            where = f" (synthetic {os.fspath(run.synthetic)})" if run.synthetic is not None else ""
            report.failed[seed] = f"{type(exc).__name__}: {exc}{where}"
            print(f"{name} seed {seed} failed: {report.failed[seed]}; going on with the other seeds")
            continue
        report.trained.append(seed)
    if report.failed:
        raise SeedsFailed(name, report)
    return report
