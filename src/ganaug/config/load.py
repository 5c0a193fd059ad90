"""Loading: override files merged as the workflow means them, the schema with its name enums, validation
with one-line errors (then the semantic checks of :mod:`ganaug.config.checks`)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from ganaug.config.checks import check_semantics
from ganaug.config.errors import ConfigError, _key
from ganaug.names import SCHEMA_ENUMS

_FLOATISH = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


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
#: The primary comparison too: a cell and the pilot form share no keys, and half of one merged with
#: half of the other would be a cell nobody declared.
REPLACED_MAPPINGS = (("gans",), ("experiment", "subsample", "max_per_class"), ("statistics", "primary"))


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


def resolve_dataset_paths(config: dict, workflow_dir: str | Path) -> dict:
    """A dataset's relative ``path`` is looked up in the working directory, then in ``workflow_dir``.

    The sample shipped with the workflow (``resources/chest_xray_32px.npz``) is named relative to
    the repository, while snakemake may run elsewhere (``--directory``): where the path does not
    exist under the working directory but does beside the Snakefile, it becomes that absolute path.
    """
    for spec in (config.get("datasets") or {}).values():
        path = spec.get("path") if isinstance(spec, dict) else None
        if isinstance(path, str) and path and not Path(path).is_absolute() and not Path(path).exists():
            beside = Path(workflow_dir) / path
            if beside.exists():
                spec["path"] = str(beside)
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
