"""What a GAN training run updates: real-batch samplers, the EMA of G, and :class:`TrainingState`.

:class:`TrainingState` holds G, D, the EMA, both optimisers, the loss scalers,
the data sampler and the noise generator, plus the loss history and the
checkpoint steps. :mod:`~ganaug.gan.steps` updates it and
:mod:`~ganaug.gan.checkpoint` saves and restores it; both import this module,
which imports neither.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch


class BatchSampler:
    """Indices of real batches: consume seeded permutations, redraw one when used up."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device):
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self.perm, self.pos = None, n

    def next(self) -> torch.Tensor:
        parts, need = [], self.batch_size
        while need:
            if self.pos == self.n:
                self.perm = torch.randperm(self.n, generator=self.generator).to(self.device)
                self.pos = 0
            take = min(need, self.n - self.pos)
            parts.append(self.perm[self.pos : self.pos + take])
            self.pos += take
            need -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def state_dict(self) -> dict:
        perm = self.perm.cpu() if self.perm is not None else torch.empty(0, dtype=torch.long)
        return {"generator": self.generator.get_state(), "perm": perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm = state["perm"].to(self.device) if state["perm"].numel() else None
        self.pos = int(state["pos"])


class BalancedBatchSampler:
    """Indices of real batches drawn with replacement so that every class is equally likely.

    For a conditional GAN on an imbalanced set (``balance_classes: true``): each
    index has probability ``1 / (K * n_class)``, so a batch holds about
    ``batch_size / K`` images of each class and the minority class is not
    drowned by the majority. Its only state is its random generator.
    """

    def __init__(self, labels: torch.Tensor, batch_size: int, generator: torch.Generator, device: torch.device):
        counts = torch.bincount(labels.cpu())
        weights = 1.0 / counts[labels.cpu()].double()
        self.weights, self.batch_size, self.generator, self.device = weights, batch_size, generator, device

    def next(self) -> torch.Tensor:
        idx = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.generator)
        return idx.to(self.device)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class EMA:
    """Exponential moving average of a module's parameters (buffers copied as they are).

    The effective decay ramps up as ``min(decay, (1 + t) / (10 + t))`` so the
    average is not dominated by the random initial weights early on.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        ema_p = list(self.module.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in model.parameters()], 1.0 - decay)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)


@dataclass
class TrainingState:
    """Everything a GAN training run updates, plus its loss history and checkpoint steps."""

    G: torch.nn.Module
    D: torch.nn.Module | None  # None for a diffusion model (and then opt_d too)
    ema: EMA | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    sampler: BatchSampler
    noise_gen: torch.Generator
    rows: list[list[float]] = field(default_factory=list)  # step, then the losses (train.loss_columns)
    snapshots: list[int] = field(default_factory=list)  # steps with a g_step*.pt

    def sampling_module(self) -> torch.nn.Module:
        """The weights images are sampled from: the EMA if on, else G."""
        return self.ema.module if self.ema else self.G

    def weights(self) -> dict:
        """``G``, ``D`` (None for a diffusion model), ``G_ema`` (None without an EMA) state dicts."""
        return {
            "G": self.G.state_dict(), "D": self.D.state_dict() if self.D is not None else None,
            "G_ema": self.ema.module.state_dict() if self.ema else None,
        }  # fmt: skip

    def load_weights(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
        if self.ema:
            self.ema.module.load_state_dict(state["G_ema"])

    def state_dict(self, fingerprint: str, step: int, meta: dict) -> dict:
        """The contents of ``state.pt`` at ``step``."""
        return {
            "fingerprint": fingerprint, "step": step, "meta": dict(meta, steps=step), **self.weights(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict() if self.opt_d else None,
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
            "sampler": self.sampler.state_dict(), "noise": self.noise_gen.get_state(),
            "rows": [list(r) for r in self.rows], "snapshots": list(self.snapshots),
        }  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.load_weights(state)
        self.opt_g.load_state_dict(state["opt_g"])
        if self.opt_d is not None:
            self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.sampler.load_state_dict(state["sampler"])
        self.noise_gen.set_state(state["noise"])
        self.rows = [list(r) for r in state["rows"]]
        self.snapshots = [int(s) for s in state["snapshots"]]
