"""Configuration: schema validation with one-line errors, and the sweep's cells.

Used by ``workflow/rules/common.smk`` at parse time, so this module imports
only light dependencies (no torch).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
_FLOATISH = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


class ConfigError(ValueError):
    """An invalid configuration value; the message is one line naming the key."""


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
            f"write it as a float with a decimal point, e.g. {float(value):.1e}".replace("e-0", "e-").replace("e+0", "e+")
        )
    if v == "enum":
        allowed = ", ".join(repr(x) for x in error.validator_value)
        return f"config key {key} = {value!r} is not allowed; choose one of {allowed}"
    if v == "required":
        return f"config key {key}: {error.message}"
    if v == "additionalProperties":
        return f"config key {key}: {error.message} (check the spelling against workflow/schemas/config.schema.yaml)"
    if v == "type":
        return f"config key {key} = {value!r} must be of type {error.validator_value}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"config key {key} = {value!r} must be {rel} {error.validator_value}"
    if v == "minItems":
        return f"config key {key} = {value!r} must have at least {error.validator_value} item(s)"
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


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` in place (filling defaults) and run the semantic checks.

    Raises :class:`ConfigError` with one line naming the first offending key.
    """
    from jsonschema import Draft7Validator

    with open(schema_path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    validator = _extend_with_default(Draft7Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
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
            raise ConfigError(str(exc)) from None
    try:
        classes = known_class_names(datasets[exp["dataset"]])
    except ValueError as exc:
        raise ConfigError(f"datasets.{exp['dataset']}: {exc}") from None
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
    if config["metrics"]["fid"]["n"] > config["generate"]["n_per_class"]:
        raise ConfigError(
            f"config key metrics.fid.n = {config['metrics']['fid']['n']} exceeds generate.n_per_class = "
            f"{config['generate']['n_per_class']}: FID needs that many generated images per class"
        )


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


def gan_settings(config: dict, gan: str) -> dict:
    """The effective settings of one GAN cell: ``gan_defaults`` overridden by the cell (keys sorted)."""
    settings = dict(config["gan_defaults"])
    settings.update(config["gans"][gan])
    return canonical(settings)


def fraction_label(fraction: float) -> str:
    """Stable text form of a synthetic fraction used in paths: 0 → '0', 0.1 → '0.1', 1.0 → '1'."""
    return f"{float(fraction):g}"


def classifier_cells(config: dict) -> list[tuple[str, str, int]]:
    """(source, fraction label, seed) of every classifier run.

    f = 0 uses real images only, so it is run once per seed under source 'real'
    rather than once per GAN.
    """
    cls_cfg = config["classifier"]
    cells = []
    for frac in cls_cfg["synthetic_fractions"]:
        sources = ["real"] if float(frac) == 0.0 else list(config["gans"])
        for source in sources:
            for seed in cls_cfg["seeds"]:
                cells.append((source, fraction_label(frac), int(seed)))
    return cells
