"""Several seeds' classifiers trained at once, as one batched network (``torch.func``).

:func:`train_batched` is :func:`~ganaug.classifier.train.train_classifier` for K seeds of one
cell in lockstep: the K models are built as K separate runs build them (``torch.manual_seed(seed)``
before each), their parameters and buffers stacked (:func:`torch.func.stack_module_state`), and
every step runs them as one call, ``vmap(functional_call(model, ...))``, which turns each
convolution into a grouped one over the K models and each batch norm into one over K x C
channels. Each seed keeps its own shuffling generator, augmentation draws, class weights,
training set (its own n_real subset and synthetic images), validation-selected epoch and
batch-norm running statistics (the stacked buffers are vmapped, so their in-place updates stay
per model); AdamW and the LR schedule act element by element, so one optimiser over the stacked
tensors is K optimisers. The loss is the sum of the K losses, whose gradient for each model is
its own loss's.

What differs from K separate runs is the arithmetic: grouped kernels sum in another order, so
the results agree to rounding at the first step and then drift apart as any two float runs of
SGD do - a batched seed is *not* bit-identical to its separate run (benchmarks/README.md,
"Seeds of a cell in one job", gives the AUCs side by side). Restricted to what the default
experiment trains: ``resnet18_small``, no frozen backbone, one learning rate, amp none or bf16,
a validation split, and the same number of training images in every seed (true within a cell:
n_real and the synthetic counts do not depend on the seed). :func:`batch_refusal` says why not
otherwise; ``run_seeds(..., batched=True)`` then trains the seeds one by one.

It does not pay on a CPU: at the default scale on a 2-core Xeon with AMX, 3 seeds batched took
2.3 times as long as one by one (a grouped convolution is no faster than its groups run apart,
and vmap's batching rules add the rest; benchmarks/README.md, "Seeds of a cell in one job"),
so ``run_seeds`` leaves it off by default. It is kept for devices where a job is launch-bound
(a GPU), where it has not been measured.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ganaug.classifier.train import (
    HISTORY_COLUMNS,
    _Data,
    _is_better,
    _Optimisation,
    _resolve_cfg,
    balanced_indices,
    validation_row,
)

__all__ = ["batch_refusal", "train_batched"]


def batch_refusal(cfg: Mapping[str, Any], sizes: Sequence[int], device) -> str | None:
    """Why these settings / training-set sizes cannot be trained batched (``None``: they can)."""
    from ganaug.runtime import resolve_amp

    opts = _resolve_cfg(cfg)
    if opts["arch"] != "resnet18_small":
        return f"arch {opts['arch']} (batched: resnet18_small only)"
    if opts["freeze"] != "none" or opts["lr_backbone_mult"] != 1.0:
        return "a frozen backbone or a backbone learning rate of its own"
    if resolve_amp(opts["amp"], device) == "fp16":
        return "amp fp16 (its loss scaler would be shared by the seeds)"
    if len(set(sizes)) > 1:
        return f"training sets of different sizes {sorted(set(sizes))}"
    return None


class _Stack:
    """K models' parameters and buffers stacked on a leading dimension, and the one vmapped call that runs them."""

    def __init__(self, models: list[torch.nn.Module]):
        from torch.func import stack_module_state

        self.models = models
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")

    def _call(self, params, buffers, x):
        from torch.func import functional_call

        return functional_call(self.base, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """Logits ``(K, B, classes)`` for ``x`` ``(K, B, C, H, W)`` (one batch per model) or ``(B, C, H, W)`` shared."""
        from torch.func import vmap

        return vmap(self._call, in_dims=(0, 0, None if shared_input else 0))(self.params, self.buffers, x)

    def state(self, k: int) -> dict[str, torch.Tensor]:
        """Model ``k``'s state dict (copies)."""
        return {name: t[k].detach().clone() for name, t in {**self.params, **self.buffers}.items()}


def _build(train_x, num_classes: int, opts: dict[str, Any], seeds: Sequence[int], device):
    """The K seeds' models, stacked, and the memory format they train in (train_classifier's)."""
    from ganaug.classifier.networks import build_classifier, memory_format_for

    models = []
    for seed in seeds:
        torch.manual_seed(seed)  # as train_classifier does before building its model
        models.append(build_classifier(opts["arch"], num_classes, in_channels=train_x.shape[1], width=opts["width"]))
    memory_format = memory_format_for(models[0], opts["channels_last"], device)
    return _Stack([m.to(device).to(memory_format=memory_format) for m in models]), memory_format


def _epoch(stack: _Stack, datas, perms, bs: int, opt, memory_format, gens, augments) -> list[float]:
    """One pass of every model over its own permutation; returns the K mean training losses."""
    from ganaug.classifier.evaluate import scale_images
    from ganaug.classifier.networks import in_format

    stack.base.train()
    k_models = len(datas)
    loss_sums = torch.zeros(k_models, device=datas[0].xtr.device)
    for start in range(0, len(perms[0]), bs):
        xbs, ybs = [], []
        for k in range(k_models):
            idx = perms[k][start : start + bs]
            xb = in_format(scale_images(datas[k].xtr[idx]), memory_format)
            if augments[k] is not None:
                xb = in_format(augments[k](xb, gens[k]), memory_format)
            xbs.append(xb)
            ybs.append(datas[k].ytr[idx])
        with opt.amp_ctx:
            logits = stack(torch.stack(xbs))
        losses = torch.stack(
            [F.cross_entropy(logits[k].float(), ybs[k], weight=datas[k].weight) for k in range(k_models)]
        )
        opt.step(losses.sum())
        loss_sums += losses.detach() * len(ybs[0])
    if opt.epoch_scheduler is not None:
        opt.epoch_scheduler.step()
    return [float(v) for v in loss_sums / datas[0].n]


def _order(data: _Data, gen: torch.Generator, oversample: bool, num_classes: int, device) -> torch.Tensor:
    """One epoch's training order of one seed, drawn from its generator as train_classifier draws it."""
    if oversample:
        return balanced_indices(data.ytr, num_classes, data.n, gen).to(device)
    return torch.randperm(data.n, generator=gen).to(device)


@torch.no_grad()
def _val_logits(stack: _Stack, xva: torch.Tensor, batch_size: int, amp: str) -> torch.Tensor:
    """Float32 validation logits ``(K, N, classes)`` of every model (eval mode), as predict_logits scores them."""
    from ganaug.classifier.evaluate import scale_images
    from ganaug.runtime import autocast

    stack.base.eval()
    with autocast(xva.device, amp):
        out = [stack(scale_images(xva[i : i + batch_size]), shared_input=True).float()
               for i in range(0, len(xva), batch_size)]  # fmt: skip
    return torch.cat(out, dim=1)


def train_batched(
    trains: Sequence[tuple[Any, Any]],
    val_x,
    val_y,
    num_classes: int,
    cfg: Mapping[str, Any],
    device,
    seeds: Sequence[int],
    options: Sequence[Mapping[str, Any]],
    progress: bool = True,
) -> list[tuple[torch.nn.Module, pd.DataFrame]]:
    """Train one model per seed on ``trains[k] = (x, y)`` with baseline ``options[k]`` (``class_weight``,
    ``augment``, ``oversample``), selected on the shared validation split; returns ``(model, history)`` per
    seed as :func:`~ganaug.classifier.train.train_classifier` does. The history's ``seconds`` is each
    batched epoch's wall time divided by K (the seeds' share). Raises ``ValueError`` with
    :func:`batch_refusal`'s reason where the seeds cannot be batched."""
    opts, device, k_models = _resolve_cfg(cfg), torch.device(device), len(seeds)
    reason = batch_refusal(cfg, [len(x) for x, _ in trains], device)
    if reason or val_x is None or len(val_x) == 0:
        raise ValueError(f"these seeds cannot be trained batched: {reason or 'no validation split'}")
    datas = [
        _Data(x, y, val_x, val_y, num_classes, device, o.get("class_weight")) for (x, y), o in zip(trains, options)
    ]
    stack, memory_format = _build(datas[0].xtr, num_classes, opts, seeds, device)
    n, bs = datas[0].n, opts["batch_size"]
    opt = _Optimisation([{"params": list(stack.params.values()), "lr": opts["lr"]}], opts, math.ceil(n / bs), device)
    gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    augments = [o.get("augment") for o in options]

    rows: list[list[dict[str, Any]]] = [[] for _ in seeds]
    best: list[dict[str, Any] | None] = [None] * k_models
    best_state: list[dict[str, torch.Tensor] | None] = [None] * k_models
    bar = tqdm(range(1, opts["epochs"] + 1), desc=f"train {k_models} seeds batched", unit="epoch", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    for epoch in bar:
        t0 = time.perf_counter()
        perms = [_order(d, g, o.get("oversample"), num_classes, device) for d, g, o in zip(datas, gens, options)]
        losses = _epoch(stack, datas, perms, bs, opt, memory_format, gens, augments)
        logits = _val_logits(stack, datas[0].xva, opts["eval_batch_size"], opt.amp)
        seconds = (time.perf_counter() - t0) / k_models
        for k, seed in enumerate(seeds):
            if not math.isfinite(losses[k]):
                raise RuntimeError(f"seed {seed}: training diverged: train loss is {losses[k]} at epoch {epoch}")
            row = {"epoch": epoch, "train_loss": losses[k], **validation_row(logits[k], datas[k])}
            row.update(seconds=seconds, lr=opt.lr, selected=False)
            rows[k].append(row)
            if _is_better(opts["select_metric"], row, best[k]):
                best[k], best_state[k] = row, stack.state(k)
            for r in rows[k]:
                r["selected"] = r is best[k]
    bar.close()

    out = []
    for k, model in enumerate(stack.models):
        model.load_state_dict(best_state[k])
        model.eval()
        out.append((model, pd.DataFrame(rows[k], columns=HISTORY_COLUMNS)))
    return out
