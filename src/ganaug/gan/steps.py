"""One generator step of GAN training: real batches, fake batches, the D and G updates, the EMA.

Per generator step, as in PyTorch's DCGAN example (:func:`generator_step`):
draw a real and a fake batch, update D on both (``n_critic`` times, each time
with fresh batches, :func:`d_step`), then update G through the updated D,
re-using the last fake batch (:func:`g_step`). The objective comes from the
model (``MODELS[model].loss`` -> :data:`~ganaug.gan.losses.LOSSES`): a new
model plugs in through its loss, not through this module.

Fake labels (``conditional`` mode): each fake batch is generated for the
labels of the real batch it is paired with (``fake_labels: real``, the
default), so real and fake batches have the same class mix and D cannot score
a sample from its label's frequency alone. ``fake_labels: uniform`` draws them
uniformly over the classes instead (on an imbalanced set this let D overpower
G: loss_d -> 1e-5 on 150 NORMAL / 600 PNEUMONIA chest X-rays).

Random streams, in the order one generator step consumes them: per critic step
the real batch's indices (the data generator of
:class:`~ganaug.gan.state.BatchSampler`), then ``z`` and (``uniform``) the
fake labels, then the loss's own draws (DiffAugment, the WGAN-GP
interpolates), then on an R1 step (``r1_gamma``) the penalty's DiffAugment draw - all from
the one noise generator. The mode-seeking term (``mode_seeking``) draws nothing: it reads the
G step's own fake batch and its ``z``.
Changing this order changes every trained weight; the resume tests and the
fixed-seed comparisons guard it.

A diffusion model (``MODELS[model].kind == 'diffusion'``) has no D: one step of
:func:`diffusion_step` draws a real batch (the data generator), then the noise
step, the noise and (conditional) the label dropout from the noise generator
(:meth:`~ganaug.gan.diffusion.DDPM.loss`), and updates the model on the
noise-prediction MSE.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from .augment import diff_augment
from .state import TrainingState


def scale_batch(images: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """uint8 (N, C, R, R) images -> float in [-1, 1], in ``memory_format``."""
    return images.float().div_(127.5).sub_(1.0).contiguous(memory_format=memory_format)


@dataclass
class StepSettings:
    """What one generator step needs besides the trained state (see :func:`generator_step`)."""

    data: torch.Tensor  # uint8 (N, C, R, R) on the device
    labels: torch.Tensor  # int64 (N,) on the device
    conditional: bool
    num_classes: int
    batch_size: int
    nz: int
    n_critic: int
    uniform_labels: bool  # fake_labels: uniform
    policy: list[str]  # DiffAugment policies ([] = off)
    memory_format: torch.memory_format
    amp_ctx: Any  # autocast context (re-entered every use)
    r1_gamma: float = 0.0  # R1 weight (0 = off)
    r1_every: int = 16  # lazy R1: every K generator steps, weighted by K
    mode_seeking: float = 0.0  # weight of :func:`mode_seeking_loss` in G's loss (0 = off)


def d_view(D: torch.nn.Module, policy: list[str], generator: torch.Generator) -> Callable:
    """D as the losses see it: on DiffAugment-ed images (drawn from ``generator``) when ``policy`` is set."""

    def seen(x, y=None):
        return D(diff_augment(x, policy, generator) if policy else x, y)

    return seen


def real_batch(s: TrainingState, cfg: StepSettings) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The next real batch (scaled) and its labels (``None`` unless conditional)."""
    idx = s.sampler.next()
    return scale_batch(cfg.data[idx], cfg.memory_format), (cfg.labels[idx] if cfg.conditional else None)


def fake_inputs(s: TrainingState, cfg: StepSettings, real_labels: torch.Tensor | None):
    """``z`` and the fake labels for one fake batch: the real batch's labels, uniform ones, or ``None``."""
    device = cfg.data.device
    z = torch.randn(cfg.batch_size, cfg.nz, generator=s.noise_gen, device=device)
    if real_labels is None:
        return z, None
    if cfg.uniform_labels:
        return z, torch.randint(0, cfg.num_classes, (cfg.batch_size,), generator=s.noise_gen, device=device)
    return z, real_labels


