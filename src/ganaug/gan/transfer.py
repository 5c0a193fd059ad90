"""Few-shot transfer: start a GAN from another one's weights, with D's lower layers frozen (FreezeD).

Mo, Cho & Shin 2020 ("Freeze the Discriminator: a Simple Baseline for
Fine-Tuning GANs"): fine-tune a GAN trained on a larger set on the few target
images, keeping the discriminator's first layers fixed — its low-level features
(edges, textures) stay those learnt from the large set, and only its upper
layers and G adapt. Here the large set is every class's training images
(``transfer`` in ``benchmarks/gan_quality.py``: one unconditional GAN on all
classes, then one fine-tuned copy per class).

In the workflow a ``per_class`` cell asks for it with ``transfer: {steps: S, freeze_d: K}``:
rule ``pretrain_gan`` trains the shared GAN (the cell's model and settings, S steps, all
classes' training images as one class) into ``results/gan/{gan}/transfer/base/``, and each
class's ``train_gan`` job fine-tunes a copy for the cell's ``steps`` (:func:`ganaug.config.base_settings`,
:func:`finetune_settings`). At equal total compute with training from scratch, a cell of K
classes spends S + K x steps. Another cell may start from that shared GAN with
``transfer: {from: CELL}``; a conditional DCGAN-type or ResGAN cell does so through
:func:`as_conditional` (config.yaml's ``cdcgan``).

Settings (``train_gan``): ``init_from`` — a ``train_gan`` ``checkpoint.pt`` of the
same model, mode, widths and resolution whose G, D (and G's EMA, when both
keep one) start the run (a diffusion model is neither a start nor a target:
:func:`check_init_from`); ``freeze_d`` — how many of D's stages, counted from
the input, get no updates (0 = plain fine-tuning). A stage is one strided
convolution with its norm and activation (DCGAN-type D) or one residual block
(``resgan``).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ganaug.io import torch_load
from ganaug.names import DIFFUSION_MODELS


def d_stages(D: nn.Module) -> list[nn.Module]:
    """D's stages from the input up: its residual blocks, or its conv body split at each convolution."""
    if hasattr(D, "blocks"):
        return list(D.blocks)
    body = getattr(getattr(D, "body", None), "main", None)
    if body is None:
        raise ValueError(f"freeze_d: the {type(D).__name__} discriminator has no stages to freeze")
    stages: list[list[nn.Module]] = []
    for layer in body:
        if isinstance(layer, nn.Conv2d) or not stages:
            stages.append([])
        stages[-1].append(layer)
    return [nn.Sequential(*s) for s in stages]


def freeze_lower(D: nn.Module, n: int) -> list[nn.Parameter]:
    """Stop gradients to D's first ``n`` stages; returns the parameters that still train."""
    if n == 0:
        return list(D.parameters())
    stages = d_stages(D)
    if not 0 <= n < len(stages):
        raise ValueError(f"freeze_d must be in [0, {len(stages) - 1}] for this discriminator, got {n}")
    frozen = {id(p) for s in stages[:n] for p in s.parameters()}
    for p in D.parameters():
        if id(p) in frozen:
            p.requires_grad_(False)
    return [p for p in D.parameters() if id(p) not in frozen]


