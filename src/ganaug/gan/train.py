"""GAN training loop, one loop for every model and mode (the diffusion model too); resumable.

:func:`train_gan` sets up G, D, their optimisers and the random streams, runs
the generator steps of :mod:`~ganaug.gan.steps` (D and G updates; the
objective comes from the model, ``MODELS[model].loss`` -> :data:`LOSSES`),
checkpoints and resumes through :mod:`~ganaug.gan.checkpoint`, and writes
the outputs. BAGAN's autoencoder pre-training is in :mod:`~ganaug.gan.pretrain`.

Modes:

* ``per_class``: the caller passes one class's images; G and D are unconditional.
* ``conditional``: all images with their labels; each fake batch is generated
  for the labels of the real batch it is paired with (``fake_labels: real``,
  the default) or for uniform labels (``fake_labels: uniform``), see
  :mod:`~ganaug.gan.steps`.

Options (``cfg``, per sweep cell): ``n_critic``, ``gp_lambda`` (wgan_gp),
``label_smoothing`` (bce/acgan), ``diffaugment`` (list of policies, applied
to every image D sees, see ``augment.py``), ``ema`` (decay of an exponential
moving average of G's weights, used for sampling; 0 = off), separate
``lr_g`` / ``lr_d`` (TTUR), ``ae_steps`` / ``ae_lr`` (BAGAN's autoencoder
pre-training), ``amp`` ('none' | 'bf16' on CPU or CUDA | 'fp16' on CUDA) and
``channels_last``. A new option goes into :data:`OPTIONAL` (its default) and
:func:`resolve_settings` (its check); every setting outside
:data:`~ganaug.gan.checkpoint.NOT_TRAINING` is part of the resume fingerprint.

Diffusion (``MODELS[model].kind == 'diffusion'``, ``ddpm``): no D; each step
is :func:`~ganaug.gan.steps.diffusion_step` (noise-prediction MSE, one
``loss`` column in ``losses.csv``), with ``lr_g`` / ``beta1`` / ``beta2`` for
its Adam and the settings of :data:`DIFFUSION_OPTIONAL`; the GAN-only
settings (``nz``, ``ndf``, ``lr_d``, ``n_critic``, ``diffaugment``, ...) are
not read. Everything else - checkpoints, resume, EMA, snapshots for the FID
curve, grids, the NaN stop, ``amp`` - is shared.

Checkpoints and resume: every ``sample_every`` steps (and at the last step)
the sampling weights and the full training state are saved into ``work_dir``
(default ``out_dir/train_state``); a rerun with the same settings, data and
seed resumes there and ends bit-identical to an uninterrupted run (CPU). See
:mod:`~ganaug.gan.checkpoint`.

Divergence: losses are stacked on the device every step and copied to the
host every ``log_every`` steps (default 10; the loop never waits on a per-step
sync). A non-finite loss stops training; the outputs are then written from
the last good checkpoint (step 0 = the initial weights if none), the status
(``status.json``, ``meta['status']``) says ``diverged`` with the step and the
losses, and the function returns normally so the pipeline can mark the cell.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ganaug.io import save_dataframe, save_image, torch_save, write_json
from ganaug.names import label_in_d_first_stage
from ganaug.runtime import AMP_MODES, autocast

from .augment import check_policy
from .checkpoint import fingerprint, load_snapshots, restore_last_good, resume, save_checkpoint, save_initial
from .generate import to_uint8
from .grid import make_grid_image
from .losses import LOSSES
from .models import MODELS, MODES, build_gan, check_model_mode
from .pretrain import pretrain
from .state import EMA, BalancedBatchSampler, BatchSampler, TrainingState
from .steps import StepSettings, d_view, diffusion_step, generator_step
from .transfer import check_init_from, freeze_lower, load_init

REQUIRED_KEYS = (
    "model", "steps", "batch_size", "nz", "ngf", "ndf", "lr_g", "lr_d", "beta1", "beta2", "sample_every",
)  # fmt: skip
#: what a diffusion model needs (``ngf``: the U-Net's base width; ``lr_g``, ``beta1``, ``beta2``: its Adam)
DIFFUSION_REQUIRED_KEYS = ("model", "steps", "batch_size", "ngf", "lr_g", "beta1", "beta2", "sample_every")
#: optional settings and their defaults
OPTIONAL = {
    "n_critic": 1, "gp_lambda": 10.0, "label_smoothing": 0.0, "diffaugment": [], "ema": 0.0,
    "amp": "none", "channels_last": None, "fake_labels": "real", "log_every": 10,
    "ae_steps": 500, "ae_lr": 2.0e-4, "balance_classes": False,
    "init_from": None, "freeze_d": 0, "r1_gamma": 0.0, "r1_every": 16, "minibatch_std": False,
    "class_norm": False, "mode_seeking": 0.0,
}  # fmt: skip
#: a diffusion model's optional settings (on top of :data:`OPTIONAL`) and their defaults
DIFFUSION_OPTIONAL = {
    "ema": 0.999, "timesteps": 1000, "sample_steps": 50, "guidance": 1.0, "p_uncond": 0.1,
    "channel_mult": [1, 2, 2], "res_blocks": 1,
}  # fmt: skip
#: the settings of ``DIFFUSION_OPTIONAL`` that build the model (``meta['arch']``, ``build_gan(**arch)``)
ARCH_KEYS = ("channel_mult", "res_blocks", "timesteps", "sample_steps", "guidance")
LOSS_COLUMNS = ("loss_d", "loss_g", "d_real", "d_fake")
DIFFUSION_LOSS_COLUMNS = ("loss",)
GRID_PER_ROW = 8


def _check_inputs(images, labels, num_classes, mode, class_names):
    if mode not in MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; allowed: {', '.join(MODES)}")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a uint8 array (N, R, R, C), got {getattr(images, 'dtype', type(images))}")
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("no training images")
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    if mode == "per_class" and len(np.unique(labels)) != 1:
        raise ValueError(f"per_class mode trains on one class, got labels {sorted(np.unique(labels).tolist())}")
    return labels.astype(np.int64)


def is_diffusion(model: str) -> bool:
    return MODELS[model].kind == "diffusion"


def loss_columns(model: str) -> tuple[str, ...]:
    """The loss columns of ``losses.csv`` (after ``step``) for ``model``."""
    return DIFFUSION_LOSS_COLUMNS if is_diffusion(model) else LOSS_COLUMNS


def _check_diffusion_settings(cfg: dict) -> None:
    for key in ("timesteps", "sample_steps", "res_blocks"):
        if int(cfg[key]) < 1:
            raise ValueError(f"diffusion setting {key} must be >= 1, got {cfg[key]!r}")
    if int(cfg["sample_steps"]) > int(cfg["timesteps"]):
        raise ValueError(
            f"diffusion setting sample_steps ({cfg['sample_steps']}) exceeds timesteps ({cfg['timesteps']})"
        )
    if not float(cfg["guidance"]) >= 0:
        raise ValueError(f"diffusion setting guidance must be >= 0, got {cfg['guidance']!r}")
    if not 0.0 <= float(cfg["p_uncond"]) < 1.0:
        raise ValueError(f"diffusion setting p_uncond must be in [0, 1), got {cfg['p_uncond']!r}")
    mult = cfg["channel_mult"]
    if not isinstance(mult, (list, tuple)) or not mult or any(not isinstance(m, int) or m < 1 for m in mult):
        raise ValueError(f"diffusion setting channel_mult must be a list of positive integers, got {mult!r}")
    if int(cfg["ngf"]) < 2 or int(cfg["ngf"]) % 2:
        raise ValueError(f"diffusion setting ngf (the U-Net's base width) must be even and >= 2, got {cfg['ngf']!r}")
    cfg["channel_mult"] = [int(m) for m in mult]


def resolve_settings(cfg: dict) -> dict:
    """``cfg`` with the optional keys filled in and checked; raises ``ValueError`` naming the key."""
    if cfg.get("model") in MODELS and is_diffusion(cfg["model"]):
        missing = [k for k in DIFFUSION_REQUIRED_KEYS if k not in cfg]
        if missing:
            raise ValueError(f"diffusion config lacks {', '.join(missing)}")
        cfg = {**OPTIONAL, **DIFFUSION_OPTIONAL, **cfg}
        _check_diffusion_settings(cfg)
    else:
        missing = [k for k in REQUIRED_KEYS if k not in cfg]
        if missing:
            raise ValueError(f"GAN config lacks {', '.join(missing)}")
        cfg = {**OPTIONAL, **cfg}
        if cfg["model"] not in MODELS:
            raise ValueError(f"unknown GAN model {cfg['model']!r}; allowed: {', '.join(MODELS)}")
        extra = [k for k in DIFFUSION_OPTIONAL if k in cfg and k != "ema"]
        if extra:
            raise ValueError(f"GAN setting(s) {', '.join(extra)} apply to diffusion models only, not {cfg['model']!r}")
    for key in ("r1_gamma", "mode_seeking"):
        if float(cfg[key]) < 0:
            raise ValueError(f"GAN setting {key} must be >= 0, got {cfg[key]!r}")
    for key in ("steps", "batch_size", "log_every", "n_critic", "sample_every", "r1_every"):
        if int(cfg[key]) < 1:
            raise ValueError(f"GAN setting {key} must be >= 1, got {cfg[key]!r}")
    if int(cfg["ae_steps"]) < 0:
        raise ValueError(f"GAN setting ae_steps must be >= 0, got {cfg['ae_steps']!r}")
    for key in ("lr_g", "lr_d", "ae_lr"):
        if key in cfg and not float(cfg[key]) > 0:  # a diffusion model has no lr_d
            raise ValueError(f"GAN setting {key} must be > 0, got {cfg[key]!r}")
    if not 0.0 <= float(cfg["ema"]) < 1.0:
        raise ValueError(f"GAN setting ema (decay) must be in [0, 1), got {cfg['ema']!r}")
    if not 0.0 <= float(cfg["label_smoothing"]) < 0.5:
        raise ValueError(f"GAN setting label_smoothing must be in [0, 0.5), got {cfg['label_smoothing']!r}")
    if cfg["amp"] not in AMP_MODES:
        raise ValueError(f"GAN setting amp must be one of {', '.join(AMP_MODES)}; got {cfg['amp']!r}")
    if cfg["fake_labels"] not in ("real", "uniform"):
        raise ValueError(f"GAN setting fake_labels must be 'real' or 'uniform', got {cfg['fake_labels']!r}")
    if int(cfg["freeze_d"]) < 0:
        raise ValueError(f"GAN setting freeze_d must be >= 0, got {cfg['freeze_d']!r}")
    if cfg["init_from"] is not None and not Path(cfg["init_from"]).is_file():
        raise ValueError(f"GAN setting init_from: no checkpoint at {cfg['init_from']}")
    if not isinstance(cfg["balance_classes"], bool):
        raise ValueError(f"GAN setting balance_classes must be true or false, got {cfg['balance_classes']!r}")
    cfg["diffaugment"] = list(check_policy(cfg["diffaugment"]))
    return cfg


def job_inputs(images, labels, classes, mode: str, part: str, seed: int, gan: str = "", source: str = ""):
    """Images, labels and seed of one training job of a GAN cell (rule train_gan): ``(images, labels, seed)``.

    ``per_class``: ``part`` names a class; its images only, seeded ``seed + k`` for class
    index ``k`` (each class's GAN gets its own stream). ``conditional``: the only part is
    ``'conditional'``; all images, ``seed``. ``gan`` and ``source`` (the data file) name the job in errors.
    """
    classes = list(classes)
    if mode == "per_class":
        if part not in classes:
            raise ValueError(f"GAN {gan!r} is per_class; {part!r} is not a class ({', '.join(classes)})")
        k = classes.index(part)
        images, labels = images[labels == k], labels[labels == k]
        seed += k  # each class's GAN gets its own stream
        if len(images) == 0:
            raise ValueError(f"{source}: no training images of class {part!r}")
    elif part != "conditional":
        raise ValueError(f"GAN {gan!r} is conditional; its only job is 'conditional', not {part!r}")
    return images, labels, seed


def _build_state(model, mode, cfg, images, num_classes, device, seed, memory_format, noise_gen, sampler):
    """G, D (weights from a forked RNG seeded with ``seed``), optimisers, loss scalers and EMA on ``device``."""
    _, resolution, _, channels = images.shape
    if is_diffusion(model):
        widths, arch = (channels * resolution * resolution, int(cfg["ngf"]), 0), {k: cfg[k] for k in ARCH_KEYS}
    else:
        widths, arch = (int(cfg["nz"]), int(cfg["ngf"]), int(cfg["ndf"])), {}
        if cfg["minibatch_std"]:
            arch["minibatch_std"] = True
        if cfg["class_norm"]:
            arch["class_norm"] = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        G, D = build_gan(model, mode, channels, resolution, num_classes, *widths, **arch)
    G.to(device, memory_format=memory_format).train()
    betas = (float(cfg["beta1"]), float(cfg["beta2"]))
    opt_g = torch.optim.Adam(G.parameters(), lr=float(cfg["lr_g"]), betas=betas, foreach=True)
    opt_d = None
    if D is not None:
        D.to(device, memory_format=memory_format).train()
        opt_d = torch.optim.Adam(D.parameters(), lr=float(cfg["lr_d"]), betas=betas, foreach=True)
    if cfg["amp"] == "fp16" and device.type != "cuda":
        print(f"amp: fp16 applies on CUDA only; training in float32 on {device} (bf16 runs on CPU)", file=sys.stderr)
    fp16 = device.type == "cuda" and cfg["amp"] == "fp16"
    scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
    scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
    ema = EMA(G, float(cfg["ema"])) if float(cfg["ema"]) > 0 else None
    return TrainingState(G, D, ema, opt_g, opt_d, scaler_g, scaler_d, sampler, noise_gen)


def _meta(model, mode, images, labels, num_classes, cfg, class_names, seed, ema) -> dict:
    """Plain-data description of the run, saved with every checkpoint and output."""
    _, resolution, _, channels = images.shape
    diffusion = is_diffusion(model)
    meta = {
        "model": model, "mode": mode, "channels": int(channels), "resolution": int(resolution),
        "num_classes": int(num_classes), "ngf": int(cfg["ngf"]),
        # a diffusion model's "latent" is its starting noise, image-shaped; it has no D
        "nz": int(channels * resolution * resolution) if diffusion else int(cfg["nz"]),
        "ndf": 0 if diffusion else int(cfg["ndf"]),
        "class_names": [str(x) for x in class_names], "loss": MODELS[model].loss, "seed": int(seed),
        "batch_size": int(cfg["batch_size"]), "total_steps": int(cfg["steps"]), "steps": 0, "ema": float(cfg["ema"]),
        "sampling_weights": "ema" if ema else "generator", "status": "ok",
    }  # fmt: skip
    if diffusion:
        meta["arch"] = {k: cfg[k] for k in ARCH_KEYS}
    elif cfg["class_norm"]:
        meta["arch"] = {"class_norm": True}  # G's layers depend on it (load_generator rebuilds G from meta)
    if mode != "conditional":
        meta["class_label"] = int(labels[0])
        meta["class_name"] = str(class_names[labels[0]])
    return meta


class _LossLog:
    """Per-step losses stacked on the device, copied to the host every ``log_every`` steps or at a checkpoint."""

    def __init__(self, log_every: int, device, columns: tuple[str, ...] = LOSS_COLUMNS):
        self.pending, self.diverged, self.columns = 0, None, columns
        self.history = torch.zeros(log_every, len(columns), device=device)

    def add(self, losses: torch.Tensor) -> int:
        """Stack one step's losses; returns the number not yet copied to the host."""
        self.history[self.pending] = losses
        self.pending += 1
        return self.pending

    def flush(self, step: int, rows: list) -> bool:
        """Append pending losses to ``rows``; False (and ``diverged`` set) on a non-finite loss."""
        values = self.history[: self.pending].cpu().tolist()  # the only host sync of the loop
        first = step - self.pending + 1
        self.pending = 0
        for i, v in enumerate(values):
            rows.append([first + i, *v])
            if not all(math.isfinite(x) for x in v):
                self.diverged = {"step": first + i, **dict(zip(self.columns, v))}
                return False
        return True


class _Grid:
    """Sample grids from fixed noise: 8 x 8 images, or one row of 8 per class."""

    def __init__(self, nz: int, num_classes: int, conditional: bool, seed: int, device):
        n_grid = GRID_PER_ROW * (num_classes if conditional else GRID_PER_ROW)
        self.z = torch.randn(n_grid, nz, generator=torch.Generator().manual_seed(seed)).to(device)
        self.labels = torch.arange(num_classes, device=device).repeat_interleave(GRID_PER_ROW) if conditional else None

    def image(self, module) -> np.ndarray:
        was_training = module.training
        module.eval()  # BatchNorm on running statistics, as in generate.py
        with torch.no_grad():
            grid = make_grid_image(to_uint8(module(self.z, self.labels)), nrow=GRID_PER_ROW)
        module.train(was_training)
        return grid


def _step_settings(images, labels, cfg, mode, num_classes, device, nz: int) -> StepSettings:
    """The real data on the device as uint8 (N, C, R, R) (scaled to [-1, 1] per batch) and the step options."""
    # channels_last: ~13% faster per step on CPU (measured, DCGAN 32 px); optional on CUDA
    use_cl = cfg["channels_last"] if cfg["channels_last"] is not None else device.type == "cpu"
    memory_format = torch.channels_last if use_cl and cfg["model"] != "mlp" else torch.contiguous_format
    return StepSettings(
        data=torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).contiguous(),
        labels=torch.from_numpy(labels).to(device), conditional=mode == "conditional",
        num_classes=int(num_classes), batch_size=int(cfg["batch_size"]), nz=nz,
        n_critic=int(cfg["n_critic"]), uniform_labels=cfg["fake_labels"] == "uniform",
        policy=[] if is_diffusion(cfg["model"]) else cfg["diffaugment"], memory_format=memory_format,
        amp_ctx=autocast(device, cfg["amp"]), r1_gamma=float(cfg["r1_gamma"]), r1_every=int(cfg["r1_every"]),
        mode_seeking=float(cfg["mode_seeking"]),
    )  # fmt: skip


