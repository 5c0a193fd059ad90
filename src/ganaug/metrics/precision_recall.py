"""Improved precision and recall (Kynkäänniemi et al. 2019, NeurIPS) on Inception features.

Each set approximates its manifold by the union of balls around its points, a
ball's radius being the distance to the point's ``k``-th nearest neighbour in its
own set (the point itself excluded; ``k = 3`` as in the paper and stylegan2-ada's
``metrics/precision_recall.py``):

* **precision** - fraction of generated points inside the real manifold
  (fidelity: are the samples realistic?);
* **recall** - fraction of real points inside the generated manifold
  (coverage: does the generator cover the real variety?).

A point lies inside a manifold when its distance to some point of the other set
is ``<=`` that point's radius, so identical sets score 1 / 1 and far-apart sets
0 / 0. A generator that reproduces only part of the real data keeps a high
precision and loses recall. Both need ``k + 1`` or more points per set and are
biased by the set sizes (more points, smaller radii): compare values computed
with the same N (``metrics.fid.n``).

Distances are exact Euclidean distances in float64 (``torch.cdist`` without the
matrix-product shortcut, which leaves ~1e-6 instead of 0 between identical
points), computed ``batch_size`` query rows at a time so that memory stays
``batch_size x N`` (:func:`~ganaug.metrics.utils.distance_blocks`, shared with
:mod:`~ganaug.metrics.nn1` and :mod:`~ganaug.metrics.memorisation`).
"""

from __future__ import annotations

import numpy as np

from ganaug.metrics.utils import DEFAULT_BATCH, as_matrix, distance_blocks

DEFAULT_K = 3


def knn_radii(feats, k: int = DEFAULT_K, batch_size: int = DEFAULT_BATCH, device="cpu") -> np.ndarray:
    """Distance of every row to its ``k``-th nearest *other* row (a duplicate counts as a neighbour at 0)."""
    feats = as_matrix(feats)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if feats.shape[0] < k + 1:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {feats.shape[0]}")
    out = np.empty(feats.shape[0], dtype=np.float64)
    for start, d in distance_blocks(feats, feats, batch_size, device):
        # each row's distance to itself is exactly 0 and is the 1st smallest; the k-th neighbour is the (k+1)-th
        out[start : start + d.shape[0]] = d.kthvalue(k + 1, dim=1).values.cpu().numpy()
    return out


def inside_manifold(query, ref, ref_radii: np.ndarray, batch_size: int = DEFAULT_BATCH, device="cpu") -> np.ndarray:
    """Boolean (N_query,): whether each query row is within ``ref_radii[j]`` of some ``ref[j]``."""
    import torch

    query, ref = as_matrix(query, "query"), as_matrix(ref, "ref")
    radii = np.asarray(ref_radii, dtype=np.float64)
    if radii.shape != (ref.shape[0],):
        raise ValueError(f"need one radius per reference point: {radii.shape} vs {ref.shape[0]} points")
    r = torch.from_numpy(radii).to(torch.device(device))
    out = np.empty(query.shape[0], dtype=bool)
    for start, d in distance_blocks(query, ref, batch_size, device):
        out[start : start + d.shape[0]] = (d <= r.unsqueeze(0)).any(dim=1).cpu().numpy()
    return out


def precision_recall(real_feats, gen_feats, k: int = DEFAULT_K, batch_size: int = DEFAULT_BATCH, device="cpu") -> dict:
    """Improved precision and recall of generated vs real features -> ``{precision, recall, k, n_real, n_generated}``."""
    real, gen = as_matrix(real_feats, "real features"), as_matrix(gen_feats, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature dimensions differ: real {real.shape[1]} vs generated {gen.shape[1]}")
    real_radii = knn_radii(real, k, batch_size, device)
    gen_radii = knn_radii(gen, k, batch_size, device)
    precision = inside_manifold(gen, real, real_radii, batch_size, device).mean()
    recall = inside_manifold(real, gen, gen_radii, batch_size, device).mean()
    return {
        "precision": float(precision),
        "recall": float(recall),
        "k": int(k),
        "n_real": int(real.shape[0]),
        "n_generated": int(gen.shape[0]),
    }
