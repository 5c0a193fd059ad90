"""config.yaml, the file users edit, shows every knob: each key the schema fills in a default
for is written out there (with the schema's value unless the default experiment tunes it)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _schema_defaults(schema: dict, node: dict, path: tuple = ()):
    """(key path, default) of every schema property with a ``default`` that is not itself an
    object of defaulted properties (those are walked into instead)."""
    while "$ref" in node:
        node = {**schema["definitions"][node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    for sub in node.get("allOf", []):
        yield from _schema_defaults(schema, sub, path)
    for key, sub in (node.get("properties") or {}).items():
        if "properties" in sub:
            yield from _schema_defaults(schema, sub, path + (key,))
        elif "default" in sub:
            yield path + (key,), sub["default"]


#: keys config.yaml sets on purpose to other values than the schema's default
CONFIG_YAML_DIFFERS_FROM_SCHEMA = {
    "model_defaults", "classifier.width", "classifier.epochs", "classifier.baselines", "classifier.extra_cells",
    "statistics.reference",  # the schema's none runs in every sweep; the default experiment declares classic
}  # fmt: skip


def test_config_yaml_shows_every_schema_default():
    """The file users edit lists every knob the schema fills in, with the schema's value,
    so listing it there changes nothing (the validated config is the same)."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    defaults = dict(_schema_defaults(schema, schema))
    assert ("metrics", "kid", "subset_size") in defaults and ("experiment", "on_bad_image") in defaults
    missing = []
    for path, default in defaults.items():
        node = cfg
        for key in path:
            node = node.get(key, KeyError) if isinstance(node, dict) else KeyError
        if node is KeyError:
            missing.append(".".join(path))
        elif ".".join(path) not in CONFIG_YAML_DIFFERS_FROM_SCHEMA:
            assert (type(node), node) == (type(default), default), f"{'.'.join(path)}: {node!r} != default {default!r}"
    assert not missing, f"config.yaml lacks these schema-defaulted keys: {', '.join(missing)}"