def _start(s: TrainingState, step_cfg: StepSettings, work_dir, fp, meta, cfg, device, seed) -> int:
    """Resume from a matching saved state, or initialise (:func:`pretrain`) and save step 0; returns the step."""
    start_step = resume(s, work_dir, fp, meta, int(cfg["steps"]))
    if start_step == 0 and cfg["init_from"] is not None:
        widened = load_init(cfg["init_from"], s.G, s.D, s.ema.module if s.ema else None)
        if widened and label_in_d_first_stage(cfg["model"], cfg["class_norm"]) and int(cfg["freeze_d"]) > 0:
            raise ValueError(
                f"GAN setting freeze_d = {cfg['freeze_d']}: a conditional GAN started from the unconditional "
                f"{cfg['init_from']} learns the label through D's first stage, so it cannot be frozen; use freeze_d: 0"
            )
        meta["init_from"] = str(cfg["init_from"])
        save_initial(s, work_dir, fp, meta)
    elif start_step == 0:
        initialised = pretrain(
            str(cfg["model"]), s.G, s.D, step_cfg.data, step_cfg.labels, cfg, device, seed, step_cfg.memory_format
        )
        meta.update(initialised)
        if initialised and s.ema:  # the average starts from the initialised G
            s.ema.module.load_state_dict(s.G.state_dict())
        save_initial(s, work_dir, fp, meta)  # step 0 = the last good state until the first checkpoint
    return start_step


