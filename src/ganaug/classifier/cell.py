"""One classifier run of the sweep: baseline x source x strategy x fraction x n_real x seed.

:func:`run_cell` is the whole of rule ``train_classifier`` but for reading the
Snakemake object: it checks that the cell is consistent, limits the real
images of the ``n_real`` class (nested subsets, :func:`~ganaug.classifier.mixing.limit_class`),
mixes in the synthetic images (:func:`~ganaug.classifier.mixing.mix_training_set`),
trains under the baseline's options with validation model selection, evaluates
on the test split with a bootstrap CI of the AUC and assembles the run's
record. The class probabilities of the validation and the test images are
kept too (``predictions_val.csv``, ``predictions.csv``): the report chooses each
run's decision threshold on the first and applies it to the second
(:mod:`ganaug.operating_point`), so changing that choice reruns no training.
:meth:`CellResult.write` writes the rule's outputs.

A cell is named by its path, ``{baseline}/{source}/{strategy}/f{frac}/n{n_real}/seed{seed}``;
real-only runs are ``{baseline}/real/none/f0/...`` (no mixing, shared by every
GAN and strategy). The package never imports Snakemake: everything comes in as
plain values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ganaug.names import NO_MIXING

#: the record's summary printed to the job's log
SUMMARY_KEYS = ("auc", "auc_ci_low", "auc_ci_high", "balanced_accuracy", "sensitivity", "specificity")


@dataclass(frozen=True)
class Cell:
    """A classifier run's coordinates, as in its path (``frac`` and ``n_real`` as written there)."""

    baseline: str
    source: str  # 'real' or a GAN cell
    strategy: str  # a mixing strategy, or NO_MIXING for real-only runs
    frac: str  # the synthetic fraction as in the path ('0', '0.5', '1')
    n_real: str  # 'all' or the number of real images of the n_real class
    seed: int

    @property
    def fraction(self) -> float:
        return float(self.frac)

    @property
    def title(self) -> str:
        """The confusion plot's title."""
        return (
            f"{self.baseline}, {self.source} {self.strategy}, f={self.fraction:g}, n_real={self.n_real}, "
            f"seed {self.seed}"
        )

    def check(self) -> None:
        """Raise ``ValueError`` unless real-only runs are (real, NO_MIXING, 0) and others (GAN, strategy, > 0)."""
        real = self.source == "real"
        if real != (self.strategy == NO_MIXING) or real != (self.fraction == 0.0):
            raise ValueError(
                f"inconsistent cell {self.baseline}/{self.source}/{self.strategy}/f{self.frac}: real-only runs are "
                f"source 'real', strategy '{NO_MIXING}', fraction 0; runs with synthetic images name a GAN, a "
                f"strategy and a fraction > 0"
            )


@dataclass
class CellResult:
    """What a run produces: the ``metrics.json`` record, test and validation predictions, training
    history, confusion matrix (at argmax)."""

    record: dict[str, Any]
    predictions: pd.DataFrame
    val_predictions: pd.DataFrame
    history: pd.DataFrame
    confusion: np.ndarray
    title: str

    def write(self, *, metrics, predictions, val_predictions, history, confusion) -> None:
        """Write the outputs of rule ``train_classifier`` (the metrics record last) to the given paths."""
        from ganaug.classifier.evaluate import plot_confusion
        from ganaug.io import save_dataframe, write_json

        save_dataframe(predictions, self.predictions)
        save_dataframe(val_predictions, self.val_predictions)
        save_dataframe(history, self.history)
        plot_confusion(self.confusion, self.record["classes"], confusion, title=self.title)
        write_json(metrics, self.record)
        print({k: self.record[k] for k in SUMMARY_KEYS})