def r1_penalty(D_seen, real: torch.Tensor, real_labels) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``E ||grad_x D(x)||^2`` over real images ``x``, as D sees them (through
    DiffAugment, as StyleGAN2-ADA does). The graph is kept, so the penalty trains D towards a flat response
    around the real data - a zero-centred penalty, unlike WGAN-GP's unit-norm one on interpolates."""
    x = real.detach().requires_grad_(True)
    out = D_seen(x, real_labels)
    (grad,) = torch.autograd.grad(out.float().sum(), x, create_graph=True)
    return grad.float().square().flatten(1).sum(1).mean()


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Mode seeking (Mao et al., CVPR 2019, MSGAN): ``1 / (r + 1e-5)``, ``r`` the mean over pairs of images drawn
    for the same label of ``mean|G(z_i) - G(z_j)| / mean|z_i - z_j|``. Minimised by G, it pays for two latent
    codes that land on near-identical images: a collapse towards a few modes. MSGAN pairs the two halves of a
    batch drawn twice for the same labels; here each image is paired with the next one of its label in the batch
    as it is (every consecutive pair when unconditional): no second draw, O(batch) distances. A batch without
    two images of one label gives 0."""
    n, dtype = fake.shape[0], torch.promote_types(fake.dtype, torch.float32)  # bf16 / fp16 under autocast: float32
    images, codes = fake.to(dtype).reshape(n, -1), z.to(dtype).reshape(n, -1)
    order = torch.arange(n, device=fake.device) if labels is None else torch.argsort(labels, stable=True)
    first, second = order[:-1], order[1:]
    if labels is not None:
        same = labels[first] == labels[second]
        first, second = first[same], second[same]
    if first.numel() == 0:
        return fake.new_zeros((), dtype=dtype)
    d_images = (images[first] - images[second]).abs().mean(1)
    d_codes = (codes[first] - codes[second]).abs().mean(1)
    return 1.0 / ((d_images / d_codes).mean() + 1e-5)


def d_step(s: TrainingState, loss_fn, D_seen, amp_ctx, real, real_labels, fake, fake_labels, r1_weight: float = 0.0):
    """Update D on a real and a fake batch, plus ``r1_weight / 2`` x :func:`r1_penalty` when that is not 0;
    returns ``(loss_d, d_real, d_fake)`` (on the device; ``loss_d`` without the penalty)."""
    s.opt_d.zero_grad(set_to_none=True)
    with amp_ctx:
        loss_d, d_real, d_fake = loss_fn.d_loss(D_seen, real, real_labels, fake.detach(), fake_labels)
        total = loss_d + (0.5 * r1_weight) * r1_penalty(D_seen, real, real_labels) if r1_weight else loss_d
    s.scaler_d.scale(total).backward()
    s.scaler_d.step(s.opt_d)
    s.scaler_d.update()
    return loss_d, d_real, d_fake


def g_step(s: TrainingState, loss_fn, D_seen, amp_ctx, fake, fake_labels, d_params, z=None, ms_weight: float = 0.0):
    """Update G through the (updated) D, plus ``ms_weight`` x :func:`mode_seeking_loss` of ``fake`` (made from
    ``z``) when that is not 0; D's weights ``d_params`` need no gradient here. Returns ``loss_g`` (without the
    mode-seeking term)."""
    for p in d_params:
        p.requires_grad_(False)
    s.opt_g.zero_grad(set_to_none=True)
    with amp_ctx:
        loss_g = loss_fn.g_loss(D_seen, fake, fake_labels)
    total = loss_g + ms_weight * mode_seeking_loss(fake, z, fake_labels) if ms_weight else loss_g
    s.scaler_g.scale(total).backward()
    s.scaler_g.step(s.opt_g)
    s.scaler_g.update()
    for p in d_params:
        p.requires_grad_(True)
    return loss_g


def generator_step(s: TrainingState, cfg: StepSettings, loss_fn, D_seen, d_params, step: int) -> torch.Tensor:
    """``n_critic`` D steps, one G step, the EMA update.

    Returns ``(loss_d, loss_g, d_real, d_fake)`` as one float32 tensor on the device (no host sync).
    """
    # lazy R1 (StyleGAN2): on the first critic step of every r1_every-th generator step, weighted by r1_every
    r1 = cfg.r1_gamma * cfg.r1_every if cfg.r1_gamma and step % cfg.r1_every == 0 else 0.0
    for k in range(cfg.n_critic):
        real, real_labels = real_batch(s, cfg)
        z, fake_labels = fake_inputs(s, cfg, real_labels)
        last = k == cfg.n_critic - 1
        with cfg.amp_ctx, nullcontext() if last else torch.no_grad():
            fake = s.G(z, fake_labels)  # the last critic step's fake batch also trains G
        weight = r1 if k == 0 else 0.0
        loss_d, d_real, d_fake = d_step(s, loss_fn, D_seen, cfg.amp_ctx, real, real_labels, fake, fake_labels, weight)
    loss_g = g_step(s, loss_fn, D_seen, cfg.amp_ctx, fake, fake_labels, d_params, z, cfg.mode_seeking)
    if s.ema:
        s.ema.update(s.G, step)
    return torch.stack([loss_d.detach(), loss_g.detach(), d_real, d_fake]).float()


def diffusion_step(s: TrainingState, cfg: StepSettings, p_uncond: float, step: int) -> torch.Tensor:
    """One update of a diffusion model on the noise-prediction loss, then the EMA.

    Returns ``(loss,)`` as a float32 tensor on the device (no host sync).
    """
    real, labels = real_batch(s, cfg)
    s.opt_g.zero_grad(set_to_none=True)
    with cfg.amp_ctx:
        loss = s.G.loss(real, labels, s.noise_gen, p_uncond)
    s.scaler_g.scale(loss).backward()
    s.scaler_g.step(s.opt_g)
    s.scaler_g.update()
    if s.ema:
        s.ema.update(s.G, step)
    return loss.detach().float().reshape(1)
