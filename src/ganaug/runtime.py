"""Runtime helpers shared by every stage: device choice, seeding, threads, logging."""

from __future__ import annotations

import logging
import os
import random
import sys
from typing import Any

import numpy as np

from ganaug.names import AMP_MODES


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


def native_bf16(device) -> bool:
    """Whether ``device`` does bfloat16 matrix work in hardware.

    CUDA: ``torch.cuda.is_bf16_supported`` without emulation (Ampere and newer).
    CPU: an x86 CPU with AVX512-BF16 or AMX tiles (oneDNN's native bf16 kernels);
    elsewhere bf16 convolutions are emulated and no faster than float32.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # older torch: no including_emulation argument
            return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
    return False


def resolve_amp(amp: str, device) -> str:
    """The mixed precision a job uses: ``amp`` ('auto' | 'none' | 'bf16' | 'fp16') on ``device``.

    'auto' is 'bf16' where :func:`native_bf16` holds and 'none' elsewhere;
    'fp16' needs CUDA and is 'none' (float32) on other devices.
    """
    import torch

    device = torch.device(device)
    amp = str(amp)
    if amp == "auto":
        return "bf16" if native_bf16(device) else "none"
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of auto, {', '.join(AMP_MODES)}; got {amp!r}")
    if amp == "fp16" and device.type != "cuda":
        return "none"
    return amp


def autocast(device, amp: str):
    """Autocast context for a resolved ``amp`` mode (a no-op for 'none' and devices without autocast)."""
    from contextlib import nullcontext

    import torch

    device = torch.device(device)
    if amp == "none" or device.type not in ("cuda", "cpu") or (amp == "fp16" and device.type != "cuda"):
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


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
