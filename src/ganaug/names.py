"""The names a configuration may use, written once.

Each tuple here is the one list of a kind of name: the config schema's enum
(filled in by :func:`ganaug.config.load_schema`, so the schema file does not
list them again) and the package's registry of that kind (checked with
:func:`check_registry` when the registry's module is imported) both read it.
Torch-free, so that validating a config at parse time stays light.

Adding a GAN model, a baseline, a mixing strategy, a source type, ... means:
add its name here, then its entry in the one registry named beside the tuple.
"""

from __future__ import annotations

from collections.abc import Iterable

#: generator architectures (GANs and diffusion models): ``ganaug.gan.models.MODELS``
GAN_MODELS = ("mlp", "dcgan", "wgan_gp", "sngan", "resgan", "acgan", "bagan", "ddpm")
#: the models that exist only in conditional form (``MODELS[m].modes == ('conditional',)``)
CONDITIONAL_ONLY = ("acgan", "bagan")
#: the diffusion models (``MODELS[m].kind == 'diffusion'``): no discriminator, their own settings
DIFFUSION_MODELS = ("ddpm",)
#: GAN-cell settings only a diffusion model reads (``ganaug.gan.diffusion``, ``ganaug.gan.train``)
DIFFUSION_SETTINGS = ("timesteps", "sample_steps", "guidance", "p_uncond", "channel_mult", "res_blocks")
#: settings a diffusion model does not read (left out of its train_gan params, so they rerun nothing)
GAN_ONLY_SETTINGS = (
    "nz", "ndf", "lr_d", "n_critic", "gp_lambda", "label_smoothing", "diffaugment", "fake_labels", "ae_steps", "ae_lr",
    "r1_gamma", "r1_every", "minibatch_std", "class_norm", "mode_seeking",
)  # fmt: skip
#: models whose D (``ganaug.gan.models.Discriminator``) can take the minibatch-standard-deviation map
MINIBATCH_STD_MODELS = ("dcgan", "wgan_gp")
#: models whose conditional form can take ``class_norm`` (conditional BatchNorm in G, a projection D)
CLASS_NORM_MODELS = ("dcgan", "wgan_gp")


def label_in_d_first_stage(model: str, class_norm: bool) -> bool:
    """Whether a conditional ``model``'s D reads the label in its first stage (so freeze_d must be 0): the
    DCGAN-type D's label channel, unless ``class_norm`` makes it a projection D that reads it at its head."""
    return model in CLASS_NORM_MODELS and not class_norm


#: GAN modes: one unconditional GAN per class, or one label-conditioned GAN
GAN_MODES = ("per_class", "conditional")
#: DiffAugment policies: ``ganaug.gan.augment.POLICIES``
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")
#: mixed-precision modes (GAN and classifier); the classifier also takes ``auto``
AMP_MODES = ("none", "bf16", "fp16")
#: classifier baselines: ``ganaug.classifier.baselines.BASELINES``
CLASSIFIER_BASELINES = ("none", "classic", "oversample", "weighted_loss")
#: classifier networks: ``ganaug.classifier.networks.ARCHITECTURES``. ``resnet18_small`` is the
#: package's small-input ResNet-18 (``ganaug.classifier.resnet``); the others are torchvision's
#: model zoo under their torchvision names (``torchvision.models.get_model``)
CLASSIFIER_ARCHS = (
    "resnet18_small",
    "resnet18",
    "resnet50",
    "resnet152",
    "vgg11_bn",
    "efficientnet_b0",
    "densenet121",
)
#: the classifier archs built by torchvision (all but the package's own small network)
TORCHVISION_ARCHS = tuple(a for a in CLASSIFIER_ARCHS if a != "resnet18_small")
#: the smallest input side (px) a torchvision arch accepts: five stride-2 stages leave 1 px at 32
#: (smaller sides fail inside the network); the others run at 16 px and up
CLASSIFIER_MIN_INPUT = {"vgg11_bn": 32, "densenet121": 32}
#: classifier initialisations: from scratch, or torchvision's ImageNet weights (``Weights.DEFAULT``)
CLASSIFIER_PRETRAINED = ("none", "imagenet")
#: what fine-tuning keeps fixed: nothing, or everything but the new head (a linear probe)
CLASSIFIER_FREEZE = ("none", "backbone")
#: ways to mix synthetic images into the training set: ``ganaug.classifier.mixing.STRATEGIES``
MIXING_STRATEGIES = ("replace", "balance")
#: the strategy segment of a real-only (f = 0) run's path: no mixing happens
NO_MIXING = "none"
#: dataset source types: ``ganaug.data.sources.SOURCES``
SOURCE_TYPES = ("folder", "csv", "medmnist")
#: intensity windows of the data stage, read by ``ganaug.data.images`` (a ``[center, width]`` pair is the other form)
WINDOW_MODES = ("auto", "dicom", "minmax")
#: how a non-square image is made square before resizing: ``ganaug.data.images.SQUARE``
RESIZE_POLICIES = ("squash", "pad", "center_crop")
#: what ``resize: pad`` fills with, read by ``ganaug.data.images``
PAD_VALUES = ("border", "black")
#: what a multi-frame TIFF / DICOM file becomes, read by ``ganaug.data.images``
MULTIFRAME_POLICIES = ("reject", "first")
#: multiple-comparison corrections of the paired p-values: ``ganaug.stats.adjust_pvalues``
P_ADJUST_METHODS = ("holm", "bonferroni", "none")
#: generator-quality verdicts of a GAN x class, best first: ``ganaug.report.tables.quality_verdict``
QUALITY_VERDICTS = ("usable", "weak", "failed")

#: schema definition -> the names its ``enum`` gets (see ``ganaug.config.load_schema``)
SCHEMA_ENUMS: dict[str, tuple[str, ...]] = {
    "gan_model": GAN_MODELS,
    "gan_mode": GAN_MODES,
    "diffaugment_policy": DIFFAUGMENT_POLICIES,
    "gan_amp": AMP_MODES,
    "classifier_amp": ("auto", *AMP_MODES),
    "classifier_arch": CLASSIFIER_ARCHS,
    "classifier_pretrained": CLASSIFIER_PRETRAINED,
    "classifier_freeze": CLASSIFIER_FREEZE,
    "classifier_baseline": CLASSIFIER_BASELINES,
    "mixing_strategy": MIXING_STRATEGIES,
    "source_type": SOURCE_TYPES,
    "p_adjust_method": P_ADJUST_METHODS,
    "window_mode": WINDOW_MODES,
    "resize_policy": RESIZE_POLICIES,
    "pad_value": PAD_VALUES,
    "multiframe_policy": MULTIFRAME_POLICIES,
}


def check_registry(kind: str, registry: Iterable[str], names: Iterable[str]) -> None:
    """Raise ``RuntimeError`` unless ``registry`` holds exactly ``names`` in the same order.

    Called by each registry's module at import, so a name added in one place
    and not the other fails at once, naming both lists.
    """
    have, want = tuple(registry), tuple(names)
    if have != want:
        raise RuntimeError(
            f"the {kind} registry {have} differs from ganaug.names {want}: add or remove the name in both"
        )
