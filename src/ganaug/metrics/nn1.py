"""1-nearest-neighbour two-sample test (Lopez-Paz & Oquab 2017; Xu et al. 2018).

Real and generated feature sets of equal size n (the larger one is subsampled,
seeded) are pooled with labels real / generated, and every point is classified
by the label of its nearest *other* point (leave-one-out, exact Euclidean
distance). Reported: the overall accuracy and the accuracies on the real and on
the generated points.

Reading the accuracy
--------------------
* **0.5 is ideal**: the two sets are indistinguishable to a 1-NN classifier, as
  two independent samples of one distribution are.
* **-> 1.0**: the sets are separable (poor or collapsed samples); a generated-side
  accuracy near 1 with a real-side accuracy near 0.5 is typical of mode collapse.
* **< 0.5 signals copying**: a generated image that (nearly) duplicates a real one
  is the nearest neighbour of that real image and vice versa, so both are
  misclassified; a generated set that is an exact copy of the real set scores
  about 0.

Ties
----
Distances are exact (identical points are at distance 0, see
:func:`~ganaug.metrics.utils.distance_blocks`). When several points
share the smallest distance to a point (duplicates, exact copies), the point
gets fractional credit: the fraction of those tied neighbours that carry its own
label. A real image with one exact copy in the generated set and no duplicate
among the reals therefore scores 0; one with a copy on each side scores 0.5.
This is deterministic and independent of the order of the points.
"""

from __future__ import annotations

import numpy as np

from ganaug.metrics.utils import DEFAULT_BATCH, as_matrix, distance_blocks


def nn1_accuracy(real_feats, gen_feats, seed: int = 0, batch_size: int = DEFAULT_BATCH, device="cpu") -> dict:
    """Leave-one-out 1-NN accuracy -> ``{nn1_accuracy, nn1_real_accuracy, nn1_fake_accuracy, nn1_n_per_side}``."""
    import torch

    real, gen = as_matrix(real_feats, "real features"), as_matrix(gen_feats, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature dimensions differ: real {real.shape[1]} vs generated {gen.shape[1]}")
    n = min(real.shape[0], gen.shape[0])
    if n < 2:
        raise ValueError(f"1-NN test needs >= 2 points per side, got {real.shape[0]} real and {gen.shape[0]} generated")
    rng = np.random.default_rng(seed)
    if real.shape[0] > n:
        real = real[np.sort(rng.choice(real.shape[0], n, replace=False))]
    if gen.shape[0] > n:
        gen = gen[np.sort(rng.choice(gen.shape[0], n, replace=False))]
    pooled = np.concatenate([real, gen])
    labels = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    lab = torch.from_numpy(labels)
    credit = np.empty(2 * n, dtype=np.float64)
    for start, d in distance_blocks(pooled, pooled, batch_size, device):
        d = d.cpu()
        rows = torch.arange(d.shape[0])
        d[rows, rows + start] = float("inf")  # leave one out
        dmin = d.min(dim=1, keepdim=True).values
        tied = d == dmin
        same = tied & (lab.unsqueeze(0) == lab[start : start + d.shape[0]].unsqueeze(1))
        credit[start : start + d.shape[0]] = (same.sum(1).double() / tied.sum(1).double()).numpy()
    return {
        "nn1_accuracy": float(credit.mean()),
        "nn1_real_accuracy": float(credit[:n].mean()),
        "nn1_fake_accuracy": float(credit[n:].mean()),
        "nn1_n_per_side": int(n),
    }
