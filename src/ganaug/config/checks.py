"""Semantic checks: what the schema cannot express (cross-key rules, class names the data stage will
find, transfer blocks, classifier combinations), each a one-line :class:`ConfigError`; and warnings."""

from __future__ import annotations

from pathlib import Path

from ganaug.config.cells import check_replicates, classifier_cells, fraction_label, primary_cell
from ganaug.config.errors import ConfigError, _one_line
from ganaug.config.settings import canonical, gan_classes, gan_settings
from ganaug.names import (
    CLASS_NORM_MODELS,
    CLASSIFIER_MIN_INPUT,
    CONDITIONAL_ONLY,
    DIFFUSION_MODELS,
    DIFFUSION_SETTINGS,
    MINIBATCH_STD_MODELS,
    TORCHVISION_ARCHS,
    label_in_d_first_stage,
)

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
    _check_gan_classes(config, classes)
    check_replicates(config)
    for gan in config["gans"]:
        settings = gan_settings(config, gan)
        model, mode = settings["model"], settings["mode"]
        if model in CONDITIONAL_ONLY and mode != "conditional":
            raise ConfigError(
                f"config key gans.{gan}.mode = {mode!r}: model {model!r} is inherently conditional "
                "(allowed modes: conditional)"
            )
        _check_architecture(config, gan, settings)
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
    check_statistics(config)
    if config["metrics"]["fid"]["n"] > config["generate"]["n_per_class"]:
        raise ConfigError(
            f"config key metrics.fid.n = {config['metrics']['fid']['n']} exceeds generate.n_per_class = "
            f"{config['generate']['n_per_class']}: FID needs that many generated images per class"
        )


def _check_gan_classes(config: dict, classes: list[str] | None) -> None:
    """A cell's ``classes`` (per_class only) name classes of the dataset, and every classifier cell that uses
    the cell's images needs only classes it trains: ``replace`` every class, ``balance`` at least the minority."""
    for gan, cell in config["gans"].items():
        settings = gan_settings(config, gan)
        if "classes" not in settings:
            continue
        where = f"gans.{gan}.classes" if "classes" in cell else "gan_defaults.classes"
        if settings["mode"] != "per_class":
            raise ConfigError(
                f"config key {where}: a {settings['mode']} cell generates every class; classes applies to "
                "per_class cells"
            )
        chosen = settings["classes"]
        if classes is not None and chosen != "minority":
            unknown = [c for c in chosen if c not in classes]
            if unknown:
                raise ConfigError(
                    f"config key {where} = {chosen}: {', '.join(map(repr, unknown))} is not a class of dataset "
                    f"{config['experiment']['dataset']!r} (classes: {', '.join(classes)})"
                )
    if classes is None or not any("classes" in gan_settings(config, gan) for gan in config["gans"]):
        return
    minority = config["experiment"]["minority_class"]
    for cell in classifier_cells(config):
        if cell.source == "real":
            continue
        trained = gan_classes(config, cell.source, classes)
        need = classes if cell.strategy == "replace" else [minority]
        missing = [c for c in need if c not in trained]
        if missing:
            why = "replace uses every class" if cell.strategy == "replace" else "balance adds minority images"
            raise ConfigError(
                f"config key gans.{cell.source}.classes: classifier cell {cell.strategy} f = {cell.frac} "
                f"(baseline {cell.baseline}, n_real {cell.n_real}) needs synthetic {', '.join(missing)} images "
                f"({why}), but gans.{cell.source} trains only {', '.join(trained)}"
            )


def _check_architecture(config: dict, gan: str, settings: dict) -> None:
    """``minibatch_std`` and ``class_norm`` name a model (and mode) whose networks have such a part."""
    model, mode = settings["model"], settings["mode"]
    for key, models, conditional in (("minibatch_std", MINIBATCH_STD_MODELS, False),
                                     ("class_norm", CLASS_NORM_MODELS, True)):  # fmt: skip
        if not settings.get(key):
            continue
        where = f"gans.{gan}.{key}" if key in config["gans"][gan] else f"gan_defaults.{key} (gans.{gan})"
        if model not in models:
            raise ConfigError(f"config key {where}: applies to {', '.join(models)}, not {model!r}")
        if conditional and mode != "conditional":
            raise ConfigError(f"config key {where}: applies to conditional cells (the label's way into G and D), "
                              f"not mode {mode!r}")  # fmt: skip


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


def _cell_text(key: tuple) -> str:
    b, src, strat, f, n = key
    return f"(source {src}, strategy {strat}, fraction {f}, baseline {b}, n_real {n})"