def load_set(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A training-image npz (``images``, ``labels``, ``classes``), read whole: the real set or a generator's samples."""
    from ganaug.io import load_npz

    return load_npz(path, required=("images", "labels", "classes"))


def training_set(
    cell: Cell,
    real: str | os.PathLike | Mapping[str, np.ndarray],
    synthetic: str | os.PathLike | Mapping[str, np.ndarray] | None,
    n_real_class: str | None,
):
    """The cell's training set: ``(x, y, is_synthetic, classes)``.

    ``real``: npz with ``images``, ``labels``, ``classes`` (or what :func:`load_set` read
    from one); for ``n_real != 'all'`` only ``n_real`` images of ``n_real_class`` are kept
    (all if there are fewer). ``synthetic``: npz (or :func:`load_set` mapping) of generated
    images with the same classes, or ``None``. The inputs are not modified.
    """
    from ganaug.classifier.mixing import limit_class, mix_training_set

    data = real if isinstance(real, Mapping) else load_set(real)
    classes = [str(c) for c in data["classes"]]
    real_x, real_y = data["images"], data["labels"].astype(np.int64)
    if cell.n_real != "all":
        k = classes.index(n_real_class)
        available = int((real_y == k).sum())
        real_x, real_y, _ = limit_class(real_x, real_y, k, int(cell.n_real), cell.seed)
        if int(cell.n_real) > available:
            print(f"n_real {cell.n_real} > the {available} real {n_real_class} images: all are used")
    synth_x = synth_y = None
    if isinstance(synthetic, Mapping) or synthetic:
        synth = synthetic if isinstance(synthetic, Mapping) else load_set(synthetic)
        if [str(c) for c in synth["classes"]] != classes:
            name = "the synthetic set" if isinstance(synthetic, Mapping) else synthetic
            raise ValueError(f"{name}: classes {list(synth['classes'])} differ from the real set's {classes}")
        synth_x, synth_y = synth["images"], synth["labels"]
    strategy = "replace" if cell.strategy == NO_MIXING else cell.strategy
    x, y, is_synth = mix_training_set(real_x, real_y, synth_x, synth_y, cell.fraction, cell.seed, strategy=strategy)
    return x, y, is_synth, classes


@dataclass(frozen=True)
class EvalSets:
    """The prepared dataset's validation (model selection, ``predictions_val.csv``) and test splits."""

    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    @classmethod
    def load(cls, data: str | os.PathLike) -> EvalSets:
        from ganaug.data import load_prepared

        val_x, val_y, _ = load_prepared(data, "val")
        test_x, test_y, _ = load_prepared(data, "test")
        return cls(val_x, val_y, test_x, test_y)


def _record(cell: Cell, y, is_synth, classes, metrics, confusion, ci, bootstrap, history, amp, device) -> dict:
    """The run's ``metrics.json``: coordinates, training-set counts, test metrics, AUC CI, selection."""
    counts = {f"n_train_{c}": int((y == k).sum()) for k, c in enumerate(classes)}
    counts.update({f"n_synthetic_{c}": int(((y == k) & is_synth).sum()) for k, c in enumerate(classes)})
    counts.update({f"n_real_{c}": int(((y == k) & ~is_synth).sum()) for k, c in enumerate(classes)})
    return {
        "baseline": cell.baseline,
        "source": cell.source,
        "strategy": cell.strategy,
        "fraction": cell.fraction,
        "n_real": cell.n_real,
        "seed": cell.seed,
        "n_train": int(len(y)),
        "n_synthetic": int(is_synth.sum()),
        **counts,
        **{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()},
        "auc_ci_low": ci[0],
        "auc_ci_high": ci[1],
        "auc_ci_level": float(bootstrap["level"]),
        "auc_ci_bootstrap_n": int(bootstrap["n"]),
        "selected_epoch": int(history.loc[history["selected"], "epoch"].iloc[0]),
        "amp": amp,
        "device": str(device),
        "confusion": np.asarray(confusion).tolist(),
        "classes": classes,
    }


def run_cell(
    cell: Cell,
    *,
    real: str | os.PathLike,
    data: str | os.PathLike,
    synthetic: str | os.PathLike | None,
    settings: Mapping[str, Any],
    bootstrap: Mapping[str, Any],
    positive_class: str,
    n_real_class: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    deterministic: bool = True,
    progress: bool = True,
) -> CellResult:
    """Train and evaluate one classifier run (see the module docstring); returns its :class:`CellResult`.

    ``real``: the real training set (npz ``images``, ``labels``, ``classes``);
    ``data``: the prepared dataset (its ``val`` and ``test`` splits);
    ``synthetic``: the GAN cell's samples or ``None`` (real-only runs).
    ``settings``: the classifier settings (:func:`~ganaug.classifier.train.train_classifier`'s
    ``cfg``, with ``amp``); ``bootstrap``: ``n``, ``level``, ``seed`` of the AUC CI.
    ``device`` ('auto', 'cpu', 'cuda', ...), ``threads`` (torch intra-op threads)
    and ``deterministic`` (cuDNN) set up the process as the rule's job.
    """
    from ganaug.runtime import resolve_device, seed_everything, set_threads

    cell.check()
    settings, bootstrap = dict(settings), dict(bootstrap)
    fetch_pretrained(settings)
    train = training_set(cell, real, synthetic, n_real_class)
    sets = EvalSets.load(data)

    set_threads(threads)
    seed_everything(cell.seed, deterministic=deterministic)
    return train_and_evaluate(cell, train, sets, settings, bootstrap, positive_class, resolve_device(device), progress)


def fetch_pretrained(settings: Mapping[str, Any]) -> None:
    """ImageNet weights (``pretrained: imagenet``) from the cache; offline: one line naming the file, before any data."""
    if settings.get("pretrained", "none") == "imagenet":
        from ganaug.classifier.networks import fetch_weights

        fetch_weights(settings["arch"])


def train_and_evaluate(
    cell: Cell, train, sets: EvalSets, settings: Mapping[str, Any], bootstrap: Mapping[str, Any], positive_class: str,
    device, progress: bool = True,
) -> CellResult:  # fmt: skip
    """Train on ``train`` = :func:`training_set`'s ``(x, y, is_synthetic, classes)`` under the cell's baseline and
    evaluate (:func:`evaluate_trained`); the caller has seeded the process (``seed_everything(cell.seed)``)."""
    from ganaug.classifier.baselines import baseline_options
    from ganaug.classifier.train import train_classifier

    x, y, _, classes = train
    options = baseline_options(cell.baseline, y, len(classes))
    describe_run(cell, train, options, device)
    model, history = train_classifier(
        x, y, sets.val_x, sets.val_y, len(classes), settings, device, cell.seed, progress=progress, **options
    )
    return evaluate_trained(cell, model, history, train, sets, settings, bootstrap, positive_class, device)


def describe_run(cell: Cell, train, options: Mapping[str, Any], device) -> None:
    """The job log's line on what is trained: the cell, the training set's counts, the baseline's options."""
    x, y, is_synth, classes = train
    print(
        f"classifier {cell.baseline}/{cell.source}/{cell.strategy} f={cell.fraction:g} n_real={cell.n_real} "
        f"seed={cell.seed}: {len(x)} training images ({int(is_synth.sum())} synthetic), per class "
        f"{np.bincount(y, minlength=len(classes)).tolist()}, baseline options {options}, device {device}"
    )


def evaluate_trained(
    cell: Cell, model, history: pd.DataFrame, train, sets: EvalSets, settings: Mapping[str, Any],
    bootstrap: Mapping[str, Any], positive_class: str, device,
) -> CellResult:  # fmt: skip
    """A trained (selected) model's test and validation probabilities, test metrics, AUC CI and record."""
    from ganaug.classifier.evaluate import evaluate, predict_proba, predictions_frame
    from ganaug.runtime import resolve_amp
    from ganaug.stats import bootstrap_auc_ci

    _, y, is_synth, classes = train
    probs = predict_proba(model, sets.test_x, device, amp=settings["amp"])
    val_probs = predict_proba(model, sets.val_x, device, amp=settings["amp"])
    metrics, confusion = evaluate(probs, sets.test_y, classes, positive_class)
    pos = classes.index(positive_class) if len(classes) == 2 else None
    ci = bootstrap_auc_ci(
        probs, sets.test_y, n_boot=int(bootstrap["n"]), level=float(bootstrap["level"]), seed=int(bootstrap["seed"]),
        positive_index=pos,
    )  # fmt: skip
    amp = resolve_amp(settings["amp"], device)
    record = _record(cell, y, is_synth, classes, metrics, confusion, ci, bootstrap, history, amp, device)
    return CellResult(
        record,
        predictions_frame(probs, sets.test_y, classes),
        predictions_frame(val_probs, sets.val_y, classes),
        history,
        confusion,
        cell.title,
    )
