"""Train a classifier on in-memory uint8 images with per-epoch model selection.

Design
------
* Data: the (small) training and validation sets are held on the device as
  uint8 NCHW tensors; each batch is scaled to [-1, 1] (``(x/255 - 0.5)/0.5``)
  on the device.  Batches are drawn from a permutation made by a seeded CPU
  :class:`torch.Generator`, so shuffling does not depend on the global RNG.
* Optimiser: **AdamW** (decoupled weight decay, Loshchilov & Hutter 2019) with
  ``cfg['lr']`` and ``cfg['weight_decay']``; with Adam's L2 coupling the decay
  would be scaled down by the adaptive step, so AdamW makes ``weight_decay``
  mean what it says (with ``weight_decay = 0`` it is exactly Adam).  Fine-tuning
  (:func:`parameter_groups`): ``cfg['lr_backbone_mult'] != 1`` gives the backbone its
  own group at ``lr * mult`` beside the head (``model.fc``) at ``lr``;
  ``cfg['freeze'] = 'backbone'`` leaves the backbone out (a linear probe, its
  BatchNorm in eval mode).  The schedule scales every group alike.  LR
  schedule: cosine annealing per step to 0 over all epochs
  (``cfg['lr_schedule'] = 'cosine'``, the default), constant (``'none'``), or
  ``'multistep'``: multiplied by ``cfg['lr_gamma']`` (default 0.1) at the
  epochs ``round(m * epochs)`` for each ``m`` in ``cfg['lr_milestones']``
  (default ``[0.5, 0.75]``: the MedMNIST v2 schedule, 0.1x at epochs 50 and 75 of 100).
* Model selection: after every epoch the model is evaluated on the validation
  set; the state dict of the best epoch by ``cfg['select_metric']`` (``auc``,
  the default, ``acc`` or ``loss``) is kept as a copy and loaded into the
  returned model.  Ties in AUC/accuracy - and a NaN AUC, e.g. a single-class
  validation set - are decided by the validation loss.
* Mixed precision: ``cfg['amp']`` ('none', the default here; 'bf16'; 'fp16' on
  CUDA with loss scaling; 'auto' = bf16 where the device does bf16 in hardware,
  see :func:`ganaug.runtime.resolve_amp`) runs the network body's forward passes,
  training and validation, under autocast.  Weights, optimiser state, BatchNorm
  statistics, the classification head and the loss stay float32.
* Determinism: model initialisation is seeded with ``torch.manual_seed(seed)``
  and shuffling with its own generator, so on CPU the same seed, data and
  thread count give bit-identical results.
* Baselines (see :mod:`ganaug.classifier.baselines`) plug in without changing
  the loop: ``class_weight`` (weighted cross-entropy), ``augment`` (a callable
  applied to each scaled training batch, e.g. classic flips / affine /
  brightness-contrast) and ``oversample`` (each epoch draws ``len(train_y)``
  indices with replacement, class-balanced, from the seeded generator instead
  of a permutation).

Layout: :func:`train_classifier` is the epoch loop; ``_Data`` holds and checks
the tensors, ``_Optimisation`` the optimiser, LR schedules and mixed precision,
``_train_epoch`` is one pass over the training set, ``_validate`` the
validation metrics and ``_is_better`` the model-selection rule.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ganaug.classifier.evaluate import auc_score, images_to_tensor, predict_logits, scale_images
from ganaug.classifier.networks import (
    CHANNELS_LAST_MIN_1X1_STRIDED,
    build_classifier,
    check_input_size,
    freeze_backbone,
    in_format,
    memory_format_for,
)
from ganaug.io import PathLike, save_dataframe
from ganaug.runtime import AMP_MODES, autocast, resolve_amp

__all__ = [
    "train_classifier",
    "balanced_indices",
    "milestone_epochs",
    "REQUIRED_KEYS",
    "OPTIONAL_DEFAULTS",
    "SELECT_METRICS",
    "HISTORY_COLUMNS",
    "parameter_groups",
]

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("arch", "epochs", "batch_size", "lr", "weight_decay")
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "width": 64,  # resnet18_small only
    "pretrained": "none",  # none | imagenet (torchvision archs)
    "input_size": "native",  # native | side in px (torchvision archs; each batch resized on the fly)
    "freeze": "none",  # none | backbone (only the new head trains)
    "lr_backbone_mult": 1.0,  # backbone lr = lr x this (head: lr); 1.0 = one parameter group
    "select_metric": "auc",  # auc | acc | loss (validation)
    "lr_schedule": "cosine",  # cosine | none | multistep
    "eval_batch_size": 512,
    "channels_last": True,  # NHWC memory format: measured 1.5x (width 16) / 1.2x (width 32) faster on CPU
    "lr_milestones": (0.5, 0.75),  # multistep only: fractions of the epochs
    "lr_gamma": 0.1,  # multistep only
    "amp": "none",  # none | auto | bf16 | fp16 (CUDA)
}
SELECT_METRICS = ("auc", "acc", "loss")
LR_SCHEDULES = ("cosine", "none", "multistep")
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_auc", "val_acc", "seconds", "lr", "selected"]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _resolve_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"classifier config is missing key(s): {', '.join(missing)}")
    opts = {**OPTIONAL_DEFAULTS, **{k: cfg[k] for k in cfg if k in REQUIRED_KEYS or k in OPTIONAL_DEFAULTS}}
    for key in ("width", "epochs", "batch_size", "eval_batch_size"):
        if int(opts[key]) < 1:
            raise ValueError(f"classifier {key} must be >= 1, got {opts[key]}")
        opts[key] = int(opts[key])
    opts["channels_last"] = bool(opts["channels_last"])
    opts["lr"] = float(opts["lr"])
    opts["weight_decay"] = float(opts["weight_decay"])
    if not opts["lr"] > 0:
        raise ValueError(f"classifier lr must be > 0, got {opts['lr']}")
    if opts["select_metric"] not in SELECT_METRICS:
        raise ValueError(f"select_metric must be one of {SELECT_METRICS}, got {opts['select_metric']!r}")
    if opts["lr_schedule"] not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {opts['lr_schedule']!r}")
    if opts["amp"] not in ("auto", *AMP_MODES):
        raise ValueError(f"classifier amp must be one of auto, {', '.join(AMP_MODES)}; got {opts['amp']!r}")
    if opts["pretrained"] not in ("none", "imagenet"):
        raise ValueError(f"classifier pretrained must be 'none' or 'imagenet', got {opts['pretrained']!r}")
    if opts["freeze"] not in ("none", "backbone"):
        raise ValueError(f"classifier freeze must be 'none' or 'backbone', got {opts['freeze']!r}")
    size = opts["input_size"]
    if size != "native" and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"classifier input_size must be 'native' or a positive integer, got {size!r}")
    opts["lr_backbone_mult"] = float(opts["lr_backbone_mult"])
    if not opts["lr_backbone_mult"] >= 0:
        raise ValueError(f"classifier lr_backbone_mult must be >= 0, got {opts['lr_backbone_mult']}")
    opts["lr_gamma"] = float(opts["lr_gamma"])
    opts["lr_milestones"] = [float(m) for m in opts["lr_milestones"]]
    if not all(0.0 < m < 1.0 for m in opts["lr_milestones"]):
        raise ValueError(f"lr_milestones must be fractions of the epochs in (0, 1), got {opts['lr_milestones']}")
    return opts


def milestone_epochs(milestones, epochs: int) -> list[int]:
    """Epochs after which a multistep schedule decays: ``round(m * epochs)``, distinct, >= 1."""
    return sorted({max(1, int(math.floor(m * epochs + 0.5))) for m in milestones})


def balanced_indices(y: torch.Tensor, num_classes: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices drawn with replacement, each class equally likely (class-balanced oversampling).

    Image ``i`` is drawn with probability proportional to ``1 / count[y_i]``
    (PyTorch's ``WeightedRandomSampler`` recipe); classes absent from ``y`` get
    no draws.  Uses the seeded CPU ``generator``; returns CPU int64 indices.
    """
    y = y.cpu()
    counts = torch.bincount(y, minlength=num_classes).double()
    w = 1.0 / counts.clamp(min=1.0)
    return torch.multinomial(w[y], n, replacement=True, generator=generator)