def check_statistics(config: dict) -> None:
    """The declared reference and primary comparison exist in the sweep (one-line :class:`ConfigError`):
    the reference has real-only runs, at least at the primary's n_real; a declared primary cell is a
    sweep cell other than the reference; the pilot form chooses among cells that exist, on whole
    generator replicates, and leaves at least two replicates to test on."""
    st = config.get("statistics") or {}
    cells = [tuple(c[:5]) for c in classifier_cells(config)]
    ref = st.get("reference", "none")
    ref_n = [n for b, src, _, _, n in dict.fromkeys(cells) if b == ref and src == "real"]
    if not ref_n:
        real = sorted({b for b, src, *_ in cells if src == "real"})
        raise ConfigError(
            f"config key statistics.reference = {ref!r}: the sweep has no real-only run of that baseline "
            f"(real-only baselines: {', '.join(real) or 'none'}; add it to classifier.baselines)"
        )
    given = st.get("primary")
    spec = primary_cell(config)
    if spec is None:
        return
    if "choose" in spec:
        _check_pilot(config, given, cells, ref_n)
        return
    key = (spec["baseline"], spec["source"], spec["strategy"], fraction_label(spec["fraction"]), spec["n_real"])
    if given and key not in cells:
        same = [c for c in dict.fromkeys(cells) if c[1] == key[1] and c[2] == key[2]][:4]
        hint = f"; sweep cells of that source and strategy: {', '.join(map(_cell_text, same))}" if same else ""
        raise ConfigError(f"config key statistics.primary: cell {_cell_text(key)} is not in the sweep{hint}")
    if key[1] == "real" and key[0] == ref:
        raise ConfigError(f"config key statistics.primary: cell {_cell_text(key)} is the reference itself")
    if key[4] not in ref_n:
        raise ConfigError(
            f"config key statistics.reference = {ref!r}: no real-only run at the primary cell's n_real {key[4]} "
            f"(it runs at n_real {', '.join(ref_n)}), so the primary question could not be answered"
        )


