"""Memorisation check: how close is each generated image to a real *training* image?

For every generated image its nearest neighbour among the GAN's real training
images (of the same class) is found twice:

* **pixel space** - Euclidean distance of the images scaled to [0, 1], divided by
  ``sqrt(H * W * C)``: the root-mean-square pixel difference, in [0, 1] and
  comparable across resolutions (a monotone rescaling of the plain L2 distance,
  so the nearest neighbour is the same);
* **feature space** (when Inception features are given) - cosine distance
  ``1 - cos(f_gen, f_train)`` of TF-FID pool3 features (``feature_metric="l2"``
  uses the Euclidean distance instead). pool3 features are non-negative averages
  whose norm follows image contrast; the cosine compares their pattern only.

Ties go to the lowest training index.

Near-copy rule
--------------
The threshold is calibrated on the training set itself: ``tau`` is the
``near_copy_quantile`` (default 0.01) quantile of the leave-one-out pixel
nearest-neighbour distances *within* the training set (each training image to
its nearest other training image). A generated image is a **near copy** when its
pixel distance to the nearest training image is ``<= tau``, i.e. it is at least
as close to a training image as the closest 1 % of training images are to each
other. A new real image of the same distribution would be flagged with
probability about ``near_copy_quantile``, so ``near_copy_fraction`` should be
read against that value: far above it means the generator reproduces training
images. Exact copies (distance 0) are always flagged, even when duplicates in the
training set make ``tau`` 0. On 28-32 px chest X-rays (150 training images of a
class) ``tau`` is about 0.064 RMS and the median within-training distance about
0.095.

Limits of the rule: it is a distance threshold only. An image near the class
*mean* can be close to many training images at once without copying any (on
32 px NORMAL X-rays the class-mean image sits at 0.074 RMS from its nearest
training image, just above ``tau`` = 0.069; a constant grey image among
uniform-noise "training images" would be flagged). Blurred copies of training
images are flagged (2/3 of them at sigma 1.5 px), which is intended. The
per-image table therefore also gives ``pixel_nn2_dist``, the distance to the
second-nearest training image: a copy of one image has
``pixel_nn_dist / pixel_nn2_dist`` far below 1 (exact copy 0, +-6 grey levels
of noise ~0.15), an average-looking image about 1 (class mean 0.97). Look at the
nearest-pairs figure before calling a flag memorisation.

Also reported: the ratio of the median generated-to-training distance to the
median within-training distance (``pixel_nn_ratio``, likewise for features):
well below 1 means generated images sit closer to training images than training
images sit to each other.

:func:`plot_nearest_pairs` draws the ``top_k`` closest generated / training pairs
side by side for visual inspection. It lives here, not in
:mod:`ganaug.report.figures`: each gan_metrics job draws it from the per-image
table :func:`memorisation` returns, and the report layer may import the metrics,
never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ganaug.metrics.utils import DEFAULT_BATCH, as_matrix, check_images, distance_blocks

DEFAULT_NEAR_COPY_QUANTILE = 0.01
DEFAULT_TOP_K = 8
FEATURE_METRICS = ("cosine", "l2")
_QUANTILES = (("min", 0.0), ("q01", 0.01), ("q05", 0.05), ("q25", 0.25), ("median", 0.5), ("q75", 0.75), ("max", 1.0))


def pixel_vectors(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) -> float64 (N, H*W*C) in [0, 1] divided by sqrt(H*W*C) (L2 of rows = RMS difference)."""
    images = check_images(images)
    flat = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return flat / np.sqrt(flat.shape[1])