def parameter_groups(model: torch.nn.Module, lr: float, backbone_mult: float = 1.0) -> list[dict[str, Any]]:
    """The optimiser's parameter groups: the head (``model.fc``) at ``lr`` first, then the backbone at
    ``lr * backbone_mult``; one group when ``backbone_mult`` is 1. Frozen parameters are left out."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    head_ids = {id(p) for p in model.fc.parameters()}
    head = [p for p in trainable if id(p) in head_ids]
    backbone = [p for p in trainable if id(p) not in head_ids]
    if backbone_mult == 1.0 or not backbone:
        return [{"params": trainable, "lr": lr}]  # the model's own parameter order, as before groups existed
    return [{"params": head, "lr": lr}, {"params": backbone, "lr": lr * backbone_mult}]


def _labels_tensor(y, n: int, num_classes: int, name: str, device: torch.device) -> torch.Tensor:
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels for {n} images")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} labels must be in [0, {num_classes - 1}], got [{y.min()}, {y.max()}]")
    return torch.from_numpy(y).to(device)


def _is_better(metric: str, cur: dict[str, float], best: dict[str, float] | None) -> bool:
    """Higher AUC / accuracy wins; ties and NaN fall back to lower validation loss."""
    if best is None:
        return True
    if metric != "loss":
        key = f"val_{metric}"
        a, b = cur[key], best[key]
        if not (math.isnan(a) or math.isnan(b)) and a != b:
            return a > b
    return cur["val_loss"] < best["val_loss"]  # False for NaN loss


class _Data:
    """Training (and validation) images on the device as uint8 NCHW, labels as int64; checked."""

    def __init__(self, train_x, train_y, val_x, val_y, num_classes: int, device: torch.device, class_weight=None):
        self.xtr = images_to_tensor(train_x, device)
        self.n = len(self.xtr)
        if self.n == 0:
            raise ValueError("empty training set")
        self.ytr = _labels_tensor(train_y, self.n, num_classes, "train_y", device)
        self.has_val = val_x is not None and len(val_x) > 0
        if self.has_val:
            self.xva = images_to_tensor(val_x, device)
            if self.xva.shape[1:] != self.xtr.shape[1:]:
                raise ValueError(
                    f"val images {tuple(self.xva.shape[1:])} (C,H,W) differ from train {tuple(self.xtr.shape[1:])}"
                )
            self.yva = _labels_tensor(val_y, len(self.xva), num_classes, "val_y", device)
            self.yva_np = self.yva.cpu().numpy()
        self.weight = None
        if class_weight is not None:
            self.weight = torch.as_tensor(np.asarray(class_weight, dtype=np.float32), device=device)
            if self.weight.shape != (num_classes,):
                raise ValueError(f"class_weight must have {num_classes} entries, got shape {tuple(self.weight.shape)}")


class _Optimisation:
    """AdamW, the LR schedule (per step: cosine; per epoch: multistep), mixed precision and its loss scaler."""

    def __init__(self, groups: list[dict[str, Any]], opts: dict[str, Any], steps_per_epoch: int, device: torch.device):
        self.optimizer = torch.optim.AdamW(groups, lr=opts["lr"], weight_decay=opts["weight_decay"])
        self.step_scheduler = None
        self.epoch_scheduler = None
        if opts["lr_schedule"] == "cosine":
            self.step_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=opts["epochs"] * steps_per_epoch
            )
        elif opts["lr_schedule"] == "multistep":
            self.epoch_scheduler = torch.optim.lr_scheduler.MultiStepLR(
                self.optimizer,
                milestones=milestone_epochs(opts["lr_milestones"], opts["epochs"]),
                gamma=opts["lr_gamma"],
            )
        self.amp = resolve_amp(opts["amp"], device)
        if self.amp != opts["amp"]:
            log.info("amp: %s resolves to %s on %s", opts["amp"], self.amp, device)
        self.amp_ctx = autocast(device, self.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == "fp16")

    def step(self, loss: torch.Tensor) -> None:
        """Backward, optimiser step (through the loss scaler), per-step LR schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.step_scheduler is not None:
            self.step_scheduler.step()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


