"""Configuration: schema validation with one-line errors, and the sweep's cells.

Used by ``workflow/rules/common.smk`` at parse time, so this module imports
only light dependencies (no torch).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ganaug.names import (
    CLASSIFIER_MIN_INPUT,
    CONDITIONAL_ONLY,
    DIFFUSION_MODELS,
    DIFFUSION_SETTINGS,
    GAN_ONLY_SETTINGS,
    NO_MIXING,
    SCHEMA_ENUMS,
    TORCHVISION_ARCHS,
)

_FLOATISH = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


class ConfigError(ValueError):
    """An invalid configuration value; the message is one line naming the key."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _key(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _extend_with_default(validator_class):
    """A jsonschema validator that fills in ``default`` values (as Snakemake's validate does)."""
    from jsonschema import validators

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and prop not in instance:
                    instance[prop] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def _describe(error) -> str:
    """Turn a jsonschema error into 'key = value: what is allowed'."""
    key = _key(error.absolute_path)
    value = error.instance
    v = error.validator
    if isinstance(value, str) and _FLOATISH.match(value):
        return (
            f"config key {key} = {value!r} is a string: YAML reads '{value}' as text; "
            f"write it as a float with a decimal point, e.g. {float(value):.1e}".replace("e-0", "e-").replace(
                "e+0", "e+"
            )
        )
    if v == "enum":
        allowed = ", ".join(repr(x) for x in error.validator_value)
        also = error.schema.get("x-or") if isinstance(error.schema, dict) else None
        return f"config key {key} = {value!r} is not allowed; choose one of {allowed}" + (f" ({also})" if also else "")
    if v == "required":
        return f"config key {key}: {error.message}"
    if v == "additionalProperties":
        return f"config key {key}: {error.message} (check the spelling against workflow/schemas/config.schema.yaml)"
    if v == "type":
        allowed = error.schema.get("enum") if isinstance(error.schema, dict) else None
        if allowed:
            return (
                f"config key {key} = {value!r} must be of type {error.validator_value}; "
                f"choose one of {', '.join(repr(x) for x in allowed)}"
            )
        return f"config key {key} = {value!r} must be of type {error.validator_value}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"config key {key} = {value!r} must be {rel} {error.validator_value}"
    if v == "minItems":
        return f"config key {key} = {value!r} must have at least {error.validator_value} item(s)"
    if v == "maxItems":
        return f"config key {key} = {value!r} must have at most {error.validator_value} item(s)"
    if v == "minProperties":
        return f"config key {key} must define at least {error.validator_value} entry"
    if v == "pattern":
        return f"config key {key} = {value!r} does not match the pattern {error.validator_value!r}"
    if v == "propertyNames":
        return f"config key {key}: name {value!r} is not allowed ({error.message})"
    return f"config key {key} = {value!r}: {error.message}"


#: Mappings that an override file replaces whole instead of merging key by key:
#: their keys are sweep cells or class names, which a merge could never remove.
REPLACED_MAPPINGS = (("gans",), ("experiment", "subsample", "max_per_class"))


def apply_replaced_mappings(config: dict, override_files: Iterable[str | Path]) -> dict:
    """Give the ``REPLACED_MAPPINGS`` of each ``--configfile`` override exactly as written there.

    Snakemake merges override files into the config key by key. For the GAN
    cells and the per-class caps that would keep the defaults' entries (e.g. caps
    for NORMAL / PNEUMONIA on a skin-lesion dataset), so an override that gives
    one of these mappings replaces it.
    """
    for path in override_files or ():
        with open(path, encoding="utf-8") as fh:
            override = yaml.safe_load(fh) or {}
        for keys in REPLACED_MAPPINGS:
            src, dst = override, config
            for key in keys[:-1]:
                src = src.get(key) if isinstance(src, dict) else None
                dst = dst.setdefault(key, {}) if isinstance(dst, dict) else None
            if isinstance(src, dict) and keys[-1] in src and isinstance(dst, dict):
                dst[keys[-1]] = copy.deepcopy(src[keys[-1]])
    return config


