"""Configuration, one module per concern; everything public is importable from ``ganaug.config``.

- :mod:`~ganaug.config.load`: override files merged as the workflow means them, the schema
  (with its name enums from :mod:`ganaug.names`), validation with one-line errors.
- :mod:`~ganaug.config.checks`: semantic checks the schema cannot express, and warnings.
- :mod:`~ganaug.config.settings`: derived settings (a GAN cell's effective settings, what each
  rule's params carry, the classifier's params, transfer bases).
- :mod:`~ganaug.config.cells`: the sweep's classifier cells and their run paths.
- :mod:`~ganaug.config.low_data`: the GAN cells trained on the classifier's n_real images (``train_on: n_real``).

A new config key goes into the schema and, when it needs a cross-key rule, into ``checks``; a
new sweep dimension into ``cells``. Used by ``workflow/rules/common.smk`` at parse time, so the
package imports only light dependencies (no torch).
"""

from ganaug.config.cells import (
    PRIMARY_DEFAULTS,
    ClassifierCell,
    check_replicates,
    classifier_cells,
    classifier_run_dir,
    classifiers_per_generator,
    fraction_label,
    generator_replicate,
    generator_replicates,
    n_real_label,
    primary_cell,
    replicate_seed,
)
from ganaug.config.checks import (
    CONDITIONAL_TRANSFER_MODELS,
    RESNET18_RENAMED,
    check_classifier,
    check_semantics,
    check_statistics,
    check_transfer,
    config_warnings,
    known_class_names,
    reference_warnings,
)
from ganaug.config.errors import ConfigError
from ganaug.config.load import (
    REPLACED_MAPPINGS,
    apply_replaced_mappings,
    load_schema,
    resolve_dataset_paths,
    validate_config,
)
from ganaug.config.low_data import add_low_data_gans, generator_of, low_data_gan, trains_on_n_real
from ganaug.config.settings import (
    CLASSIFIER_KEYS,
    GENERATE_ONLY,
    base_settings,
    canonical,
    classifier_settings,
    gan_classes,
    gan_dir,
    gan_settings,
    gan_train_settings,
    pretrain_settings,
    replicate_settings,
    transfer_base,
)

__all__ = [
    "CLASSIFIER_KEYS",
    "CONDITIONAL_TRANSFER_MODELS",
    "GENERATE_ONLY",
    "PRIMARY_DEFAULTS",
    "REPLACED_MAPPINGS",
    "RESNET18_RENAMED",
    "ClassifierCell",
    "ConfigError",
    "apply_replaced_mappings",
    "base_settings",
    "canonical",
    "check_classifier",
    "check_replicates",
    "check_semantics",
    "add_low_data_gans",
    "generator_of",
    "low_data_gan",
    "trains_on_n_real",
    "check_statistics",
    "check_transfer",
    "classifier_cells",
    "classifier_run_dir",
    "classifier_settings",
    "classifiers_per_generator",
    "config_warnings",
    "fraction_label",
    "gan_classes",
    "gan_dir",
    "gan_settings",
    "gan_train_settings",
    "generator_replicate",
    "generator_replicates",
    "known_class_names",
    "load_schema",
    "n_real_label",
    "pretrain_settings",
    "replicate_seed",
    "replicate_settings",
    "primary_cell",
    "reference_warnings",
    "resolve_dataset_paths",
    "transfer_base",
    "validate_config",
]
