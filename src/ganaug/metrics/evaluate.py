"""Every generative metric of one GAN × class, from files to files (what rule gan_metrics runs).

The Inception features of the generated images (a seeded subset of ``metrics.fid.n``)
are extracted once and shared by FID, KID, precision/recall and the 1-NN test,
all against the cached features of the real train split (rule real_stats), and by
the memorisation check against the cached features of the GAN's own training
images of the class (rule real_train_features). The memorisation check and the
full-reference scores use the same generated subset. MS-SSIM diversity and the
mode-collapse flag come from all generated images of the class vs the real train split.

FID, FID-infinity and KID are computed at the N of the class's real floors (rule
fid_floor, :func:`ganaug.metrics.matched.floor_scores`): ``n_eff = min(metrics.fid.n,
N_generated, N_train, N_test)`` per side, so ``fid / fid_floor`` compares like with like
(:mod:`ganaug.metrics.matched`). :func:`matched_scores` does the same from three
feature matrices, for scripts outside the pipeline.

:func:`evaluate_gan` writes the rule's four outputs and returns the metrics record
(one flat key per reported number, plus the full memorisation summary), in four
steps: :func:`generated_subset`, :func:`distribution_scores`,
:func:`memorisation_entries` and :func:`diversity_entries`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ganaug.io import PathLike, load_npz, read_json, save_dataframe, write_json
from ganaug.metrics.features import extract_features, feature_stats, load_stats, save_stats, select_subset
from ganaug.metrics.fullref import fullref_scores, fullref_summary
from ganaug.metrics.matched import (
    finite_or_none,
    floor_scores,
    generated_scores,
    matched_scores,  # noqa: F401 - re-exported: ganaug.metrics.evaluate.matched_scores
)
from ganaug.metrics.memorisation import memorisation, plot_nearest_pairs
from ganaug.metrics.msssim import mode_collapse, msssim_diversity
from ganaug.metrics.nn1 import nn1_accuracy
from ganaug.metrics.precision_recall import precision_recall

#: the files :func:`evaluate_gan` reads and writes (rule gan_metrics' input and output names)
INPUTS = ("samples", "real", "train_stats", "test_stats", "floor", "real_train", "train_features")
OUTPUTS = ("metrics", "stats", "nearest_csv", "nearest")
#: the ``settings`` sections (config ``metrics.<name>``) :func:`evaluate_gan` needs
SETTINGS = ("fid", "msssim", "kid", "pr", "nn1", "memorisation")
#: the keys of the floor JSON (rule fid_floor) copied into the record
FLOOR_KEYS = (
    "fid_floor",
    "fid_floor_std",
    "fid_floor_n",
    "fid_floor_draws",
    "fid_floor_n_train",
    "fid_floor_n_test",
    "fid_floor_full",
)
#: the memorisation summary's entries copied into the record as ``memo_<key>``
MEMO_KEYS = (
    "n_generated",
    "n_train",
    "near_copy_quantile",
    "near_copy_threshold",
    "near_copy_count",
    "near_copy_fraction",
    "pixel_nn_min",
    "pixel_nn_median",
    "train_pixel_nn_median",
    "feature_nn_median",
    "train_feature_nn_median",
)


def class_rows(data: Mapping[str, np.ndarray], cls: str) -> np.ndarray:
    """Rows of class ``cls`` in an npz with ``labels`` and ``classes`` (samples.npz, real_train.npz)."""
    classes = [str(c) for c in data["classes"]]
    return np.flatnonzero(data["labels"] == classes.index(cls))


def nearest_table(
    per_image: pd.DataFrame, gen_rows: np.ndarray, train_rows: np.ndarray, fullref: Mapping
) -> pd.DataFrame:
    """The per-image memorisation table keyed by rows of samples.npz and real_train.npz, not positions within the class.

    ``per_image``: :attr:`Memorisation.per_image` of the generated subset;
    ``gen_rows`` / ``train_rows``: the samples.npz / real_train.npz row of each
    generated / training image given to :func:`memorisation`; ``fullref``: the
    :func:`fullref_scores` result, one column per score.
    """
    table = per_image.drop(columns=["generated_index"]).copy()
    table.insert(0, "sample_row", gen_rows)
    table["pixel_nn_train_row"] = train_rows[per_image["pixel_nn_index"].to_numpy()]
    table["feature_nn_train_row"] = train_rows[per_image["feature_nn_index"].to_numpy()]
    table = table.drop(columns=["pixel_nn_index", "feature_nn_index"])
    for name, values in fullref["scores"].items():
        table[name] = values
    return table


def evaluate_gan(
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    *,
    gan: str,
    cls: str,
    model: str,
    mode: str,
    settings: Mapping[str, Mapping],
    collapse_margin: float,
    device="cpu",
    batch_size: int = 50,
    replicate: int = 0,
) -> dict:
    """Compute every generative metric of GAN ``gan``'s class ``cls`` and write the outputs.

    ``inputs`` (paths, named as in :data:`INPUTS`): ``samples`` (the GAN's
    samples.npz), ``real`` (the prepared dataset), ``train_stats`` / ``test_stats``
    (real train / test split features of the class, :func:`save_stats` with
    features), ``floor`` (the class's real floors JSON, :func:`floor_scores`; the
    test features are read only when the generated images are fewer than the
    floor's N, to recompute it at theirs), ``real_train`` (the experiment's real
    training set) and ``train_features`` (features of every training image of the class).

    ``outputs`` (paths, :data:`OUTPUTS`): ``metrics`` (the record as JSON),
    ``stats`` (features and statistics of the generated subset), ``nearest_csv``
    (:func:`nearest_table`) and ``nearest`` (the nearest-pairs figure).

    ``settings``: the config ``metrics`` sections of :data:`SETTINGS`
    (``fid``: ``n``, ``seed``, ``draws``, ``inf_points``, ``inf_n_min``); ``collapse_margin``: see
    :func:`mode_collapse`; ``batch_size``: of the feature extraction; ``replicate``: the generator replicate (recorded).
    Returns the record written to ``outputs["metrics"]``.
    """
    missing = [k for k in INPUTS if k not in inputs] + [k for k in OUTPUTS if k not in outputs]
    missing += [k for k in SETTINGS if k not in settings]
    if missing:
        raise ValueError(f"evaluate_gan: missing {', '.join(missing)}")
    gen_all, gen, gen_rows, feats = generated_subset(
        inputs["samples"], outputs["stats"], gan=gan, cls=cls, fid=settings["fid"], device=device, batch_size=batch_size
    )
    scores, floor, pr_res, nn1_res, n_real = distribution_scores(inputs, feats, settings, device)
    memo = memorisation_entries(inputs, outputs, gen, gen_rows, feats, gan, cls, settings["memorisation"], device)
    diversity = diversity_entries(inputs["real"], gen_all, cls, settings["msssim"], collapse_margin)
    result = {
        "gan": gan,
        "replicate": int(replicate),
        "model": model,
        "mode": mode,
        "class": cls,
        **{k: scores[k] for k in ("fid", "fid_std", "fid_n", "fid_draws")},
        **{k: floor[k] for k in FLOOR_KEYS},
        **{k: scores[k] for k in ("fid_inf", "fid_inf_slope", "fid_inf_n_min", "fid_inf_n_max", "fid_inf_points")},
        "fid_inf_floor": floor["fid_inf_floor"],
        "fid_full": scores["fid_full"],
        "fid_n_generated": int(len(gen)),
        "fid_n_real": n_real,
        **diversity,
        **{k: scores[k] for k in ("kid_mean", "kid_std", "kid_subset_size", "kid_n_subsets")},
        **{k: floor[k] for k in ("kid_floor", "kid_floor_std")},
        "precision": pr_res["precision"],
        "recall": pr_res["recall"],
        "pr_k": pr_res["k"],
        **{k: nn1_res[k] for k in ("nn1_accuracy", "nn1_real_accuracy", "nn1_fake_accuracy", "nn1_n_per_side")},
        **memo,
    }
    result = finite_or_none(result)
    write_json(outputs["metrics"], result)
    return result


def generated_subset(samples: PathLike, stats: PathLike, *, gan: str, cls: str, fid: Mapping, device, batch_size: int):
    """The generated images of class ``cls`` in ``samples`` (samples.npz) and the seeded subset the metrics score.

    The subset holds ``fid.n`` images (seed ``fid.seed``); its Inception features
    and their statistics are written to ``stats``. Returns ``(all images of the
    class, the subset, the subset's rows of samples.npz, its features)``.
    """
    data = load_npz(samples, required=("images", "labels", "classes"))
    gen_rows_all = class_rows(data, cls)
    gen_all = data["images"][gen_rows_all]
    idx = select_subset(len(gen_all), int(fid["n"]), int(fid["seed"]))
    gen, gen_rows = gen_all[idx], gen_rows_all[idx]
    feats = extract_features(gen, device=device, batch_size=int(batch_size))
    mu, sigma = feature_stats(feats)
    save_stats(stats, mu, sigma, len(idx), features=feats, indices=idx, gan=gan, cls=cls)
    return gen_all, gen, gen_rows, feats


def distribution_scores(inputs: Mapping[str, PathLike], feats: np.ndarray, settings: Mapping[str, Mapping], device):
    """The generated features against the real train split's (``inputs["train_stats"]``).

    FID, FID-infinity and KID at the N of the class's floors (``inputs["floor"]``;
    recomputed from ``inputs["test_stats"]`` at the generated images' N when they
    are fewer), precision / recall and the 1-NN test. Returns ``(scores, floor,
    precision_recall, nn1, n_real)``: :func:`generated_scores`, the floor record
    at that N, :func:`precision_recall`, :func:`nn1_accuracy` and the number of
    real images behind the train split's statistics.
    """
    fid_cfg, kid_cfg = dict(settings["fid"]), dict(settings["kid"])
    train, floor = load_stats(inputs["train_stats"], require_features=True), read_json(inputs["floor"])
    if "fid_floor_n" not in floor:
        raise ValueError(f"{inputs['floor']}: no fid_floor_n (written by an older version: delete it to recompute)")
    opts = {
        "draws": int(fid_cfg["draws"]),
        "seed": int(fid_cfg["seed"]),
        "inf_points": int(fid_cfg["inf_points"]),
        "inf_n_min": int(fid_cfg["inf_n_min"]),
        "kid_subset_size": int(kid_cfg["subset_size"]),
        "kid_n_subsets": int(kid_cfg["n_subsets"]),
        "kid_seed": int(kid_cfg["seed"]),
    }
    n_eff = min(int(floor["fid_floor_n"]), len(feats))
    if n_eff < int(floor["fid_floor_n"]):  # fewer generated images than the floor's N: the floor at theirs
        test = load_stats(inputs["test_stats"], require_features=True)
        floor = finite_or_none(floor_scores(train["features"], test["features"], n_eff, **opts))
    scores = generated_scores(feats, train["features"], n_eff, **opts)
    pr_res = precision_recall(train["features"], feats, k=int(settings["pr"]["k"]), device=device)
    nn1_res = nn1_accuracy(train["features"], feats, seed=int(settings["nn1"]["seed"]), device=device)
    return scores, floor, pr_res, nn1_res, int(train["n"])


def memorisation_entries(inputs, outputs, gen, gen_rows, feats, gan: str, cls: str, memo_cfg: Mapping, device) -> dict:
    """The memorisation check of the generated subset against the GAN's own training images of the class.

    Compares ``gen`` (its features ``feats``, its rows ``gen_rows`` of samples.npz)
    with the class's images of ``inputs["real_train"]`` and their features
    (``inputs["train_features"]``), scores each image against its pixel nearest
    neighbour (:func:`fullref_scores`), and writes ``outputs["nearest"]`` (the
    figure) and ``outputs["nearest_csv"]`` (:func:`nearest_table`). Returns the
    record's ``memo_*`` entries, the full-reference summary and ``memorisation``
    (the full summary; a non-finite ratio as None).
    """
    rt = load_npz(inputs["real_train"], required=("images", "labels", "classes"))
    train_rows = class_rows(rt, cls)
    train_images = rt["images"][train_rows]
    rt_feats = load_stats(inputs["train_features"], require_features=True)
    if not np.array_equal(rt_feats["indices"], np.arange(len(train_rows))):
        raise ValueError(
            f"{inputs['train_features']}: features do not cover the {len(train_rows)} training images of {cls!r} in order"
        )
    memo = memorisation(
        gen,
        train_images,
        feats,
        rt_feats["features"],
        near_copy_quantile=float(memo_cfg["near_copy_quantile"]),
        device=device,
    )
    per_image = memo.per_image
    plot_nearest_pairs(
        gen,
        train_images,
        per_image,
        outputs["nearest"],
        top_k=int(memo_cfg["top_k"]),
        title=f"{gan} / {cls}: generated images nearest to a training image",
    )
    fr = fullref_scores(gen, train_images[per_image["pixel_nn_index"].to_numpy()])
    save_dataframe(outputs["nearest_csv"], nearest_table(per_image, gen_rows, train_rows, fr))

    # JSON has no NaN: a ratio over a zero median (duplicated training images) becomes null
    s = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in memo.summary.items()}
    return {
        **{f"memo_{k}": s[k] for k in MEMO_KEYS},
        **fullref_summary(fr),
        "memorisation": s,  # the full summary (all quantiles); the report table keeps the flat keys only
    }


def diversity_entries(real: PathLike, gen_all: np.ndarray, cls: str, ms_cfg: Mapping, collapse_margin: float) -> dict:
    """MS-SSIM diversity of all generated images of the class and of the real train split's (``real``, the
    prepared dataset), and the mode-collapse flag: the record's ``msssim_*``, ``mode_collapse`` and ``collapse_margin``."""
    from ganaug.data import load_prepared

    real_x, real_y, real_classes = load_prepared(real, "train")
    real_images = real_x[real_y == real_classes.index(cls)]
    ms_gen = msssim_diversity(gen_all, pairs=int(ms_cfg["pairs"]), seed=int(ms_cfg["seed"]))
    ms_real = msssim_diversity(real_images, pairs=int(ms_cfg["pairs"]), seed=int(ms_cfg["seed"]))
    margin = float(collapse_margin)
    return {
        "msssim_generated": float(ms_gen),
        "msssim_real": float(ms_real),
        "msssim_pairs": int(ms_cfg["pairs"]),
        "mode_collapse": mode_collapse(ms_gen, ms_real, margin),
        "collapse_margin": margin,
    }