def train_gan(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    cfg: dict,
    out_dir: str | os.PathLike,
    device,
    seed: int,
    mode: str,
    class_names: list[str],
    progress: bool = True,
    work_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
) -> dict:
    """Train a GAN on ``images`` (uint8 (N, R, R, C)) and write its outputs to ``out_dir``.

    ``cfg``: ``REQUIRED_KEYS`` plus any of :data:`OPTIONAL`. ``seed`` (not
    ``cfg['seed']``) seeds the weights, the batches, the noise and the augmentation.

    Writes into ``out_dir``: ``checkpoint.pt`` (final ``G``, ``D``, ``G_ema``
    (or None) and plain-data ``meta``), ``snapshots.pt`` (``meta``, ``steps``
    and ``weights[step]``: the sampling weights at every checkpoint step),
    ``losses.csv`` (step, loss_d, loss_g, d_real, d_fake: one row per
    generator step; a diffusion model: step, loss), ``status.json``, ``grid.png`` and ``grid_step{step:06d}.png``
    at every checkpoint. Resumes from ``work_dir/state.pt`` when it matches.
    ``stop_after``: stop (as if killed) once the state at that step is saved —
    for tests. Returns a summary dict (``status`` 'ok' or 'diverged').
    """
    cfg = resolve_settings(cfg)
    labels = _check_inputs(images, labels, num_classes, mode, class_names)
    model = str(cfg["model"])
    check_model_mode(model, mode)
    if cfg["init_from"] is not None:
        check_init_from(cfg["init_from"], model)
    diffusion = is_diffusion(model)
    steps, batch_size = int(cfg["steps"]), int(cfg["batch_size"])
    n_critic = 1 if diffusion else int(cfg["n_critic"])
    sample_every, log_every = int(cfg["sample_every"]), int(cfg["log_every"])
    device = torch.device(device)
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir is not None else out_dir / "train_state"
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    data_seed, noise_seed, grid_seed = np.random.SeedSequence(int(seed)).generate_state(3).tolist()
    fp = fingerprint(cfg, mode, seed, images, labels, class_names)

    noise_gen = torch.Generator(device=device).manual_seed(noise_seed)
    data_gen = torch.Generator().manual_seed(data_seed)
    if cfg["balance_classes"] and mode == "conditional":
        sampler = BalancedBatchSampler(torch.from_numpy(labels), batch_size, data_gen, device)
    else:
        sampler = BatchSampler(len(images), batch_size, data_gen, device)
    _, resolution, _, channels = images.shape
    nz = channels * resolution * resolution if diffusion else int(cfg["nz"])
    step_cfg = _step_settings(images, labels, cfg, mode, num_classes, device, nz)
    s = _build_state(model, mode, cfg, images, num_classes, device, seed, step_cfg.memory_format, noise_gen, sampler)
    meta = _meta(model, mode, images, labels, num_classes, cfg, class_names, seed, s.ema)
    grid = _Grid(nz, num_classes, step_cfg.conditional, grid_seed, device)

    start_step = _start(s, step_cfg, work_dir, fp, meta, cfg, device, seed)

    columns = loss_columns(model)
    losses = _LossLog(log_every, device, columns)
    if diffusion:
        p_uncond = float(cfg["p_uncond"])

        def one_step(step: int) -> torch.Tensor:
            return diffusion_step(s, step_cfg, p_uncond, step)
    else:
        loss_fn = LOSSES[MODELS[model].loss](
            gp_lambda=float(cfg["gp_lambda"]), label_smoothing=float(cfg["label_smoothing"]), generator=noise_gen
        )
        D_seen, d_params = d_view(s.D, step_cfg.policy, noise_gen), freeze_lower(s.D, int(cfg["freeze_d"]))

        def one_step(step: int) -> torch.Tensor:
            return generator_step(s, step_cfg, loss_fn, D_seen, d_params, step)

    desc = f"{model} {mode}" + (f" {meta.get('class_name')}" if not step_cfg.conditional else "")
    bar = tqdm(total=steps, initial=start_step, disable=not progress, file=sys.stderr, desc=desc, unit="step")
    start = time.perf_counter()
    step = start_step
    try:
        for step in range(start_step + 1, steps + 1):
            pending = losses.add(one_step(step))
            is_checkpoint = step % sample_every == 0 or step == steps
            if pending == log_every or is_checkpoint:
                if not losses.flush(step, s.rows):
                    break
                bar.update(step - bar.n)
                bar.set_postfix({k: f"{v:.3f}" for k, v in zip(columns[:2], s.rows[-1][1:])}, refresh=False)
            if is_checkpoint:
                save_image(out_dir / f"grid_step{step:06d}.png", grid.image(s.sampling_module()))
                save_checkpoint(s, work_dir, fp, step, meta)
                if stop_after is not None and step >= stop_after:
                    return {"status": "stopped", "steps": step}
    finally:
        bar.close()
    seconds = time.perf_counter() - start

    _write_outputs(s, out_dir, work_dir, meta, losses.diverged, steps, grid, columns)
    done = max(step - start_step, 1)
    last = dict(zip(columns, s.rows[-1][1:])) if s.rows else {}
    return {
        "status": meta["status"],
        "steps": meta["steps"],
        "resumed_from": start_step,
        "seconds": seconds,
        "ms_per_step": 1000.0 * seconds / done,
        "images_per_s": done * batch_size * n_critic / seconds if seconds > 0 else float("nan"),
        **last,
    }