def as_conditional(state: dict, module: nn.Module) -> tuple[dict, bool]:
    """``state`` (an unconditional DCGAN-type or ResGAN G or D) made to fit ``module``, its conditional form.

    The added parts start where the conditional network computes what the unconditional
    one did, so fine-tuning starts from the shared GAN's images and learns the classes.
    DCGAN-type: G's label embedding (``z * emb(y)``) starts at ones; D's label map keeps its
    own initialisation and D's first convolution reads it through new input-channel weights
    that start at zero (one of the two must be non-zero or neither would ever get a
    gradient); both networks compute exactly the unconditional ones. DCGAN-type with
    ``class_norm``: the per-class BatchNorm offsets and the projection start at zero (the body's
    weights are the shared GAN's, and a zero projection still gets a gradient), again exact. ResGAN: every
    conditional BatchNorm's per-class gain and bias rows start as copies of the shared
    pair (G exact for every label); the projection discriminator's class embedding keeps its
    own initialisation, since spectral norm cannot normalise a zero matrix, so D starts as
    the shared D plus a class term ``<embed(y), h>`` of spectral norm 1. Returns
    ``(state, changed)``; keys this cannot explain are left for ``load_state_dict`` to name.
    """
    out, changed = dict(state), False
    for key, want in module.state_dict().items():
        have = out.get(key)
        if have is not None and have.shape == want.shape:
            continue
        if have is None and key.endswith("label_emb.weight"):
            out[key], changed = torch.ones_like(want), True
        elif have is None and key.endswith(("class_gain.weight", "class_bias.weight", "proj.weight")):
            out[key], changed = torch.zeros_like(want), True  # class_norm: per-class offsets, projection at zero
        elif have is None and (key.endswith("label_map.weight") or key.startswith("embed.")):
            out[key], changed = want.clone(), True
        elif have is not None and key.endswith(("gain.weight", "bias.weight")) and have.dim() == 2 \
                and have.shape[0] == 1 and have.shape[1] == want.shape[1]:  # fmt: skip
            out[key], changed = have.expand_as(want).clone(), True
        elif have is not None and have.dim() == 4 and want.shape[1] == have.shape[1] + 1 \
                and (want.shape[0], *want.shape[2:]) == (have.shape[0], *have.shape[2:]):  # fmt: skip
            w = torch.zeros_like(want)
            w[:, : have.shape[1]] = have  # the label map is the last input channel
            out[key], changed = w, True
    return out, changed


def check_init_from(path: str | os.PathLike, model: str) -> None:
    """Refuse a transfer with a diffusion model on either side: the run's ``model`` or the one ``path`` holds.

    FreezeD fine-tunes a GAN's discriminator and a diffusion model has none; the
    config check refuses a diffusion cell's ``transfer`` block for the same reason,
    this refuses a direct ``train_gan`` call. One ``ValueError`` line naming ``path``.
    """
    if model in DIFFUSION_MODELS:
        what = f"this run's model {model!r} is a diffusion model"
    else:
        ckpt = torch_load(path, map_location="cpu")
        if not isinstance(ckpt, dict):
            return  # not a checkpoint at all: load_init says so
        source = (ckpt.get("meta") or {}).get("model")
        if source not in DIFFUSION_MODELS and not ("D" in ckpt and ckpt["D"] is None):
            return
        what = f"it holds the diffusion model {source!r}" if source else "it holds a diffusion model (no D)"
    raise ValueError(
        f"GAN setting init_from = {path}: {what}; diffusion models cannot be transfer starts or targets "
        "(FreezeD transfer fine-tunes a GAN's discriminator)"
    )


def load_init(path: str | os.PathLike, G: nn.Module, D: nn.Module, G_ema: nn.Module | None) -> bool:
    """Copy G's and D's weights (and the EMA's, else G's into the EMA) from a ``train_gan`` checkpoint.

    A conditional DCGAN-type GAN or ResGAN may start from an unconditional one of the same widths
    (:func:`as_conditional`); returns True when that happened.
    """
    ckpt = torch_load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or "G" not in ckpt or "D" not in ckpt:
        raise ValueError(f"init_from {path}: not a train_gan checkpoint.pt (needs 'G' and 'D')")
    g_state, g_changed = as_conditional(ckpt["G"], G)
    d_state, d_changed = as_conditional(ckpt["D"], D)
    try:
        G.load_state_dict(g_state)
        D.load_state_dict(d_state)
        if G_ema is not None:
            G_ema.load_state_dict(as_conditional(ckpt.get("G_ema") or ckpt["G"], G_ema)[0])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(
            f"init_from {path}: its networks do not match this GAN's (model, widths, size): {first}"
        ) from None
    return g_changed or d_changed


#: the name the shared all-classes GAN trains under (its one class)
BASE_CLASS = "all"


def finetune_settings(settings: dict, base_checkpoint: str | os.PathLike) -> dict:
    """``train_gan`` settings of a transfer cell's job: the cell's, starting from the shared GAN.

    ``freeze_d`` defaults to 1 for a per_class cell and to 0 for a conditional one (its D
    reads the label in its first stage).
    """
    default = 0 if settings["mode"] == "conditional" else 1
    out = {k: v for k, v in settings.items() if k != "transfer"}
    out.update(init_from=str(base_checkpoint), freeze_d=int(settings["transfer"].get("freeze_d", default)))
    return out