def _train_epoch(
    model: torch.nn.Module,
    data: _Data,
    perm: torch.Tensor,
    batch_size: int,
    opt: _Optimisation,
    memory_format: torch.memory_format,
    generator: torch.Generator,
    augment: Augment | None = None,
) -> float:
    """One pass over ``perm`` in batches of ``batch_size``; returns the mean training loss (one host sync)."""
    model.train()
    loss_sum = torch.zeros((), device=data.xtr.device)
    for start in range(0, len(perm), batch_size):
        idx = perm[start : start + batch_size]
        xb = in_format(scale_images(data.xtr[idx]), memory_format)
        if augment is not None:
            xb = in_format(augment(xb, generator), memory_format)
        with opt.amp_ctx:
            logits = model(xb)
        loss = F.cross_entropy(logits.float(), data.ytr[idx], weight=data.weight)
        opt.step(loss)
        loss_sum += loss.detach() * len(idx)
    if opt.epoch_scheduler is not None:
        opt.epoch_scheduler.step()
    return float(loss_sum / data.n)


def _validate(model: torch.nn.Module, data: _Data, batch_size: int, amp: str) -> dict[str, float]:
    """``val_loss``, ``val_acc`` and ``val_auc`` on the validation set (NaN without one)."""
    if not data.has_val:
        return {"val_loss": float("nan"), "val_acc": float("nan"), "val_auc": float("nan")}
    return validation_row(predict_logits(model, data.xva, batch_size=batch_size, amp=amp), data)