def nearest_neighbours(
    query,
    ref,
    metric: str = "l2",
    exclude_self: bool = False,
    batch_size: int = DEFAULT_BATCH,
    device="cpu",
    with_second: bool = False,
) -> tuple[np.ndarray, ...]:
    """Distance to and index of each query row's nearest ``ref`` row (``metric`` "l2" or "cosine").

    With ``exclude_self`` (``query`` is ``ref``) a row is never its own neighbour
    (a duplicate of it still is). Ties go to the lowest index. ``with_second``
    adds a third array: the distance to the second-nearest ``ref`` row.
    """
    if metric not in FEATURE_METRICS:
        raise ValueError(f"metric must be one of {', '.join(FEATURE_METRICS)}, got {metric!r}")
    query, ref = as_matrix(query, "query"), as_matrix(ref, "reference")
    if exclude_self and query.shape != ref.shape:
        raise ValueError("exclude_self needs query and ref to be the same set")
    if exclude_self and ref.shape[0] < 2:
        raise ValueError("leave-one-out nearest neighbours need at least 2 points")
    if with_second and ref.shape[0] - int(exclude_self) < 2:
        raise ValueError("a second-nearest neighbour needs at least 2 candidate points")
    dist = np.empty(query.shape[0], dtype=np.float64)
    dist2 = np.empty(query.shape[0], dtype=np.float64)
    idx = np.empty(query.shape[0], dtype=np.int64)
    if metric == "cosine":
        query, ref = _unit_rows(query, "query"), _unit_rows(ref, "reference")
        blocks = ((s, 1.0 - query[s : s + batch_size] @ ref.T) for s in range(0, query.shape[0], batch_size))
    else:
        blocks = ((s, d.cpu().numpy()) for s, d in distance_blocks(query, ref, batch_size, device))
    for start, d in blocks:
        d = np.array(d, dtype=np.float64)
        if exclude_self:
            rows = np.arange(d.shape[0])
            d[rows, rows + start] = np.inf
        j = np.argmin(d, axis=1)  # first minimum: lowest index on ties
        idx[start : start + d.shape[0]] = j
        dist[start : start + d.shape[0]] = np.maximum(d[np.arange(d.shape[0]), j], 0.0)
        if with_second:
            dist2[start : start + d.shape[0]] = np.maximum(np.partition(d, 1, axis=1)[:, 1], 0.0)
    return (dist, idx, dist2) if with_second else (dist, idx)


def _unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name}: cosine distance is undefined for all-zero feature vectors")
    return x / norms


