"""Derived settings: a GAN cell's effective settings and the parts of them each rule's params carry,
the classifier's params, transfer bases; :func:`canonical` for params that ignore key order."""

from __future__ import annotations

from typing import Any

from ganaug.config.cells import replicate_seed
from ganaug.names import DIFFUSION_MODELS, GAN_ONLY_SETTINGS, TORCHVISION_ARCHS

#: the classifier settings a training run's result depends on (rule params of train_classifier)
CLASSIFIER_KEYS = (
    "arch",
    "width",
    "pretrained",
    "input_size",
    "freeze",
    "lr_backbone_mult",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "amp",
)


def classifier_settings(config: dict) -> dict:
    """The classifier params of rule ``train_classifier`` (keys sorted): :data:`CLASSIFIER_KEYS`,
    without ``width`` for torchvision archs (it changes nothing there, so editing it reruns nothing)."""
    cls_cfg = config["classifier"]
    keys = [k for k in CLASSIFIER_KEYS if not (k == "width" and cls_cfg["arch"] in TORCHVISION_ARCHS)]
    return canonical({k: cls_cfg[k] for k in keys})


def canonical(obj: Any) -> Any:
    """``obj`` with every mapping's keys sorted, recursively.

    Snakemake compares a rule's ``params`` with those of the last run by their
    text form, in which a dict's key order shows; sorting makes reordering keys
    in a config file a no-op instead of a rerun.
    """
    if isinstance(obj, dict):
        return {str(k): canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    return obj


def gan_dir(gan: str, replicate: int | str) -> str:
    """``results/gan/{gan}/rep{replicate}``: everything one generator replicate of a GAN cell trains and draws."""
    return f"results/gan/{gan}/rep{replicate}"


def transfer_base(gan: str, settings: dict, replicate: int | str = 0) -> str:
    """Where a transfer cell's shared GAN lies in ``replicate``: its own (``transfer.steps``) or the cell
    ``transfer.from``'s (of the same replicate: a replicate retrains the shared GAN too)."""
    return f"{gan_dir(settings['transfer'].get('from', gan), replicate)}/transfer/base/checkpoint.pt"


def replicate_settings(settings: dict, replicate: int | str) -> dict:
    """``settings`` of generator replicate ``replicate``: ``seed`` shifted by it (:func:`replicate_seed`);
    replicate 0 keeps the configured seed."""
    return canonical(dict(settings, seed=replicate_seed(settings["seed"], int(replicate))))


#: what a transfer cell's shared GAN trains without: it is unconditional (one class, all images), so a conditional
#: cell's label settings do not reach it, nor mode seeking (a lever of the fine-tuning); a conditional cell's shared
#: GAN is therefore the one a per_class cell with the same other settings trains
FINE_TUNING_ONLY = ("class_norm", "balance_classes", "fake_labels", "mode_seeking")


def base_settings(settings: dict) -> dict:
    """``train_gan`` settings of a transfer cell's shared GAN: the cell's (``settings``, as
    :func:`gan_train_settings` gives them), for ``transfer.steps`` steps.

    What the shared GAN's training reads and nothing else: the cell's own ``steps`` and
    ``transfer.freeze_d`` only shape the fine-tuning, so they are not in it, nor
    :data:`FINE_TUNING_ONLY`; its ``mode`` is ``per_class`` (one class: every image).
    """
    steps = int(settings["transfer"]["steps"])
    out = {k: v for k, v in settings.items() if k != "transfer" and k not in FINE_TUNING_ONLY}
    out.update(steps=steps, sample_every=min(int(settings["sample_every"]), steps), mode="per_class")
    return out


def pretrain_settings(config: dict, gan: str) -> dict:
    """The params of rule ``pretrain_gan``: the settings the shared GAN of transfer cell ``gan``
    trains with (:func:`base_settings`), so that editing what only the fine-tuning reads
    (the cell's ``steps``, ``transfer.freeze_d``, ``select``) does not retrain it, nor the cells
    that start from it."""
    return base_settings(gan_train_settings(config, gan))


def gan_settings(config: dict, gan: str) -> dict:
    """The effective settings of one GAN cell (keys sorted).

    ``gan_defaults``, then ``model_defaults[model]`` for the cell's model, then
    the cell itself: a model's own defaults (WGAN-GP's Adam(0, 0.9), say) beat
    the generic ones, and anything written in the cell beats both.
    """
    cell = config["gans"][gan]
    model = cell.get("model", config["gan_defaults"]["model"])
    settings = dict(config["gan_defaults"])
    settings.update((config.get("model_defaults") or {}).get(model) or {})
    settings.update(cell)
    return canonical(settings)


#: settings that change what ``generate`` draws but not the trained weights (``classes``: which of a
#: per_class cell's classes are trained at all; each class's GAN does not depend on the others)
GENERATE_ONLY = ("select", "classes")
#: settings that only say which cells there are (ganaug.config.low_data): what a low-data copy trains on is its
#: ``real_n``, which stays; ``train_on`` itself changes no weights (at n_real all the cell is the plain one)
NOT_TRAINED_ON = ("train_on", "derived_from")


def gan_train_settings(config: dict, gan: str) -> dict:
    """The settings a GAN cell's training depends on: :func:`gan_settings` without ``select``.

    Used as the ``train_gan`` rule's params, so switching ``select`` reruns
    generation, not training, and adding a class to ``classes`` trains only that class. A diffusion cell leaves out the GAN-only
    settings (``names.GAN_ONLY_SETTINGS``: ``nz``, ``ndf``, ``lr_d``, ...),
    which it does not read, so changing them in ``gan_defaults`` reruns no
    diffusion model.
    """
    settings = gan_settings(config, gan)
    drop = GENERATE_ONLY + NOT_TRAINED_ON + (GAN_ONLY_SETTINGS if settings["model"] in DIFFUSION_MODELS else ())
    return {k: v for k, v in settings.items() if k not in drop}


def gan_classes(config: dict, gan: str, classes: list[str]) -> list[str]:
    """The classes GAN cell ``gan`` trains and generates, in the dataset's order (``classes``).

    A ``per_class`` cell's ``classes`` names them (``minority``: ``experiment.minority_class``);
    without it, and for a conditional cell, every class.
    """
    settings = gan_settings(config, gan)
    chosen = settings.get("classes")
    if settings["mode"] != "per_class" or chosen is None:
        return list(classes)
    if chosen == "minority":
        chosen = [config["experiment"]["minority_class"]]
    return [c for c in classes if c in chosen]
