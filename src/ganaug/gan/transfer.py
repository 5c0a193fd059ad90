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
class's ``train_gan`` job fine-tunes a copy for the cell's ``steps`` (:func:`base_settings`,
:func:`finetune_settings`). At equal total compute with training from scratch, a cell of K
classes spends S + K x steps.

Settings (``train_gan``): ``init_from`` — a ``train_gan`` ``checkpoint.pt`` of the
same model, mode, widths and resolution whose G, D (and G's EMA, when both
keep one) start the run; ``freeze_d`` — how many of D's stages, counted from
the input, get no updates (0 = plain fine-tuning). A stage is one strided
convolution with its norm and activation (DCGAN-type D) or one residual block
(``resgan``).
"""

from __future__ import annotations

import os

from torch import nn

from ganaug.io import torch_load


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


def load_init(path: str | os.PathLike, G: nn.Module, D: nn.Module, G_ema: nn.Module | None) -> None:
    """Copy G's and D's weights (and the EMA's, else G's into the EMA) from a ``train_gan`` checkpoint."""
    ckpt = torch_load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or "G" not in ckpt or "D" not in ckpt:
        raise ValueError(f"init_from {path}: not a train_gan checkpoint.pt (needs 'G' and 'D')")
    try:
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        if G_ema is not None:
            G_ema.load_state_dict(ckpt.get("G_ema") or ckpt["G"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(
            f"init_from {path}: its networks do not match this GAN's (model, widths, size): {first}"
        ) from None


#: the name the shared all-classes GAN trains under (its one class)
BASE_CLASS = "all"


def base_settings(settings: dict) -> dict:
    """``train_gan`` settings of a transfer cell's shared GAN: the cell's, for ``transfer.steps`` steps."""
    steps = int(settings["transfer"]["steps"])
    out = {k: v for k, v in settings.items() if k != "transfer"}
    out.update(steps=steps, sample_every=min(int(settings["sample_every"]), steps))
    return out


def finetune_settings(settings: dict, base_checkpoint: str | os.PathLike) -> dict:
    """``train_gan`` settings of one class's fine-tuning: the cell's, starting from the shared GAN."""
    out = {k: v for k, v in settings.items() if k != "transfer"}
    out.update(init_from=str(base_checkpoint), freeze_d=int(settings["transfer"].get("freeze_d", 1)))
    return out