def near_copy_threshold(train_nn_dist: np.ndarray, quantile: float = DEFAULT_NEAR_COPY_QUANTILE) -> float:
    """The ``quantile`` of the within-training-set nearest-neighbour distances (see the module docstring)."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"near_copy_quantile must be in [0, 1], got {quantile}")
    return float(np.quantile(np.asarray(train_nn_dist, dtype=np.float64), quantile))


def _describe(prefix: str, values: np.ndarray) -> dict:
    return {f"{prefix}_{name}": float(np.quantile(values, q)) for name, q in _QUANTILES}


@dataclass
class Memorisation:
    """Result of :func:`memorisation`: one row per generated image and a summary."""

    per_image: pd.DataFrame
    summary: dict
    train_pixel_nn: np.ndarray = field(repr=False)


def memorisation(
    gen_images: np.ndarray,
    train_images: np.ndarray,
    gen_feats=None,
    train_feats=None,
    near_copy_quantile: float = DEFAULT_NEAR_COPY_QUANTILE,
    feature_metric: str = "cosine",
    batch_size: int = DEFAULT_BATCH,
    device="cpu",
) -> Memorisation:
    """Nearest training image of every generated image (pixel and, with features, feature space) and near-copy flags.

    ``per_image`` columns: ``generated_index``, ``pixel_nn_index``, ``pixel_nn_dist``,
    ``pixel_nn2_dist`` (to the second-nearest training image), ``near_copy``, and with features ``feature_nn_index``, ``feature_nn_dist``
    (indices into ``gen_images`` / ``train_images``). ``summary`` holds the counts,
    the threshold, quantiles of the distances (``pixel_nn_min`` ... ``pixel_nn_max``)
    and the within-training reference medians and ratios.
    """
    gen_images, train_images = (
        check_images(gen_images, "generated images"),
        check_images(train_images, "training images"),
    )
    if gen_images.shape[1:] != train_images.shape[1:]:
        raise ValueError(
            f"generated {gen_images.shape[1:]} and training {train_images.shape[1:]} images differ in shape"
        )
    if train_images.shape[0] < 2:
        raise ValueError(f"the near-copy threshold needs >= 2 training images, got {train_images.shape[0]}")
    if (gen_feats is None) != (train_feats is None):
        raise ValueError("give features for both the generated and the training images, or for neither")
    gen_px, train_px = pixel_vectors(gen_images), pixel_vectors(train_images)
    px_dist, px_idx, px_dist2 = nearest_neighbours(
        gen_px, train_px, "l2", batch_size=batch_size, device=device, with_second=True
    )
    train_px_nn, _ = nearest_neighbours(
        train_px, train_px, "l2", exclude_self=True, batch_size=batch_size, device=device
    )
    tau = near_copy_threshold(train_px_nn, near_copy_quantile)
    flagged = px_dist <= tau
    per_image = pd.DataFrame(
        {
            "generated_index": np.arange(gen_images.shape[0]),
            "pixel_nn_index": px_idx,
            "pixel_nn_dist": px_dist,
            "pixel_nn2_dist": px_dist2,
            "near_copy": flagged,
        }
    )
    train_px_median = float(np.median(train_px_nn))
    summary = {
        "n_generated": int(gen_images.shape[0]),
        "n_train": int(train_images.shape[0]),
        "near_copy_quantile": float(near_copy_quantile),
        "near_copy_threshold": tau,
        "near_copy_count": int(flagged.sum()),
        "near_copy_fraction": float(flagged.mean()),
        **_describe("pixel_nn", px_dist),
        "train_pixel_nn_median": train_px_median,
        "pixel_nn_ratio": float(np.median(px_dist) / train_px_median) if train_px_median > 0 else float("nan"),
    }
    if gen_feats is not None:
        gen_f, train_f = as_matrix(gen_feats, "generated features"), as_matrix(train_feats, "training features")
        if gen_f.shape[0] != gen_images.shape[0] or train_f.shape[0] != train_images.shape[0]:
            raise ValueError(
                f"features must match the images one to one: generated {gen_f.shape[0]} vs {gen_images.shape[0]}, "
                f"training {train_f.shape[0]} vs {train_images.shape[0]}"
            )
        f_dist, f_idx = nearest_neighbours(gen_f, train_f, feature_metric, batch_size=batch_size, device=device)
        train_f_nn, _ = nearest_neighbours(
            train_f, train_f, feature_metric, exclude_self=True, batch_size=batch_size, device=device
        )
        per_image["feature_nn_index"] = f_idx
        per_image["feature_nn_dist"] = f_dist
        train_f_median = float(np.median(train_f_nn))
        summary.update(
            {
                "feature_metric": feature_metric,
                **_describe("feature_nn", f_dist),
                "train_feature_nn_median": train_f_median,
                "feature_nn_ratio": float(np.median(f_dist) / train_f_median) if train_f_median > 0 else float("nan"),
                "same_nn_fraction": float(np.mean(f_idx == px_idx)),
            }
        )
    return Memorisation(per_image=per_image, summary=summary, train_pixel_nn=train_px_nn)


def plot_nearest_pairs(
    gen_images: np.ndarray,
    train_images: np.ndarray,
    per_image: pd.DataFrame,
    out,
    top_k: int = DEFAULT_TOP_K,
    title: str = "",
) -> None:
    """Figure of the ``top_k`` generated images closest (pixel RMS) to a training image, each above that image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganaug.io import save_figure

    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    top = per_image.sort_values(["pixel_nn_dist", "generated_index"], kind="stable").head(top_k)
    k = max(len(top), 1)
    fig, axes = plt.subplots(2, k, figsize=(1.3 * k + 0.9, 3.0), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for j, row in enumerate(top.itertuples(index=False)):
        for r, img in enumerate((gen_images[int(row.generated_index)], train_images[int(row.pixel_nn_index)])):
            gray = img.shape[2] == 1
            axes[r, j].imshow(img[:, :, 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=255)
        flag = " copy" if bool(row.near_copy) else ""
        axes[1, j].set_xlabel(f"rms {row.pixel_nn_dist:.3f}{flag}", fontsize=8, color="tab:red" if flag else "black")
    axes[0, 0].set_ylabel("generated", fontsize=9)
    axes[1, 0].set_ylabel("nearest\ntrain", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(out, fig)