def _check_pilot(config: dict, given: dict, cells: list[tuple], ref_n: list[str]) -> None:
    """``statistics.primary: {choose: best_on_validation, ...}``: see :func:`check_statistics`."""
    key = "config key statistics.primary"
    mixed = [k for k in ("source", "fraction", "baseline") if k in given]
    if mixed:
        raise ConfigError(
            f"{key}: choose picks the cell; it takes strategy, n_real and pilot_seeds, not {', '.join(mixed)}"
        )
    if "pilot_seeds" not in given:
        raise ConfigError(
            f"{key}.pilot_seeds: choose needs the seeds that choose the cell (whole generator replicates)"
        )
    spec = primary_cell(config)
    strategy, n = spec["strategy"], spec["n_real"]
    if not any(c[1] != "real" and c[2] == strategy and c[4] == n for c in cells):
        raise ConfigError(f"{key}.strategy = {strategy!r}: the sweep has no GAN cell of that strategy at n_real {n}")
    if n not in ref_n:
        raise ConfigError(f"config key statistics.reference: no real-only run at the primary's n_real {n}")
    seeds, pilot = [int(s) for s in config["classifier"]["seeds"]], set(spec["pilot_seeds"])
    if not pilot <= set(seeds):
        raise ConfigError(f"{key}.pilot_seeds = {sorted(pilot)}: not all are classifier.seeds ({seeds})")
    per = config["classifier"].get("classifiers_per_generator", 1)
    if per == "all":
        raise ConfigError(
            f"{key}.pilot_seeds: with classifier.classifiers_per_generator: all every seed shares one generator, "
            "so no seed is a fresh replicate; use an integer classifiers_per_generator"
        )
    replicate = {s: s // int(per) for s in seeds}
    split = sorted({replicate[s] for s in pilot} & {replicate[s] for s in seeds if s not in pilot})
    if split:
        members = [s for s in seeds if replicate[s] == split[0]]
        raise ConfigError(
            f"{key}.pilot_seeds = {sorted(pilot)} split generator replicate {split[0]} (seeds {members}, "
            f"classifier.classifiers_per_generator = {per}): choose whole replicates"
        )
    if len({replicate[s] for s in seeds if s not in pilot}) < 2:
        raise ConfigError(f"{key}.pilot_seeds = {sorted(pilot)} leave fewer than two generator replicates to test on")


def reference_warnings(config: dict) -> list[str]:
    """The n_real values where the declared reference has no real-only run: their cells go uncompared."""
    cells = list(dict.fromkeys(tuple(c[:5]) for c in classifier_cells(config)))
    ref = (config.get("statistics") or {}).get("reference", "none")
    have = {n for b, src, _, _, n in cells if b == ref and src == "real"}
    out = []
    for n in dict.fromkeys(c[4] for c in cells):
        if n not in have:
            k = sum(1 for c in cells if c[4] == n)
            out.append(
                f"statistics.reference: {ref!r} has no real-only run at n_real {n}, so the {k} cells there are "
                "compared with nothing (add it there, e.g. as an extra cell, to compare them)"
            )
    return out


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
    Also: n_real values where ``statistics.reference`` did not run (:func:`reference_warnings`).
    """
    cls_cfg = config["classifier"]
    out = [RESNET18_RENAMED] if cls_cfg["arch"] == "resnet18" and cls_cfg["pretrained"] == "none" else []
    return out + reference_warnings(config) + balance_budget_warnings(config)


def balance_budget_warnings(config: dict) -> list[str]:
    """``balance`` cells that would need more synthetic minority images than ``generate.n_per_class`` draws, judged
    from the per-class caps (``experiment.subsample.max_per_class``, exact when every class has at least its cap):
    the classifier job would stop after the GANs have trained, so say it at parse time."""
    from ganaug.config.cells import classifier_cells

    exp = config["experiment"]
    caps = (exp.get("subsample") or {}).get("max_per_class") or {}
    minority = exp.get("minority_class")
    if minority not in caps or len(caps) < 2:
        return []
    largest = max(int(v) for c, v in caps.items() if c != minority)
    budget = int(config["generate"]["n_per_class"])
    worst: dict[tuple[float, str], int] = {}
    for c in classifier_cells(config):
        if c.strategy != "balance":
            continue
        have = int(caps[minority]) if c.n_real == "all" else min(int(c.n_real), int(caps[minority]))
        need = round(float(c.frac) * max(largest - have, 0))
        if need > budget:
            worst[(float(c.frac), c.n_real)] = need
    if not worst:
        return []
    cells = ", ".join(
        f"{need} at fraction {f:g}, n_real {n}" for (f, n), need in sorted(worst.items(), key=lambda kv: -kv[1])
    )
    return [
        f"config key generate.n_per_class = {budget}: balance cells need more synthetic {minority} images than that "
        f"(from the caps, {largest} for the largest class: {cells}); their classifier jobs would fail after the GANs "
        f"have trained - raise n_per_class to at least {max(worst.values())}"
    ]


#: models whose conditional G and D are their unconditional ones plus label parts
#: (:func:`ganaug.gan.transfer.as_conditional`): a conditional cell may start from such a model's shared GAN
CONDITIONAL_TRANSFER_MODELS = ("dcgan", "wgan_gp", "resgan")


def check_transfer(config: dict, gan: str, settings: dict) -> None:
    """One clear line for a ``transfer`` block that cannot work (the schema checked its types)."""
    t, mode, model = settings["transfer"], settings["mode"], settings["model"]
    key = f"config key gans.{gan}.transfer"
    if ("steps" in t) == ("from" in t):
        raise ConfigError(f"{key}: give exactly one of steps (train the shared GAN here) and from (another cell's)")
    if mode == "conditional" and model not in CONDITIONAL_TRANSFER_MODELS:
        raise ConfigError(
            f"{key}: a conditional {model!r} cannot start from an unconditional GAN "
            f"(models that can: {', '.join(CONDITIONAL_TRANSFER_MODELS)})"
        )
    if mode == "conditional" and label_in_d_first_stage(model, settings.get("class_norm", False)) \
            and int(t.get("freeze_d", 0)) > 0:  # fmt: skip
        raise ConfigError(
            f"{key}.freeze_d = {t['freeze_d']}: a conditional {model} learns the label through D's first stage, "
            "which therefore cannot be frozen; use 0 (or class_norm: true, whose D reads the label at its head)"
        )
    if "from" not in t:
        return
    src = t["from"]
    if src == gan or src not in config["gans"]:
        others = ", ".join(g for g in config["gans"] if g != gan) or "none"
        raise ConfigError(f"{key}.from = {src!r}: not another cell of gans (cells: {others})")
    other = gan_settings(config, src)
    if "steps" not in (other.get("transfer") or {}):
        raise ConfigError(f"{key}.from = {src!r}: that cell trains no shared GAN (it needs transfer: {{steps: N}})")
    for k in ("model", "nz", "ngf", "ndf"):
        if other[k] != settings[k]:
            raise ConfigError(
                f"{key}.from = {src!r}: {k} differs ({settings[k]!r} here, {other[k]!r} there); "
                "the networks must match to start from its weights"
            )
