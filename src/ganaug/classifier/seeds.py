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

* **resume** - with ``cache`` (rule train_classifier passes ``results/cache/classifier``) each
  seed's finished outputs are also kept in ``cache/<fingerprint>/``, the fingerprint being a
  hash of everything the seed's result depends on (its cell and seed, the settings, bootstrap,
  positive class, n_real class, device type, threads, determinism, the torch version and the
  *contents* of its real, data and synthetic files: :func:`seed_fingerprint`). A seed whose
  fingerprint is in the cache is copied from there instead of being trained. Snakemake deletes
  a job's outputs before it runs it and after it fails; the cache is not an output, so a job
  killed after two of three seeds, a job one of whose seeds failed, or a job re-run because a
  seed was added to ``classifier.seeds`` retrains only the seeds not yet done - and a changed
  setting or input changes the fingerprint, so nothing stale is reused. Without ``cache``
  (library use), a seed whose outputs are all there (:meth:`SeedOutputs.complete`: the five
  files exist and ``metrics.json``, written last, names the seed's cell) is not trained again;
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

import hashlib
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganaug.classifier.cell import Cell

__all__ = ["OUTPUT_FILES", "SeedOutputs", "SeedRun", "SeedsFailed", "SeedsReport", "run_seeds", "seed_fingerprint"]

#: a seed's outputs in its run folder, as rule train_classifier names them
OUTPUT_FILES = {
    "metrics": "metrics.json",
    "predictions": "predictions.csv",
    "val_predictions": "predictions_val.csv",
    "history": "history.csv",
    "confusion": "confusion.png",
}
#: where rule train_classifier keeps finished seeds by fingerprint (relative to the workflow's directory)
CACHE_DIR = "results/cache/classifier"
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
    """One seed of the cell: its coordinates, its generator replicate's samples (``None``: real only), its outputs,
    and its real training set where it is not the job's (``experiment.subsample.per_replicate``)."""

    cell: Cell
    synthetic: str | os.PathLike | None
    outputs: SeedOutputs
    real: str | os.PathLike | None = None


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

    def __init__(self, data) -> None:
        from ganaug.classifier.cell import EvalSets

        self.sets = EvalSets.load(data)
        self._sets: dict[str, Mapping[str, Any]] = {}

    def set(self, path) -> Mapping[str, Any] | None:
        """The real or synthetic set in ``path`` (``None``: none), read the first time it is asked for."""
        from ganaug.classifier.cell import load_set

        if path is None:
            return None
        key = os.fspath(path)
        if key not in self._sets:
            self._sets[key] = load_set(key)
        return self._sets[key]


def _file_digest(path, _memo: dict[str, str] = {}) -> str:  # noqa: B006 - a per-process memo on purpose
    """sha256 of a file's bytes (memoised per path, size and mtime within the process)."""
    st = os.stat(path)
    key = f"{os.fspath(path)}:{st.st_size}:{st.st_mtime_ns}"
    if key not in _memo:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _memo[key] = h.hexdigest()
    return _memo[key]


def seed_fingerprint(run: SeedRun, *, real, data, settings, bootstrap, positive_class, n_real_class, device,
                     threads, deterministic) -> str:  # fmt: skip
    """A hash of everything one seed's outputs depend on (the module docstring, "resume"): two seeds with the same
    fingerprint give the same bytes on the same kind of machine, so a cached result may stand in for training."""
    import torch

    from ganaug.config import canonical

    c = run.cell
    files = {"real": run.real if run.real is not None else real, "data": data, "synthetic": run.synthetic}
    payload = {
        "cell": [c.baseline, c.source, c.strategy, c.frac, c.n_real, c.seed],
        "settings": canonical(dict(settings)), "bootstrap": canonical(dict(bootstrap)),
        "positive_class": positive_class, "n_real_class": n_real_class, "device": str(device),
        "threads": threads, "deterministic": bool(deterministic), "torch": torch.__version__,
        "files": {k: (_file_digest(p) if p is not None else None) for k, p in files.items()},
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _restore(entry: Path, outputs: SeedOutputs) -> bool:
    """Copy a cached seed (``entry``: its five files) to its outputs, the record last; False if the entry is not whole.
    Copies, not links: each output gets the time it was written, which Snakemake compares with its inputs'."""
    names = list(OUTPUT_FILES.items())
    if not all((entry / name).is_file() for _, name in names):
        return False
    names.sort(key=lambda kv: kv[0] == "metrics")
    for key, name in names:
        dest = Path(getattr(outputs, key))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.restore")
        shutil.copyfile(entry / name, tmp)
        os.replace(tmp, dest)
    return True


def _store(entry: Path, outputs: SeedOutputs) -> None:
    """Keep a finished seed's outputs in the cache: copied into a temporary folder, renamed into place at once."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    for key, name in OUTPUT_FILES.items():
        shutil.copyfile(getattr(outputs, key), tmp / name)
    try:
        os.replace(tmp, entry)
    except OSError:  # already there (another job stored the same seed): keep that one
        shutil.rmtree(tmp, ignore_errors=True)


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
    cache: str | os.PathLike | None = None,
) -> SeedsReport:
    """Train, score and write every seed of one cell in this process (see the module docstring).

    ``runs``: the seeds (:class:`SeedRun`: cell, synthetic samples, outputs); the other
    arguments are :func:`~ganaug.classifier.cell.run_cell`'s, shared by every seed.
    ``batched``: train the seeds that need training as one batched network
    (:func:`ganaug.classifier.batched.train_batched`: not bit-identical to separate runs; one
    by one where :func:`~ganaug.classifier.batched.batch_refusal` objects or it fails).
    Returns the :class:`SeedsReport`; raises :class:`SeedsFailed` after the last seed when
    any failed. Inconsistent runs (mixed cells, repeated seeds) are refused before any
    data is read. ``cache``: the folder of finished seeds by fingerprint (the module docstring,
    "resume"); ``real`` is the real training set of every run that names none of its own.
    """
    from ganaug.classifier.cell import fetch_pretrained, train_and_evaluate, training_set
    from ganaug.runtime import resolve_device, seed_everything, set_threads

    job = _Job(_check_runs(runs), dict(settings), dict(bootstrap), positive_class, threads, deterministic, progress)
    dev = resolve_device(device)
    if cache is not None:
        fingerprint = dict(real=real, data=data, settings=job.settings, bootstrap=job.bootstrap,
                           positive_class=positive_class, n_real_class=n_real_class, device=dev.type,
                           threads=threads, deterministic=deterministic)  # fmt: skip
        job.entries = {run.cell.seed: Path(cache) / seed_fingerprint(run, **fingerprint) for run in runs}
    pending = []
    for run in runs:
        if cache is not None and _restore(job.entries[run.cell.seed], run.outputs):
            print(f"{job.name} seed {run.cell.seed}: done before (cache {job.entries[run.cell.seed]}), not retrained")
            job.report.skipped.append(run.cell.seed)
        elif cache is None and run.outputs.complete(run.cell):
            print(f"{job.name} seed {run.cell.seed}: outputs complete, not retrained")
            job.report.skipped.append(run.cell.seed)
        else:
            pending.append(run)
    if not pending:
        return job.report
    fetch_pretrained(job.settings)
    inputs = _Inputs(data)
    prepared = []
    for run in pending:
        try:
            own_real = inputs.set(run.real if run.real is not None else real)
            prepared.append((run, training_set(run.cell, own_real, inputs.set(run.synthetic), n_real_class)))
        except Exception as exc:  # this seed fails; the others go on
            job.fail(run, exc)
    if batched and len(prepared) > 1:
        prepared = _run_batched(job, prepared, inputs.sets, dev)
    for run, train in prepared:
        try:
            set_threads(threads)
            seed_everything(run.cell.seed, deterministic=deterministic)
            job.done(run, train_and_evaluate(run.cell, train, inputs.sets, job.settings, job.bootstrap,
                                             positive_class, dev, progress))  # fmt: skip
        except Exception as exc:
            job.fail(run, exc)
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
    entries: dict[int, Path] = field(default_factory=dict)  # seed -> its cache entry (with a cache)

    def done(self, run: SeedRun, result) -> None:
        """A seed is trained and scored: write its outputs (the record last), keep them in the cache (if there is
        one), count it as trained."""
        result.write(**run.outputs.paths())
        if run.cell.seed in self.entries:
            _store(self.entries[run.cell.seed], run.outputs)
        self.report.trained.append(run.cell.seed)

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
            job.done(run, evaluate_trained(run.cell, model, history, train, sets, job.settings, job.bootstrap,
                                           job.positive_class, device))  # fmt: skip
        except Exception as exc:
            job.fail(run, exc)
    return []
