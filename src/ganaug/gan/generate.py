"""Load trained generators and draw synthetic images from them.

Generation runs the generator in eval mode (BatchNorm uses its running
statistics), so an image depends only on its own noise vector, never on the
batch it was drawn in. Noise is drawn on the CPU from a seeded generator, so a
seed gives the same noise on every device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ganaug.io import torch_load

from .models import build_gan

META_KEYS = ("model", "mode", "channels", "resolution", "num_classes", "nz", "ngf", "ndf", "class_names")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Generator output (N, C, R, R) in [-1, 1] -> uint8 (N, R, R, C)."""
    x = ((x.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def load_generator(checkpoint_path: str | os.PathLike, device, step: int | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a trained generator, in eval mode on ``device``.

    A diffusion model comes back as its DDIM sampler (``G(z, labels)`` like a GAN's G; its
    settings from ``meta['arch']``).

    ``checkpoint_path``: a ``train_gan`` ``checkpoint.pt`` (its EMA weights when
    training kept an EMA, else G's) or ``snapshots.pt`` (the sampling weights
    of checkpoint ``step``; default the last one). ``meta['step']`` says which.
    """
    ckpt = torch_load(checkpoint_path, map_location="cpu")
    if not isinstance(ckpt, dict) or "meta" not in ckpt or not ({"G", "weights"} & set(ckpt)):
        raise ValueError(f"{checkpoint_path}: not a GAN checkpoint (needs 'meta' and 'G' or 'weights')")
    meta = dict(ckpt["meta"])
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{checkpoint_path}: checkpoint meta lacks {', '.join(missing)}")
    if "weights" in ckpt:
        steps = [int(s) for s in ckpt["steps"]]
        step = steps[-1] if step is None else int(step)
        if str(step) not in ckpt["weights"]:
            raise ValueError(f"{checkpoint_path}: no snapshot at step {step}; snapshots: {steps}")
        weights = ckpt["weights"][str(step)]
    else:
        if step is not None and int(step) != int(meta.get("steps", -1)):
            raise ValueError(f"{checkpoint_path} holds step {meta.get('steps')}, not {step}; use snapshots.pt")
        step = int(meta.get("steps", 0))
        weights = ckpt["G_ema"] if ckpt.get("G_ema") is not None else ckpt["G"]
    G, _ = build_gan(
        meta["model"], meta["mode"], meta["channels"], meta["resolution"], meta["num_classes"],
        meta["nz"], meta["ngf"], meta["ndf"], **meta.get("arch", {}),
    )  # fmt: skip
    G.load_state_dict(weights)
    meta["step"] = step
    return G.to(device).eval(), meta


@torch.inference_mode()
def generate_images(
    G: nn.Module, meta: dict, n: int, label: int | None, seed: int, device, batch_size: int = 256
) -> np.ndarray:
    """Draw ``n`` images (uint8, (n, R, R, C)); ``label`` is required for a conditional G."""
    conditional = meta["mode"] == "conditional"
    if conditional and label is None:
        raise ValueError("a conditional generator needs a label")
    if conditional and not 0 <= int(label) < meta["num_classes"]:
        raise ValueError(f"label {label} out of range for {meta['num_classes']} classes")
    device = torch.device(device)
    r, c = meta["resolution"], meta["channels"]
    out = np.empty((n, r, r, c), np.uint8)
    z_all = torch.randn(n, meta["nz"], generator=torch.Generator().manual_seed(int(seed)))
    was_training = G.training
    G.eval()
    try:
        for start in range(0, n, batch_size):
            z = z_all[start : start + batch_size].to(device)
            labels = torch.full((len(z),), int(label), dtype=torch.long, device=device) if conditional else None
            out[start : start + len(z)] = to_uint8(G(z, labels))
    finally:
        G.train(was_training)
    return out


def class_seed(seed: int, label: int) -> int:
    """A seed for class ``label`` derived from ``seed``, independent across classes."""
    return int(np.random.SeedSequence([int(seed), int(label)]).generate_state(1)[0])


def generate_samples(
    checkpoints: Mapping[str, str | os.PathLike] | str | os.PathLike,
    mode: str,
    class_names: list[str],
    n_per_class: int,
    seed: int,
    device,
    steps: Mapping[str, int] | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_per_class`` images per class; returns ``(images uint8, labels int64)``.

    ``steps``: which snapshot of a ``snapshots.pt`` to use (per_class: a dict
    class name -> step; conditional: one step); None = each file's default.

    ``per_class``: ``checkpoints`` maps class name -> checkpoint; the classes
    drawn are its keys, in ``class_names`` order. ``conditional``: one checkpoint
    path; every class in ``class_names`` is drawn. Class ``k`` uses the seed
    ``class_seed(seed, k)``, so its images do not depend on the other classes.
    """
    class_names = list(class_names)
    if mode == "per_class":
        if not isinstance(checkpoints, Mapping):
            raise ValueError("per_class generation needs a dict class name -> checkpoint path")
        unknown = [k for k in checkpoints if k not in class_names]
        if unknown:
            raise ValueError(f"checkpoints for unknown class(es) {unknown}; classes: {class_names}")
        jobs = [
            (class_names.index(name), checkpoints[name], (steps or {}).get(name))
            for name in class_names
            if name in checkpoints
        ]
    elif mode == "conditional":
        if isinstance(checkpoints, Mapping):
            raise ValueError("conditional generation needs one checkpoint path, not a dict")
        jobs = [(k, checkpoints, steps) for k in range(len(class_names))]
    else:
        raise ValueError(f"unknown GAN mode {mode!r}; allowed: per_class, conditional")

    images, labels, loaded = [], [], {}
    for label, path, step in jobs:
        key = (os.fspath(path), step)
        if key not in loaded:
            loaded = {key: load_generator(path, device, step)}  # keep one generator in memory at a time
        G, meta = loaded[key]
        if meta["mode"] != mode:
            raise ValueError(f"{path}: trained in mode {meta['mode']!r}, asked for {mode!r}")
        if mode == "conditional" and list(meta["class_names"]) != class_names:
            raise ValueError(f"{path}: trained on classes {meta['class_names']}, asked for {class_names}")
        if mode == "per_class" and meta.get("class_label", label) != label:
            raise ValueError(f"{path}: trained on class {meta.get('class_name')!r}, used for {class_names[label]!r}")
        images.append(generate_images(G, meta, n_per_class, label, class_seed(seed, label), device))
        labels.append(np.full(n_per_class, label, np.int64))
    if not images:
        raise ValueError("no classes to generate")
    return np.concatenate(images), np.concatenate(labels)
