"""Checkpoints and resume of GAN training: what is saved, when a saved state may be resumed.

Every ``sample_every`` steps (and at the last step) the loop writes, atomically,
into ``work_dir`` (default ``out_dir/train_state``)

* ``g_step{step:06d}.pt``: the sampling weights (EMA if on, else G) at that step;
* ``state.pt``: G, D, EMA, both optimisers, every RNG state (data order,
  noise, augmentation), the loss history and the step counter
  (:meth:`~ganaug.gan.state.TrainingState.state_dict`).

When called again with the same settings, data and seed (a :func:`fingerprint`
of all three is stored), training resumes from ``state.pt``; the result is the
same as an uninterrupted run (CPU; bit-identical weights). ``work_dir`` is not
a Snakemake output, so Snakemake's clean-up of a failed job's outputs leaves it
in place for the rerun. A mismatching fingerprint starts over (:func:`resume`).

A new piece of training state (an optimiser, a scheduler, a random stream)
goes into :class:`~ganaug.gan.state.TrainingState`: its ``state_dict`` / ``load_state_dict``
are the one place that decides what a checkpoint holds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from ganaug.io import torch_load, torch_save

from .state import TrainingState

#: settings that do not change the trained weights (left out of the resume fingerprint)
NOT_TRAINING = ("log_every", "select", "mode", "seed")
STATE_FILE = "state.pt"


def fingerprint(cfg: dict, mode: str, seed: int, images: np.ndarray, labels: np.ndarray, class_names) -> str:
    """Hash of everything that determines the trained weights (resume only from a matching state)."""
    h = hashlib.sha256()
    settings = {k: v for k, v in cfg.items() if k not in NOT_TRAINING}
    h.update(json.dumps([settings, mode, int(seed), list(map(str, class_names))], sort_keys=True).encode())
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    if cfg.get("init_from") is not None:  # transfer: the starting weights determine the result too
        h.update(Path(cfg["init_from"]).read_bytes())
    return h.hexdigest()


def snapshot_path(work_dir: Path, step: int) -> Path:
    return work_dir / f"g_step{step:06d}.pt"


def resume(state: TrainingState, work_dir: Path, fp: str, meta: dict, total_steps: int) -> int:
    """Load ``work_dir/state.pt`` into ``state`` if its fingerprint is ``fp``; returns the step to continue from.

    A state saved for other settings or data is removed with the rest of
    ``work_dir`` (start over, step 0). Snapshots written after the saved state
    are deleted: the loop replays those steps. ``meta`` gets the saved ``ae_*``
    entries (BAGAN pre-training, not repeated on resume).
    """
    state_path = work_dir / STATE_FILE
    start_step = 0
    if state_path.exists():
        saved = torch_load(state_path, map_location="cpu")
        if isinstance(saved, dict) and saved.get("fingerprint") == fp:
            state.load_state_dict(saved)
            meta.update({k: v for k, v in saved["meta"].items() if k.startswith("ae_")})
            start_step = int(saved["step"])
            print(f"resuming from {state_path} at step {start_step} of {total_steps}", file=sys.stderr)
        else:
            print(f"{state_path}: saved for other settings or data; starting over", file=sys.stderr)
            shutil.rmtree(work_dir)
            work_dir.mkdir(parents=True)
    for stale in work_dir.glob("g_step*.pt"):  # snapshots written after the saved state: replayed
        if int(stale.stem[6:]) not in state.snapshots:
            stale.unlink()
    return start_step


def save_initial(state: TrainingState, work_dir: Path, fp: str, meta: dict) -> None:
    """Step 0 (before the first generator step): ``g_step000000.pt`` and ``state.pt``, the last good
    state until the first checkpoint. Step 0 is not listed in ``snapshots``."""
    torch_save(snapshot_path(work_dir, 0), state.sampling_module().state_dict())
    torch_save(work_dir / STATE_FILE, state.state_dict(fp, 0, meta))


def save_checkpoint(state: TrainingState, work_dir: Path, fp: str, step: int, meta: dict) -> None:
    """The sampling weights at ``step`` (listed in ``snapshots``), then ``state.pt`` to resume from."""
    torch_save(snapshot_path(work_dir, step), state.sampling_module().state_dict())
    state.snapshots.append(step)
    torch_save(work_dir / STATE_FILE, state.state_dict(fp, step, meta))


def restore_last_good(state: TrainingState, work_dir: Path) -> int:
    """After a divergence: load the weights and snapshot list of the last saved state; returns its step."""
    saved = torch_load(work_dir / STATE_FILE, map_location="cpu")
    state.load_weights(saved)
    state.snapshots = [int(s) for s in saved["snapshots"]] or [0]
    return int(saved["step"])


def load_snapshots(work_dir: Path, steps: list[int]) -> dict:
    """``{str(step): sampling weights}`` for the saved ``steps``."""
    return {str(s): torch_load(snapshot_path(work_dir, s)) for s in steps}
