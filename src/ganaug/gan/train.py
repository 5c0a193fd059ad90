"""GAN training loop, one loop for every model and mode; resumable.

Per generator step, as in PyTorch's DCGAN example: draw a real and a fake
batch, update D on both (``n_critic`` times, each time with fresh batches),
then update G through the updated D, re-using the last fake batch. The
objective comes from the model (``MODELS[model].loss`` -> :data:`LOSSES`).

Modes:

* ``per_class``: the caller passes one class's images; G and D are unconditional.
* ``conditional``: all images with their labels. Each fake batch is generated
  for the labels of the real batch it is paired with (``fake_labels: real``,
  the default), so real and fake batches have the same class mix and D cannot
  score a sample from its label's frequency alone. ``fake_labels: uniform``
  draws them uniformly over the classes instead (on an imbalanced set this let
  D overpower G: loss_d -> 1e-5 on 150 NORMAL / 600 PNEUMONIA chest X-rays).

Options (``cfg``, per sweep cell): ``n_critic``, ``gp_lambda`` (wgan_gp),
``label_smoothing`` (bce/acgan), ``diffaugment`` (list of policies, applied
to every image D sees, see ``augment.py``), ``ema`` (decay of an exponential
moving average of G's weights, used for sampling; 0 = off), separate
``lr_g`` / ``lr_d`` (TTUR), ``ae_steps`` / ``ae_lr`` (BAGAN's autoencoder
pre-training), ``amp`` ('none' | 'bf16' on CPU or CUDA | 'fp16' on CUDA) and
``channels_last``.

Checkpoints and resume: every ``sample_every`` steps (and at the last step)
the loop writes, atomically, into ``work_dir`` (default ``out_dir/train_state``)

* ``g_step{step:06d}.pt``: the sampling weights (EMA if on, else G) at that step;
* ``state.pt``: G, D, EMA, both optimisers, every RNG state (data order,
  noise, augmentation), the loss history and the step counter.

When called again with the same settings, data and seed (a fingerprint of all
three is stored), training resumes from ``state.pt``; the result is the same as
an uninterrupted run (CPU; bit-identical weights). ``work_dir`` is not a
Snakemake output, so Snakemake's clean-up of a failed job's outputs leaves it
in place for the rerun. A mismatching fingerprint starts over.

Divergence: losses are stacked on the device every step and copied to the
host every ``log_every`` steps (default 10; the loop never waits on a per-step
sync). A non-finite loss stops training; the outputs are then written from
the last good checkpoint (step 0 = the initial weights if none), the status
(``status.json``, ``meta['status']``) says ``diverged`` with the step and the
losses, and the function returns normally so the pipeline can mark the cell.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ganaug.io import save_dataframe, save_image, torch_load, torch_save, write_json
from ganaug.runtime import AMP_MODES, autocast

from .augment import check_policy, diff_augment
from .generate import to_uint8
from .grid import make_grid_image
from .losses import LOSSES
from .models import MODELS, MODES, Encoder, build_gan, check_model_mode

REQUIRED_KEYS = (
    "model", "steps", "batch_size", "nz", "ngf", "ndf", "lr_g", "lr_d", "beta1", "beta2", "sample_every",
)  # fmt: skip
#: optional settings and their defaults
OPTIONAL = {
    "n_critic": 1, "gp_lambda": 10.0, "label_smoothing": 0.0, "diffaugment": [], "ema": 0.0,
    "amp": "none", "channels_last": None, "fake_labels": "real", "log_every": 10,
    "ae_steps": 500, "ae_lr": 2.0e-4,
}  # fmt: skip
#: settings that do not change the trained weights (left out of the resume fingerprint)
NOT_TRAINING = ("log_every", "select", "mode", "seed")
LOSS_COLUMNS = ("loss_d", "loss_g", "d_real", "d_fake")
GRID_PER_ROW = 8


class _BatchSampler:
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


def resolve_settings(cfg: dict) -> dict:
    """``cfg`` with the optional keys filled in and checked; raises ``ValueError`` naming the key."""
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"GAN config lacks {', '.join(missing)}")
    cfg = {**OPTIONAL, **cfg}
    if cfg["model"] not in MODELS:
        raise ValueError(f"unknown GAN model {cfg['model']!r}; allowed: {', '.join(MODELS)}")
    for key in ("steps", "batch_size", "log_every", "n_critic", "sample_every"):
        if int(cfg[key]) < 1:
            raise ValueError(f"GAN setting {key} must be >= 1, got {cfg[key]!r}")
    if int(cfg["ae_steps"]) < 0:
        raise ValueError(f"GAN setting ae_steps must be >= 0, got {cfg['ae_steps']!r}")
    for key in ("lr_g", "lr_d", "ae_lr"):
        if not float(cfg[key]) > 0:
            raise ValueError(f"GAN setting {key} must be > 0, got {cfg[key]!r}")
    if not 0.0 <= float(cfg["ema"]) < 1.0:
        raise ValueError(f"GAN setting ema (decay) must be in [0, 1), got {cfg['ema']!r}")
    if not 0.0 <= float(cfg["label_smoothing"]) < 0.5:
        raise ValueError(f"GAN setting label_smoothing must be in [0, 0.5), got {cfg['label_smoothing']!r}")
    if cfg["amp"] not in AMP_MODES:
        raise ValueError(f"GAN setting amp must be one of {', '.join(AMP_MODES)}; got {cfg['amp']!r}")
    if cfg["fake_labels"] not in ("real", "uniform"):
        raise ValueError(f"GAN setting fake_labels must be 'real' or 'uniform', got {cfg['fake_labels']!r}")
    cfg["diffaugment"] = list(check_policy(cfg["diffaugment"]))
    return cfg


def fingerprint(cfg: dict, mode: str, seed: int, images: np.ndarray, labels: np.ndarray, class_names) -> str:
    """Hash of everything that determines the trained weights (resume only from a matching state)."""
    h = hashlib.sha256()
    settings = {k: v for k, v in cfg.items() if k not in NOT_TRAINING}
    h.update(json.dumps([settings, mode, int(seed), list(map(str, class_names))], sort_keys=True).encode())
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def pretrain_bagan(G, D, data, label_t, cfg, device, seed, memory_format, log=print) -> dict:
    """BAGAN initialisation (Mariani et al. 2018), in place on ``G`` and ``D``.

    1. Train an autoencoder (encoder = D's body + a linear code layer; decoder =
       G's DCGAN decoder) on all training images for ``ae_steps`` steps (MSE).
    2. Fit one Gaussian per class to the encoder's codes (mean, Cholesky factor
       of the covariance + 1e-4 I) and give them to G's latent sampler.
    3. Copy the encoder's body into D's body.
    """
    n, c, r, _ = data.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) + 1)
        E = Encoder(int(cfg["nz"]), int(cfg["ndf"]), c, r)
    E.to(device, memory_format=memory_format).train()
    decoder = G.decoder
    opt = torch.optim.Adam(
        [*E.parameters(), *decoder.parameters()], lr=float(cfg["ae_lr"]), betas=(0.5, 0.999), foreach=True
    )
    gen = torch.Generator().manual_seed(int(seed) + 2)
    sampler = _BatchSampler(n, int(cfg["batch_size"]), gen, device)
    loss = torch.zeros((), device=device)
    for _ in range(int(cfg["ae_steps"])):
        idx = sampler.next()
        x = data[idx].float().div_(127.5).sub_(1.0).contiguous(memory_format=memory_format)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(decoder(E(x)), x)
        loss.backward()
        opt.step()
    ae_loss = float(loss.detach())
    if not math.isfinite(ae_loss):
        raise FloatingPointError(f"BAGAN autoencoder pre-training diverged (reconstruction loss {ae_loss})")
    E.eval()
    codes = []
    with torch.no_grad():
        for start in range(0, n, 256):
            x = data[start : start + 256].float().div_(127.5).sub_(1.0).contiguous(memory_format=memory_format)
            codes.append(E(x).double())
    codes = torch.cat(codes)
    k = G.class_mu.size(0)
    nz = codes.size(1)
    mu = torch.zeros(k, nz, dtype=torch.float64, device=device)
    chol = torch.eye(nz, dtype=torch.float64, device=device).repeat(k, 1, 1)
    for label in range(k):
        sel = codes[label_t == label]
        if len(sel) == 0:
            continue
        mu[label] = sel.mean(0)
        if len(sel) > 1:
            cov = torch.cov(sel.T) + 1e-4 * torch.eye(nz, dtype=torch.float64, device=device)
            chol[label] = torch.linalg.cholesky(cov)
    G.set_class_gaussians(mu.float(), chol.float())
    D.body.load_state_dict(E.body.state_dict())
    log(f"BAGAN autoencoder: {cfg['ae_steps']} steps, final reconstruction MSE {ae_loss:.4f}")
    return {"ae_steps": int(cfg["ae_steps"]), "ae_loss": ae_loss}


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
    generator step), ``status.json``, ``grid.png`` and ``grid_step{step:06d}.png``
    at every checkpoint. Resumes from ``work_dir/state.pt`` when it matches.
    ``stop_after``: stop (as if killed) once the state at that step is saved —
    for tests. Returns a summary dict (``status`` 'ok' or 'diverged').
    """
    cfg = resolve_settings(cfg)
    labels = _check_inputs(images, labels, num_classes, mode, class_names)
    model = str(cfg["model"])
    check_model_mode(model, mode)
    steps, batch_size = int(cfg["steps"]), int(cfg["batch_size"])
    sample_every, log_every, n_critic = int(cfg["sample_every"]), int(cfg["log_every"]), int(cfg["n_critic"])
    nz = int(cfg["nz"])

    device = torch.device(device)
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir is not None else out_dir / "train_state"
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    n, resolution, _, channels = images.shape
    conditional = mode == "conditional"
    data_seed, noise_seed, grid_seed = np.random.SeedSequence(int(seed)).generate_state(3).tolist()
    fp = fingerprint(cfg, mode, seed, images, labels, class_names)

    # --- models and optimisers; weights drawn from a forked RNG seeded with `seed`
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        G, D = build_gan(model, mode, channels, resolution, num_classes, nz, int(cfg["ngf"]), int(cfg["ndf"]))
    # channels_last: ~13% faster per step on CPU (measured, DCGAN 32 px); optional on CUDA
    use_cl = cfg["channels_last"] if cfg["channels_last"] is not None else device.type == "cpu"
    memory_format = torch.channels_last if use_cl and model != "mlp" else torch.contiguous_format
    G.to(device, memory_format=memory_format).train()
    D.to(device, memory_format=memory_format).train()
    betas = (float(cfg["beta1"]), float(cfg["beta2"]))
    opt_g = torch.optim.Adam(G.parameters(), lr=float(cfg["lr_g"]), betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=float(cfg["lr_d"]), betas=betas, foreach=True)
    if cfg["amp"] == "fp16" and device.type != "cuda":
        print(f"amp: fp16 applies on CUDA only; training in float32 on {device} (bf16 runs on CPU)", file=sys.stderr)
    fp16 = device.type == "cuda" and cfg["amp"] == "fp16"
    scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
    scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
    ema = EMA(G, float(cfg["ema"])) if float(cfg["ema"]) > 0 else None
    noise_gen = torch.Generator(device=device).manual_seed(noise_seed)
    loss_fn = LOSSES[MODELS[model].loss](
        gp_lambda=float(cfg["gp_lambda"]), label_smoothing=float(cfg["label_smoothing"]), generator=noise_gen
    )
    policy = cfg["diffaugment"]
    uniform_labels = cfg["fake_labels"] == "uniform"

    def D_seen(x, y=None):
        """D on augmented images (DiffAugment), or plain D."""
        return D(diff_augment(x, policy, noise_gen) if policy else x, y)

    meta = {
        "model": model, "mode": mode, "channels": int(channels), "resolution": int(resolution),
        "num_classes": int(num_classes), "nz": nz, "ngf": int(cfg["ngf"]), "ndf": int(cfg["ndf"]),
        "class_names": [str(x) for x in class_names], "loss": MODELS[model].loss, "seed": int(seed),
        "batch_size": batch_size, "total_steps": steps, "steps": 0, "ema": float(cfg["ema"]),
        "sampling_weights": "ema" if ema else "generator", "status": "ok",
    }  # fmt: skip
    if not conditional:
        meta["class_label"] = int(labels[0])
        meta["class_name"] = str(class_names[labels[0]])

    # --- data on the device as uint8 (N, C, R, R); scaled to [-1, 1] per batch
    data = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).contiguous()
    label_t = torch.from_numpy(labels).to(device)
    sampler = _BatchSampler(n, batch_size, torch.Generator().manual_seed(data_seed), device)

    # fixed noise for the grids: 8 x 8 images, or one row of 8 per class
    n_grid = GRID_PER_ROW * (num_classes if conditional else GRID_PER_ROW)
    grid_z = torch.randn(n_grid, nz, generator=torch.Generator().manual_seed(grid_seed)).to(device)
    grid_labels = torch.arange(num_classes, device=device).repeat_interleave(GRID_PER_ROW) if conditional else None

    rows: list[list[float]] = []
    snapshots: list[int] = []
    state_path = work_dir / "state.pt"

    def sampling_module():
        return ema.module if ema else G

    def full_state(step: int) -> dict:
        return {
            "fingerprint": fp, "step": step, "meta": dict(meta, steps=step),
            "G": G.state_dict(), "D": D.state_dict(), "G_ema": ema.module.state_dict() if ema else None,
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "scaler_g": scaler_g.state_dict(), "scaler_d": scaler_d.state_dict(),
            "sampler": sampler.state_dict(), "noise": noise_gen.get_state(),
            "rows": [list(r) for r in rows], "snapshots": list(snapshots),
        }  # fmt: skip

    # --- resume from a matching state, or start over
    start_step = 0
    if state_path.exists():
        state = torch_load(state_path, map_location="cpu")
        if isinstance(state, dict) and state.get("fingerprint") == fp:
            G.load_state_dict(state["G"])
            D.load_state_dict(state["D"])
            if ema:
                ema.module.load_state_dict(state["G_ema"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            scaler_g.load_state_dict(state["scaler_g"])
            scaler_d.load_state_dict(state["scaler_d"])
            sampler.load_state_dict(state["sampler"])
            noise_gen.set_state(state["noise"])
            rows = [list(r) for r in state["rows"]]
            snapshots = [int(s) for s in state["snapshots"]]
            meta.update({k: v for k, v in state["meta"].items() if k.startswith("ae_")})
            start_step = int(state["step"])
            print(f"resuming from {state_path} at step {start_step} of {steps}", file=sys.stderr)
        else:
            print(f"{state_path}: saved for other settings or data; starting over", file=sys.stderr)
            shutil.rmtree(work_dir)
            work_dir.mkdir(parents=True)
    for stale in work_dir.glob("g_step*.pt"):  # snapshots written after the saved state: replayed below
        if int(stale.stem[6:]) not in snapshots:
            stale.unlink()
    if start_step == 0:
        if model == "bagan" and int(cfg["ae_steps"]) > 0:
            meta.update(pretrain_bagan(G, D, data, label_t, cfg, device, seed, memory_format))
            if ema:
                ema.module.load_state_dict(G.state_dict())
        torch_save(work_dir / "g_step000000.pt", sampling_module().state_dict())
        torch_save(state_path, full_state(0))  # step 0 = the last good state until the first checkpoint

    history = torch.zeros(log_every, len(LOSS_COLUMNS), device=device)
    pending = 0  # steps in `history` not yet copied to the host
    diverged: dict | None = None

    def flush(step: int) -> bool:
        """Copy pending losses to the host; False (and ``diverged`` set) on a non-finite loss."""
        nonlocal pending, diverged
        values = history[:pending].cpu().tolist()  # the only host sync of the loop
        first = step - pending + 1
        pending = 0
        for i, v in enumerate(values):
            rows.append([first + i, *v])
            if not all(math.isfinite(x) for x in v):
                diverged = {"step": first + i, **dict(zip(LOSS_COLUMNS, v))}
                return False
        bar.update(step - bar.n)
        bar.set_postfix(loss_d=f"{rows[-1][1]:.3f}", loss_g=f"{rows[-1][2]:.3f}", refresh=False)
        return True

    def grid_image(module) -> np.ndarray:
        was_training = module.training
        module.eval()  # BatchNorm on running statistics, as in generate.py
        with torch.no_grad():
            grid = make_grid_image(to_uint8(module(grid_z, grid_labels)), nrow=GRID_PER_ROW)
        module.train(was_training)
        return grid

    def checkpoint(step: int) -> None:
        save_image(out_dir / f"grid_step{step:06d}.png", grid_image(sampling_module()))
        torch_save(work_dir / f"g_step{step:06d}.pt", sampling_module().state_dict())
        snapshots.append(step)
        torch_save(state_path, full_state(step))

    d_params = list(D.parameters())
    amp_ctx = autocast(device, cfg["amp"])
    desc = f"{model} {mode}" + (f" {meta.get('class_name')}" if not conditional else "")
    bar = tqdm(total=steps, initial=start_step, disable=not progress, file=sys.stderr, desc=desc, unit="step")
    start = time.perf_counter()
    step = start_step
    try:
        for step in range(start_step + 1, steps + 1):
            for k in range(n_critic):
                idx = sampler.next()
                real = data[idx].float().div_(127.5).sub_(1.0).contiguous(memory_format=memory_format)
                real_labels = label_t[idx] if conditional else None
                z = torch.randn(batch_size, nz, generator=noise_gen, device=device)
                if real_labels is None:
                    fake_labels = None
                elif uniform_labels:
                    fake_labels = torch.randint(0, num_classes, (batch_size,), generator=noise_gen, device=device)
                else:
                    fake_labels = real_labels
                last = k == n_critic - 1
                with amp_ctx, (nullcontext() if last else torch.no_grad()):
                    fake = G(z, fake_labels)  # the last critic step's fake batch also trains G

                # (1) update D on a real and a fake batch
                opt_d.zero_grad(set_to_none=True)
                with amp_ctx:
                    loss_d, d_real, d_fake = loss_fn.d_loss(D_seen, real, real_labels, fake.detach(), fake_labels)
                scaler_d.scale(loss_d).backward()
                scaler_d.step(opt_d)
                scaler_d.update()

            # (2) update G through the updated D; D's weights need no gradient here
            for p in d_params:
                p.requires_grad_(False)
            opt_g.zero_grad(set_to_none=True)
            with amp_ctx:
                loss_g = loss_fn.g_loss(D_seen, fake, fake_labels)
            scaler_g.scale(loss_g).backward()
            scaler_g.step(opt_g)
            scaler_g.update()
            for p in d_params:
                p.requires_grad_(True)
            if ema:
                ema.update(G, step)

            history[pending] = torch.stack([loss_d.detach(), loss_g.detach(), d_real, d_fake]).float()
            pending += 1
            is_checkpoint = step % sample_every == 0 or step == steps
            if (pending == log_every or is_checkpoint) and not flush(step):
                break
            if is_checkpoint:
                checkpoint(step)
                if stop_after is not None and step >= stop_after:
                    return {"status": "stopped", "steps": step}
    finally:
        bar.close()
    seconds = time.perf_counter() - start

    # --- outputs: from the final state, or from the last good checkpoint after a divergence
    if diverged is not None:
        state = torch_load(state_path, map_location="cpu")
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        if ema:
            ema.module.load_state_dict(state["G_ema"])
        good = int(state["step"])
        snapshots = [int(s) for s in state["snapshots"]] or [0]
        meta["status"] = "diverged"
        meta["diverged"] = dict(diverged, last_good_step=good)
        message = (
            f"GAN training diverged at step {diverged['step']}: non-finite loss "
            + ", ".join(f"{k}={diverged[k]}" for k in LOSS_COLUMNS)
            + f"; outputs written from the last good checkpoint (step {good})"
        )
        print(message, file=sys.stderr)
        meta["steps"] = good
    else:
        meta["steps"] = steps
        message = "ok"

    save_dataframe(out_dir / "losses.csv", pd.DataFrame(rows, columns=("step", *LOSS_COLUMNS)).astype({"step": int}))
    weights = {str(s): torch_load(work_dir / f"g_step{s:06d}.pt") for s in snapshots}
    torch_save(out_dir / "snapshots.pt", {"meta": dict(meta), "steps": list(snapshots), "weights": weights})
    torch_save(
        out_dir / "checkpoint.pt",
        {"G": G.state_dict(), "D": D.state_dict(), "G_ema": ema.module.state_dict() if ema else None,
         "meta": dict(meta)},
    )  # fmt: skip
    save_image(out_dir / "grid.png", grid_image(sampling_module()))
    status = {"status": meta["status"], "steps": meta["steps"], "total_steps": steps, "message": message}
    if diverged is not None:
        status["diverged"] = meta["diverged"]
    write_json(out_dir / "status.json", status)

    done = max(step - start_step, 1)
    last = dict(zip(LOSS_COLUMNS, rows[-1][1:])) if rows else {}
    return {
        "status": meta["status"],
        "steps": meta["steps"],
        "resumed_from": start_step,
        "seconds": seconds,
        "ms_per_step": 1000.0 * seconds / done,
        "images_per_s": done * batch_size * n_critic / seconds if seconds > 0 else float("nan"),
        **last,
    }