def validation_row(logits: torch.Tensor, data: _Data) -> dict[str, float]:
    """``val_loss``, ``val_acc`` and ``val_auc`` from the float32 validation logits."""
    row = {"val_loss": float(F.cross_entropy(logits, data.yva))}
    row["val_acc"] = float((logits.argmax(1) == data.yva).float().mean())
    probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
    row["val_auc"] = auc_score(probs, data.yva_np)
    return row


def _describe_arch(opts: Mapping[str, Any]) -> str:
    if opts["arch"] == "resnet18_small":
        return f"resnet18_small-w{opts['width']}"
    parts = [opts["arch"]] + [opts["pretrained"]] * (opts["pretrained"] != "none")
    if opts["input_size"] != "native":
        parts.append(f"{opts['input_size']}px")
    return "-".join(parts + ["frozen"] * (opts["freeze"] == "backbone"))


def train_classifier(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray | None,
    val_y: np.ndarray | None,
    num_classes: int,
    cfg: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    progress: bool = True,
    log_path: PathLike | None = None,
    *,
    class_weight: np.ndarray | None = None,
    augment: Augment | None = None,
    oversample: bool = False,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train ``cfg['arch']`` on uint8 images ``(N, R, R, C)`` and return ``(model, history)``.

    ``cfg``: ``arch, epochs, batch_size, lr, weight_decay`` and optionally ``width``
    (resnet18_small), ``pretrained`` (none|imagenet), ``input_size`` (native|px),
    ``freeze`` (none|backbone), ``lr_backbone_mult``, ``select_metric`` (auc|acc|loss), ``lr_schedule`` (cosine|none|multistep),
    ``lr_milestones``, ``lr_gamma``, ``eval_batch_size``, ``channels_last`` (bool),
    ``amp`` (none|auto|bf16|fp16); other keys (e.g. ``seeds``) are ignored.

    ``val_x``/``val_y`` may be ``None``: then no selection is done and the
    last epoch's weights are returned (validation columns are NaN).

    ``history`` has one row per epoch: ``epoch, train_loss, val_loss, val_auc,
    val_acc, seconds, lr`` (the LR at the epoch's end) and ``selected`` (True
    on the epoch whose weights the returned model holds).  With ``log_path``
    the history so far is written there as CSV (atomically) after every epoch.

    ``class_weight``: per-class weights for the training cross-entropy.
    ``augment(x, generator) -> x``: applied to each scaled float training batch
    (NCHW, [-1, 1], on ``device``); ``generator`` is the seeded CPU generator.
    ``oversample``: every epoch draws ``len(train_y)`` class-balanced indices with
    replacement (:func:`balanced_indices`) instead of a permutation.
    """
    opts = _resolve_cfg(cfg)
    device = torch.device(device)
    num_classes = int(num_classes)
    data = _Data(train_x, train_y, val_x, val_y, num_classes, device, class_weight)
    n, bs = data.n, opts["batch_size"]

    torch.manual_seed(seed)
    input_size = None if opts["input_size"] == "native" else opts["input_size"]
    check_input_size(opts["arch"], input_size or data.xtr.shape[-1])
    model = build_classifier(
        opts["arch"],
        num_classes,
        in_channels=data.xtr.shape[1],
        width=opts["width"],
        pretrained=opts["pretrained"],
        input_size=input_size,
    ).to(device)
    if opts["freeze"] == "backbone":
        freeze_backbone(model)
    memory_format = memory_format_for(model, opts["channels_last"], device)
    if opts["channels_last"] and memory_format != torch.channels_last:
        log.info("channels_last off: a 1x1 strided convolution narrower than %d channels (oneDNN bug on the CPU)",
                 CHANNELS_LAST_MIN_1X1_STRIDED)  # fmt: skip
    model = model.to(memory_format=memory_format)
    groups = parameter_groups(model, opts["lr"], opts["lr_backbone_mult"])
    opt = _Optimisation(groups, opts, math.ceil(n / bs), device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))

    rows: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    bar = tqdm(
        range(1, opts["epochs"] + 1),
        desc=f"train {_describe_arch(opts)} seed {seed}",
        unit="epoch",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    for epoch in bar:
        t0 = time.perf_counter()
        if oversample:
            perm = balanced_indices(data.ytr, num_classes, n, gen).to(device)
        else:
            perm = torch.randperm(n, generator=gen).to(device)
        train_loss = _train_epoch(model, data, perm, bs, opt, memory_format, gen, augment)
        if not math.isfinite(train_loss):
            raise RuntimeError(f"training diverged: train loss is {train_loss} at epoch {epoch} (try a lower lr)")
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
        row.update(_validate(model, data, opts["eval_batch_size"], opt.amp))
        row.update(seconds=time.perf_counter() - t0, lr=opt.lr, selected=False)
        rows.append(row)

        if not data.has_val or _is_better(opts["select_metric"], row, best):
            best = row
            best_state = copy.deepcopy(model.state_dict())
        for r in rows:
            r["selected"] = r is best

        bar.set_postfix(loss=f"{train_loss:.3f}", val_loss=f"{row['val_loss']:.3f}", val_auc=f"{row['val_auc']:.3f}")
        log.info(
            "epoch %d/%d: train_loss %.4f val_loss %.4f val_auc %.4f val_acc %.4f (%.1f s)",
            epoch,
            opts["epochs"],
            train_loss,
            row["val_loss"],
            row["val_auc"],
            row["val_acc"],
            row["seconds"],
        )
        if log_path is not None:
            save_dataframe(Path(log_path), pd.DataFrame(rows, columns=HISTORY_COLUMNS))
    bar.close()

    assert best_state is not None and best is not None
    model.load_state_dict(best_state)
    model.eval()
    log.info("selected epoch %d by val %s", best["epoch"], opts["select_metric"])
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return model, history
