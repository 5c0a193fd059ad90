"""The honest low-data arm: generators trained on the real images the classifier sees (``train_on: n_real``).

A GAN cell trains on the whole real training set by default, so a classifier cell at
``n_real = 25`` mixes in images from a generator that has seen every minority image - an
optimistic bound (``docs/classifier.md``). With ``train_on: n_real`` the cell instead gets, for
each ``n_real`` value below ``all`` that its classifier cells use, a GAN cell of its own,
``{gan}_n{n_real}`` (:func:`low_data_gan`): the same recipe, whose replicate ``r`` trains - its
shared transfer GAN too - on ``results/data/rep{r}/real_train_n{n_real}.npz``: the real set with
the ``n_real`` minority images that classifier seed ``r`` keeps
(:func:`ganaug.classifier.mixing.limit_class` with seed ``r``; every other class whole). Each
seed is then its own generator replicate (``classifiers_per_generator: 1``), so the images a
generator saw and the images its classifier saw are the same.

The classifier cells keep their source name (``dcgan`` at ``n25``); their synthetic images come
from :func:`generator_of` (``dcgan_n25``), and the GAN tables list ``dcgan_n25`` as a GAN of its
own, so a reader sees which generators were trained on what. The added cells carry
``real_n`` (what their training reads) and ``derived_from`` (who they are a copy of), and are
left out of :func:`~ganaug.config.cells.classifier_cells`.
"""

from __future__ import annotations

import copy

from ganaug.config.errors import ConfigError

#: a GAN cell key: which real images its generators train on
TRAIN_ON = "train_on"
#: keys of an added low-data cell: the n_real its training set keeps, and the cell it copies
REAL_N, DERIVED_FROM = "real_n", "derived_from"


def low_data_gan(gan: str, n_real: int | str) -> str:
    """The name of GAN cell ``gan``'s generators trained on ``n_real`` minority images: ``{gan}_n{n_real}``."""
    return f"{gan}_n{n_real}"


def trains_on_n_real(config: dict, gan: str) -> bool:
    """Whether GAN cell ``gan`` says ``train_on: n_real`` (itself or through ``gan_defaults``)."""
    from ganaug.config.settings import gan_settings

    return gan_settings(config, gan).get(TRAIN_ON, "all") == "n_real"


def generator_of(config: dict, source: str, n_real: str) -> str:
    """The GAN cell whose samples classifier cells of ``source`` at ``n_real`` (its label) mix in: ``source``
    itself, or its low-data copy for a ``train_on: n_real`` cell below ``all``."""
    if source == "real" or n_real == "all" or not trains_on_n_real(config, source):
        return source
    return low_data_gan(source, n_real)


def add_low_data_gans(config: dict) -> dict:
    """``config`` with a GAN cell ``{gan}_n{n}`` for every ``train_on: n_real`` cell and n_real value ``n`` < all
    of its classifier cells (and of the cells that start from its shared GAN); the config itself when no cell
    asks for it. One-line :class:`ConfigError` for a design that cannot be honest: a shared or nested generator
    (``classifiers_per_generator`` other than 1), a transfer from a cell that trains on all images, or a name
    already taken."""
    from ganaug.config.cells import classifier_cells, classifiers_per_generator

    honest = [g for g in config["gans"] if trains_on_n_real(config, g)]
    if not honest:
        return config
    if classifiers_per_generator(config) != 1:
        raise ConfigError(
            f"config key gans.{honest[0]}.train_on = n_real needs classifier.classifiers_per_generator: 1 (got "
            f"{config['classifier'].get('classifiers_per_generator')!r}): each classifier seed keeps its own n_real "
            "images, so each needs a generator trained on them"
        )
    wanted = {(c.source, c.n_real) for c in classifier_cells(config) if c.source in honest and c.n_real != "all"}
    out = copy.deepcopy(config)
    queue = sorted(wanted, key=lambda gn: (honest.index(gn[0]), int(gn[1])))
    done: set[tuple[str, str]] = set()
    while queue:
        gan, n = queue.pop(0)
        if (gan, n) in done:
            continue
        done.add((gan, n))
        name = low_data_gan(gan, n)
        if name in config["gans"]:
            raise ConfigError(
                f"config key gans.{name}: the name is taken by the low-data copy of {gan} (train_on: n_real at "
                f"n_real {n}); rename that cell"
            )
        cell = copy.deepcopy(config["gans"][gan])
        cell.pop(TRAIN_ON, None)
        cell.update({REAL_N: int(n), DERIVED_FROM: gan})
        source = (cell.get("transfer") or {}).get("from")
        if source is not None:
            if not trains_on_n_real(config, source):
                raise ConfigError(
                    f"config key gans.{gan}.transfer.from = {source!r}: {gan} trains on n_real images, but {source}'s "
                    f"shared GAN has seen every real image; give {source} train_on: n_real too"
                )
            cell["transfer"] = dict(cell["transfer"], **{"from": low_data_gan(source, n)})
            queue.append((source, n))
        out["gans"][name] = cell
    return out
