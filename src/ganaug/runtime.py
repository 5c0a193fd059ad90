"""Runtime helpers shared by every stage: device choice, seeding, threads, logging."""

from __future__ import annotations

import logging
import os
import random
import sys
from typing import Any

import numpy as np


def resolve_device(spec: str = "auto"):
    """Return a ``torch.device`` for ``spec`` ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')."""
    import torch

    spec = str(spec or "auto").lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device: {spec!r} requested but CUDA is not available (use device: auto or cpu)")
    return torch.device(spec)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def set_threads(n: int | None) -> None:
    """Limit torch's intra-op threads to the cores Snakemake granted this job."""
    import torch

    if n and n > 0:
        torch.set_num_threads(int(n))


def setup_script_logging(log_path: str | os.PathLike | None, name: str = "ganaug") -> logging.Logger:
    """Send stdout, stderr (tqdm bars included) and ``logging`` to the rule's log file."""
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)) or ".", exist_ok=True)
        fh = open(log_path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives for the job
        sys.stdout = fh
        sys.stderr = fh
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    return logging.getLogger(name)


def run_script(main, snakemake: Any) -> None:
    """Run ``main(snakemake)`` with the log redirected; exceptions end up in the log as one line."""
    log = setup_script_logging(snakemake.log[0] if len(snakemake.log) else None)
    try:
        main(snakemake)
    except Exception as exc:  # one clear line in the log, then re-raise for Snakemake
        log.error("%s: %s", type(exc).__name__, exc)
        raise