def load_schema(schema_path: str | Path) -> dict:
    """The config schema at ``schema_path`` with its name enums filled in from :mod:`ganaug.names`.

    Each definition named in ``names.SCHEMA_ENUMS`` must exist in the file and
    must not list an ``enum`` of its own (the names live in one place only).
    """
    with open(schema_path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    definitions = schema.get("definitions") or {}
    for name, values in SCHEMA_ENUMS.items():
        if name not in definitions:
            raise RuntimeError(f"{schema_path}: definitions.{name} is missing (its enum comes from ganaug.names)")
        if "enum" in definitions[name]:
            raise RuntimeError(f"{schema_path}: definitions.{name} lists an enum; its names come from ganaug.names")
        definitions[name]["enum"] = list(values)
    return schema


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` in place (filling defaults) against the schema at ``schema_path``
    (the workflow passes its ``workflow/schemas/config.schema.yaml``), then run the semantic checks.

    Raises :class:`ConfigError` with one line naming the first offending key.
    """
    from jsonschema import Draft7Validator

    schema = load_schema(schema_path)
    validator = _extend_with_default(Draft7Validator)(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        # the deepest error of the first failing branch is the most specific one
        err = errors[0]
        while err.context:
            err = min(err.context, key=lambda e: len(e.absolute_path))
        raise ConfigError(_describe(err))
    check_semantics(config)
    return config


_CLASS_NAMES: dict[str, list[str] | None] = {}


def known_class_names(spec: dict) -> list[str] | None:
    """Class names of a dataset in label order, as the data stage will assign them (None if not knowable).

    Folder and csv datasets are listed by the data stage's own listing functions,
    so the workflow's class-per-job split and the prepared labels always agree
    (same folder aliases, hidden-file rules and label sort). A listing problem
    raises ``ValueError`` naming the file or folder. Results are cached per spec,
    since the Snakefile asks more than once while parsing.
    """
    import json

    key = json.dumps(canonical(spec), default=str)
    if key not in _CLASS_NAMES:
        _CLASS_NAMES[key] = _list_class_names(spec)
    return _CLASS_NAMES[key]


def _list_class_names(spec: dict) -> list[str] | None:
    source = spec["source"]
    if source == "folder":
        from ganaug.data.sources import list_folder_items

        return list_folder_items(spec)[1]
    if source == "csv":
        from ganaug.data.sources import list_csv_items

        return list_csv_items(spec)[1]
    if spec.get("class_names"):
        return list(spec["class_names"])
    if spec.get("path") and Path(spec["path"]).is_file():
        import numpy as np

        with np.load(spec["path"], allow_pickle=False) as data:
            if "train_labels" in data.files:
                n = int(np.asarray(data["train_labels"]).max()) + 1
                return [str(i) for i in range(n)]
    return None


def check_semantics(config: dict) -> None:
    """Cross-key checks the schema cannot express."""
    from ganaug.data import validate_dataset_spec

    exp = config["experiment"]
    datasets = config["datasets"]
    if exp["dataset"] not in datasets:
        raise ConfigError(
            f"config key experiment.dataset = {exp['dataset']!r} names no entry of datasets "
            f"(defined: {', '.join(sorted(datasets))})"
        )
    for name, spec in datasets.items():
        try:
            validate_dataset_spec(name, spec)
        except ValueError as exc:
            raise ConfigError(f"config key {_one_line(exc)}") from None
    try:
        classes = known_class_names(datasets[exp["dataset"]])
    except ValueError as exc:
        raise ConfigError(f"config key datasets.{exp['dataset']}: {_one_line(exc)}") from None
    if classes is not None:
        for key in ("positive_class", "minority_class"):
            if exp[key] not in classes:
                raise ConfigError(
                    f"config key experiment.{key} = {exp[key]!r} is not a class of dataset "
                    f"{exp['dataset']!r} (classes: {', '.join(classes)})"
                )
        caps = (exp.get("subsample") or {}).get("max_per_class") or {}
        for cls in caps:
            if cls not in classes:
                raise ConfigError(
                    f"config key experiment.subsample.max_per_class.{cls}: {cls!r} is not a class of dataset "
                    f"{exp['dataset']!r} (classes: {', '.join(classes)})"
                )
    for gan in config["gans"]:
        settings = gan_settings(config, gan)
        model, mode = settings["model"], settings["mode"]
        if model in CONDITIONAL_ONLY and mode != "conditional":
            raise ConfigError(
                f"config key gans.{gan}.mode = {mode!r}: model {model!r} is inherently conditional "
                "(allowed modes: conditional)"
            )
        if "transfer" in settings and model in DIFFUSION_MODELS:
            raise ConfigError(
                f"config key gans.{gan}.transfer: FreezeD transfer fine-tunes a GAN's discriminator; "
                f"{model!r} is a diffusion model"
            )
        if "transfer" in settings:
            check_transfer(config, gan, settings)
        if model not in DIFFUSION_MODELS:
            for key in DIFFUSION_SETTINGS:
                if key in settings:
                    own = (config.get("model_defaults") or {}).get(model) or {}
                    where = f"gans.{gan}" if key in config["gans"][gan] else "gan_defaults"
                    where = f"model_defaults.{model}" if key in own and where == "gan_defaults" else where
                    raise ConfigError(
                        f"config key {where}.{key}: a diffusion setting, but gans.{gan} is the GAN {model!r} "
                        f"(diffusion models: {', '.join(DIFFUSION_MODELS)}; set it in model_defaults.ddpm or the cell)"
                    )
        else:
            _check_diffusion_cell(config, gan, settings)
    check_classifier(config["classifier"], int(exp["resolution"]))
    if config["metrics"]["fid"]["n"] > config["generate"]["n_per_class"]:
        raise ConfigError(
            f"config key metrics.fid.n = {config['metrics']['fid']['n']} exceeds generate.n_per_class = "
            f"{config['generate']['n_per_class']}: FID needs that many generated images per class"
        )


def _check_diffusion_cell(config: dict, gan: str, settings: dict) -> None:
    """A diffusion cell's U-Net levels fit the resolution; sample_steps <= timesteps."""
    mult = settings.get("channel_mult", [1, 2, 2])
    resolution = int(config["experiment"]["resolution"])
    if resolution % 2 ** (len(mult) - 1):
        raise ConfigError(
            f"config key gans.{gan}.channel_mult = {mult}: {len(mult)} U-Net levels need a resolution divisible "
            f"by {2 ** (len(mult) - 1)}; experiment.resolution is {resolution}"
        )
    if settings.get("sample_steps", 50) > settings.get("timesteps", 1000):
        raise ConfigError(
            f"config key gans.{gan}.sample_steps = {settings['sample_steps']} exceeds its timesteps "
            f"({settings.get('timesteps', 1000)})"
        )
    if settings["ngf"] % 2:
        raise ConfigError(f"config key gans.{gan}.ngf = {settings['ngf']}: the U-Net's base width must be even")


def check_classifier(cls_cfg: dict, resolution: int) -> None:
    """The classifier's network choices that only make sense together (one-line :class:`ConfigError`)."""
    arch, pretrained = cls_cfg["arch"], cls_cfg["pretrained"]
    size = cls_cfg["input_size"]
    if arch not in TORCHVISION_ARCHS:
        if pretrained != "none":
            raise ConfigError(
                f"config key classifier.pretrained = {pretrained!r}: arch {arch!r} has no pretrained weights "
                f"(it trains from scratch); pick a torchvision arch ({', '.join(TORCHVISION_ARCHS)}) or pretrained: none"
            )
        if size != "native":
            raise ConfigError(
                f"config key classifier.input_size = {size!r}: arch {arch!r} runs at experiment.resolution; "
                "input_size applies to torchvision archs (use native)"
            )
        if cls_cfg["freeze"] != "none":
            raise ConfigError(
                f"config key classifier.freeze = {cls_cfg['freeze']!r}: arch {arch!r} has no separate backbone "
                "to freeze (use a torchvision arch with pretrained: imagenet)"
            )
    side = resolution if size == "native" else int(size)
    need = CLASSIFIER_MIN_INPUT.get(arch, 0)
    if side < need:
        raise ConfigError(
            f"config key classifier.input_size = {size!r}: arch {arch!r} needs inputs of at least {need} px "
            f"(the images are {side} px); set classifier.input_size: {need} or more"
        )
    if cls_cfg["freeze"] == "backbone" and pretrained == "none":
        raise ConfigError(
            "config key classifier.freeze = 'backbone' with pretrained: none would train a head on random "
            "features; set classifier.pretrained: imagenet (or freeze: none)"
        )


#: the warning for configs written before torchvision's archs existed, when ``resnet18`` meant the small net
RESNET18_RENAMED = (
    "classifier.arch: resnet18 is now torchvision's ImageNet ResNet-18; the small-input network of earlier "
    "versions is resnet18_small"
)


def config_warnings(config: dict) -> list[str]:
    """One-line warnings about a valid config (the workflow logs them at parse time).

    ``arch: resnet18`` from scratch is what every config before torchvision's archs
    said, meaning the small-input network: it still runs, as torchvision's network.
    With ``pretrained: imagenet`` nobody can have meant the small one, so no warning.
    """
    cls_cfg = config["classifier"]
    if cls_cfg["arch"] == "resnet18" and cls_cfg["pretrained"] == "none":
        return [RESNET18_RENAMED]
    return []


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


#: models whose conditional G and D are their unconditional ones plus label inputs
#: (:func:`ganaug.gan.transfer.as_conditional`): a conditional cell may start from such a model's shared GAN
CONDITIONAL_TRANSFER_MODELS = ("dcgan", "wgan_gp")


def check_transfer(config: dict, gan: str, settings: dict) -> None:
    """One clear line for a ``transfer`` block that cannot work (the schema checked its types)."""
    t, mode, model = settings["transfer"], settings["mode"], settings["model"]
    key = f"config key gans.{gan}.transfer"
    if ("steps" in t) == ("from" in t):
        raise ConfigError(f"{key}: give exactly one of steps (train the shared GAN here) and from (another cell's)")
    if mode == "conditional" and "from" not in t:
        raise ConfigError(
            f"{key}: a conditional cell starts from a per_class cell's shared GAN: transfer: {{from: CELL}}"
        )
    if mode == "conditional" and int(t.get("freeze_d", 0)) > 0:
        raise ConfigError(
            f"{key}.freeze_d = {t['freeze_d']}: a conditional GAN learns the label through D's first stage, "
            "which therefore cannot be frozen; use 0"
        )
    if "from" not in t:
        return
    src = t["from"]
    if src == gan or src not in config["gans"]:
        others = ", ".join(g for g in config["gans"] if g != gan) or "none"
        raise ConfigError(f"{key}.from = {src!r}: not another cell of gans (cells: {others})")
    other = gan_settings(config, src)
    if other["mode"] != "per_class" or "steps" not in (other.get("transfer") or {}):
        raise ConfigError(f"{key}.from = {src!r}: that cell trains no shared GAN (it needs mode: per_class and "
                          "transfer: {steps: N})")  # fmt: skip
    if mode == "conditional" and model not in CONDITIONAL_TRANSFER_MODELS:
        raise ConfigError(
            f"{key}: a conditional {model!r} cannot start from an unconditional GAN "
            f"(models that can: {', '.join(CONDITIONAL_TRANSFER_MODELS)})"
        )
    for k in ("model", "nz", "ngf", "ndf"):
        if other[k] != settings[k]:
            raise ConfigError(
                f"{key}.from = {src!r}: {k} differs ({settings[k]!r} here, {other[k]!r} there); "
                "the networks must match to start from its weights"
            )


def transfer_base(gan: str, settings: dict) -> str:
    """Where a transfer cell's shared GAN lies: its own (``transfer.steps``) or the cell ``transfer.from``'s."""
    return f"results/gan/{settings['transfer'].get('from', gan)}/transfer/base/checkpoint.pt"


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


#: settings that change what ``generate`` draws but not the trained weights
GENERATE_ONLY = ("select",)


def gan_train_settings(config: dict, gan: str) -> dict:
    """The settings a GAN cell's training depends on: :func:`gan_settings` without ``select``.

    Used as the ``train_gan`` rule's params, so switching ``select`` reruns
    generation, not training. A diffusion cell leaves out the GAN-only
    settings (``names.GAN_ONLY_SETTINGS``: ``nz``, ``ndf``, ``lr_d``, ...),
    which it does not read, so changing them in ``gan_defaults`` reruns no
    diffusion model.
    """
    settings = gan_settings(config, gan)
    drop = GENERATE_ONLY + (GAN_ONLY_SETTINGS if settings["model"] in DIFFUSION_MODELS else ())
    return {k: v for k, v in settings.items() if k not in drop}


class ClassifierCell(NamedTuple):
    """One classifier run; every field is a path segment (see :func:`classifier_run_dir`)."""

    baseline: str
    source: str  # 'real' (f = 0) or a GAN cell
    strategy: str  # a mixing strategy, or 'none' for source 'real'
    frac: str  # fraction_label
    n_real: str  # n_real_label: 'all' or a count
    seed: int


def fraction_label(fraction: float) -> str:
    """Stable text form of a synthetic fraction used in paths: 0 → '0', 0.1 → '0.1', 1.0 → '1'."""
    return f"{float(fraction):g}"


def n_real_label(n_real: int | str) -> str:
    """Path form of an ``n_real`` value: ``'all'`` or the count, e.g. 50 → ``'50'``."""
    if isinstance(n_real, str) and n_real == "all":
        return "all"
    if isinstance(n_real, bool) or int(n_real) != n_real or int(n_real) < 1:
        raise ValueError(f"n_real must be 'all' or a positive integer, got {n_real!r}")
    return str(int(n_real))


def classifier_run_dir(cell: ClassifierCell) -> str:
    """``results/classifier/{baseline}/{source}/{strategy}/f{frac}/n{n_real}/seed{seed}``."""
    return (
        f"results/classifier/{cell.baseline}/{cell.source}/{cell.strategy}/f{cell.frac}/n{cell.n_real}/seed{cell.seed}"
    )


def classifier_cells(config: dict) -> list[ClassifierCell]:
    """Every classifier run of the sweep, in a stable order without duplicates.

    * f = 0 (when 0 is in ``synthetic_fractions``) uses real images only, so it runs
      once per baseline (``baselines`` and ``gan_baselines``), ``n_real`` and seed
      under source ``real`` and strategy ``none`` - never once per GAN or strategy.
    * every other fraction runs once per ``gan_baselines`` entry, GAN, strategy,
      ``n_real`` and seed.
    * ``extra_cells`` adds single cells, each for every seed: ``fraction``
      (required), ``baseline`` (default ``none``), ``strategy`` (default
      ``replace``), ``n_real`` (default ``all``) and ``source`` (default: every
      GAN, or ``real`` when the fraction is 0).

    Raises :class:`ConfigError` (one line) for an extra cell naming an unknown
    source, or a real source with a fraction > 0.
    """
    cls_cfg = config["classifier"]
    gans = list(config["gans"])
    seeds = [int(s) for s in cls_cfg["seeds"]]
    baselines = list(cls_cfg.get("baselines", ["none"]))
    gan_baselines = list(cls_cfg.get("gan_baselines", ["none"]))
    strategies = list(cls_cfg.get("strategies", ["replace"]))
    n_reals = [n_real_label(n) for n in cls_cfg.get("n_real", ["all"])]

    combos: list[tuple[str, str, str, str, str]] = []
    for frac in cls_cfg["synthetic_fractions"]:
        f = fraction_label(frac)
        if float(frac) == 0.0:
            for baseline in dict.fromkeys(baselines + gan_baselines):
                combos += [(baseline, "real", NO_MIXING, f, n) for n in n_reals]
            continue
        for baseline in gan_baselines:
            for gan in gans:
                for strategy in strategies:
                    combos += [(baseline, gan, strategy, f, n) for n in n_reals]
    for i, extra in enumerate(cls_cfg.get("extra_cells") or []):
        key = f"config key classifier.extra_cells.{i}"
        f = fraction_label(extra["fraction"])
        real_only = float(extra["fraction"]) == 0.0
        source = extra.get("source")
        if source is None:
            sources = ["real"] if real_only else gans
        elif source == "real":
            if not real_only:
                raise ConfigError(
                    f"{key}.source = 'real' needs fraction 0 (got {extra['fraction']}): real-only runs use no synthetic images"
                )
            sources = ["real"]
        elif source in gans:
            if real_only:
                raise ConfigError(
                    f"{key}.source = {source!r} with fraction 0 is a real-only run: use source 'real' or leave source out"
                )
            sources = [source]
        else:
            raise ConfigError(
                f"{key}.source = {source!r} is neither 'real' nor a GAN cell (defined: {', '.join(gans)})"
            )
        strategy = NO_MIXING if real_only else extra.get("strategy", "replace")
        n = n_real_label(extra.get("n_real", "all"))
        combos += [(extra.get("baseline", "none"), s, strategy, f, n) for s in sources]
    return [ClassifierCell(*combo, seed) for combo in dict.fromkeys(combos) for seed in seeds]
