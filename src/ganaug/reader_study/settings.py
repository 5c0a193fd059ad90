"""The ``reader_study:`` section of the config, resolved against the GAN cells and classes.

The schema (``workflow/schemas/config.schema.yaml``) checks the types and fills in the
defaults; :func:`study_settings` resolves ``gan: null`` (the first GAN cell) and
``classes: null`` (the experiment's minority class) and checks that both name what exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from ganaug.config import ConfigError

#: the upscaling filters of the page (PIL's names; the schema's enum of reader_study.upscale lists the same);
#: docs/reader-study.md says why nearest is the default
UPSCALE_FILTERS = ("nearest", "bicubic")

#: the settings the page depends on (``in_all`` only decides whether ``all`` makes it)
PAGE_KEYS = ("gan", "classes", "n_per_side", "seed", "display_size", "upscale")


def study_settings(
    section: dict, gans: Sequence[str], classes: Sequence[str], minority_class: str, generated=None
) -> dict:
    """``reader_study`` with ``gan`` and ``classes`` resolved; :class:`ConfigError` naming the key when one is
    unknown, or (``generated(gan)``: the classes a GAN cell generates) when the GAN makes no images of it."""
    out = dict(section)
    gan = out.get("gan") or gans[0]
    if gan not in gans:
        raise ConfigError(f"config key reader_study.gan = {gan!r} names no GAN cell (cells: {', '.join(gans)})")
    chosen = list(out.get("classes") or [minority_class])
    unknown = [c for c in chosen if c not in classes]
    if unknown:
        raise ConfigError(
            f"config key reader_study.classes = {chosen!r}: {', '.join(map(repr, unknown))} is not a class "
            f"of the experiment's dataset (classes: {', '.join(classes)})"
        )
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"config key reader_study.classes = {chosen!r} names a class twice")
    made = list(generated(gan)) if generated is not None else list(classes)
    missing = [c for c in chosen if c not in made]
    if missing:
        raise ConfigError(
            f"config key reader_study.classes = {chosen!r}: GAN cell {gan!r} generates no {', '.join(missing)} "
            f"images (it generates {', '.join(made)}); choose its classes or another cell"
        )
    out["gan"], out["classes"] = gan, chosen
    return out


def page_params(settings: dict) -> dict:
    """What the page rule's output depends on (a change reruns the page; ``in_all`` does not)."""
    return {k: settings[k] for k in PAGE_KEYS}


def study_paths(settings: dict) -> dict:
    """The files of the study of ``settings`` (resolved): its folder, page, key, answers folder and scores."""
    folder = f"results/reader_study/{settings['gan']}"
    return {
        "dir": folder,
        "page": [f"{folder}/index.html", f"{folder}/key.csv"],
        "answers": f"{folder}/answers",
        "scores": {
            "csv": f"{folder}/scores.csv",
            "md": f"{folder}/scores.md",
            "figure": f"{folder}/scores.png",
            "summary": f"{folder}/summary.md",
        },
    }


def answer_files(answers_dir: str) -> list[str]:
    """The answer CSVs in ``answers_dir`` now (none when it does not exist; hidden files are not answers)."""
    import glob
    import os

    return sorted(glob.glob(os.path.join(glob.escape(answers_dir), "*.csv")))


def in_all_targets(settings: dict) -> list[str]:
    """What ``all`` makes of the study: nothing, or (``in_all``) the page, and the scores once answers exist."""
    if not settings["in_all"]:
        return []
    paths = study_paths(settings)
    return paths["page"] + (list(paths["scores"].values()) if answer_files(paths["answers"]) else [])
