"""The sweep: its classifier cells and their run directories."""

from __future__ import annotations

from typing import NamedTuple

from ganaug.config.errors import ConfigError
from ganaug.names import NO_MIXING


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
    gans = [g for g, cell in config["gans"].items() if "derived_from" not in cell]  # not the low-data copies
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


# ----------------------------------------------------------------------------- generator replicates


def classifiers_per_generator(config: dict) -> int | None:
    """``classifier.classifiers_per_generator``: C classifier seeds per generator replicate, or None
    for ``all`` (one generator per cell, shared by every seed)."""
    value = config["classifier"].get("classifiers_per_generator", 1)
    return None if value == "all" else int(value)


def replicate_of(seed: int, per_generator: int | None) -> int:
    """The generator replicate of classifier seed ``seed`` with ``per_generator`` seeds per replicate
    (:func:`classifiers_per_generator`): ``seed // per_generator``, 0 when that is None (one shared)."""
    return 0 if per_generator is None else int(seed) // int(per_generator)


def generator_replicate(config: dict, seed: int) -> int:
    """The generator replicate classifier seed ``seed`` belongs to: ``seed // C`` (C =
    :func:`classifiers_per_generator`), 0 for every seed when the generator is shared.

    With C = 1 (the default) each seed is a replicate of its own that retrains every generator:
    replicate r trains with seed ``gan.seed + 1000 r`` and generates with ``generate.seed + 1000 r``
    (:func:`replicate_seed`; the stride keeps replicates clear of the per-class offsets ``seed + k``
    within a cell), so the generator's training is one of the sources of variation the intervals
    over replicates hold.
    """
    return replicate_of(seed, classifiers_per_generator(config))


def generator_replicates(config: dict) -> list[int]:
    """The generator replicates the sweep's seeds use, ascending."""
    return sorted({generator_replicate(config, s) for s in config["classifier"]["seeds"]})


#: seeds of successive generator replicates are this far apart
REPLICATE_SEED_STRIDE = 1000


def replicate_seed(seed: int, replicate: int) -> int:
    """The seed of a generator replicate's training (or sampling) from the configured one:
    ``seed + 1000 * replicate`` (replicate 0 keeps it)."""
    return int(seed) + REPLICATE_SEED_STRIDE * int(replicate)


def check_replicates(config: dict) -> None:
    """A nested design (C > 1 classifier seeds per generator) must be balanced: every generator
    replicate holds exactly C of ``classifier.seeds``; one line naming the keys otherwise."""
    per = classifiers_per_generator(config)
    if per is None or per == 1:
        return
    seeds = [int(s) for s in config["classifier"]["seeds"]]
    groups: dict[int, list[int]] = {}
    for s in seeds:
        groups.setdefault(replicate_of(s, per), []).append(s)
    uneven = {r: g for r, g in groups.items() if len(g) != per}
    if uneven:
        r, g = min(uneven.items())
        raise ConfigError(
            f"config key classifier.classifiers_per_generator = {per}: generator replicate {r} (seeds "
            f"{r * per}..{r * per + per - 1}) holds seeds {g} of classifier.seeds; give every replicate all "
            f"{per} of its seeds (e.g. seeds {list(range(per * len(groups)))}) for a balanced nested design"
        )


#: the primary cell's keys and their defaults (``source``: the first GAN cell)
PRIMARY_DEFAULTS = {"strategy": "balance", "fraction": 1.0, "baseline": "none", "n_real": "all"}


def primary_cell(config: dict) -> dict | None:
    """``statistics.primary`` resolved: the cell ``{baseline, source, strategy, fraction, n_real}``
    (fraction a float, n_real its label) with the defaults of :data:`PRIMARY_DEFAULTS` for keys not
    given (``source``: the first GAN cell; a real-only source: strategy none, fraction 0), or the
    pilot form ``{choose, strategy, n_real, pilot_seeds}``.  No ``primary`` (null): the default cell
    if the sweep runs it, else the first GAN cell of :func:`classifier_cells`, else None.  Whether a
    given cell is in the sweep is checked by :func:`ganaug.config.checks.check_statistics`.
    """
    given = (config.get("statistics") or {}).get("primary")
    if given and "choose" in given:
        return {
            "choose": str(given["choose"]),
            "strategy": str(given.get("strategy", PRIMARY_DEFAULTS["strategy"])),
            "n_real": n_real_label(given.get("n_real", "all")),
            "pilot_seeds": sorted(int(v) for v in given.get("pilot_seeds") or ()),
        }
    gans = list(config["gans"])
    spec = dict(given or {})
    spec.setdefault("source", gans[0] if gans else "real")
    if spec["source"] == "real":
        spec.setdefault("strategy", NO_MIXING)
        spec.setdefault("fraction", 0.0)
    spec = {**PRIMARY_DEFAULTS, **spec}
    cell = {
        "baseline": str(spec["baseline"]), "source": str(spec["source"]), "strategy": str(spec["strategy"]),
        "fraction": float(spec["fraction"]), "n_real": n_real_label(spec["n_real"]),
    }  # fmt: skip
    if given:
        return cell
    cells = [c for c in classifier_cells(config) if c.source != "real"]
    key = (cell["baseline"], cell["source"], cell["strategy"], fraction_label(cell["fraction"]), cell["n_real"])
    if not cells or any(tuple(c[:5]) == key for c in cells):
        return cell if cells else None
    first = cells[0]
    return {
        "baseline": first.baseline, "source": first.source, "strategy": first.strategy,
        "fraction": float(first.frac), "n_real": first.n_real,
    }  # fmt: skip