def _write_outputs(s: TrainingState, out_dir, work_dir, meta, diverged, steps, grid: _Grid, columns) -> None:
    """Outputs from the final state, or from the last good checkpoint after a divergence."""
    if diverged is not None:
        good = restore_last_good(s, work_dir)
        meta["status"] = "diverged"
        meta["diverged"] = dict(diverged, last_good_step=good)
        message = (
            f"GAN training diverged at step {diverged['step']}: non-finite loss "
            + ", ".join(f"{k}={diverged[k]}" for k in columns)
            + f"; outputs written from the last good checkpoint (step {good})"
        )
        print(message, file=sys.stderr)
        meta["steps"] = good
    else:
        meta["steps"] = steps
        message = "ok"

    save_dataframe(out_dir / "losses.csv", pd.DataFrame(s.rows, columns=("step", *columns)).astype({"step": int}))
    weights = load_snapshots(work_dir, s.snapshots)
    torch_save(out_dir / "snapshots.pt", {"meta": dict(meta), "steps": list(s.snapshots), "weights": weights})
    torch_save(out_dir / "checkpoint.pt", {**s.weights(), "meta": dict(meta)})
    save_image(out_dir / "grid.png", grid.image(s.sampling_module()))
    status = {"status": meta["status"], "steps": meta["steps"], "total_steps": steps, "message": message}
    if diverged is not None:
        status["diverged"] = meta["diverged"]
    write_json(out_dir / "status.json", status)
