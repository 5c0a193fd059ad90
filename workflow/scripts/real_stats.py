"""Inception features and statistics of real images of one class, cached for every metric.

Two rules run this script:

* ``real_stats`` - N images (``params.n``, seeded subset) of one split of the
  prepared dataset: the reference of FID, KID, precision/recall and the 1-NN
  test, one cache per dataset × resolution × class × split;
* ``real_train_features`` - every image of one class of the experiment's real
  training set (``results/data/real_train.npz``, what the GANs were trained on):
  the reference of the memorisation check, one cache per class, shared by every GAN.

Both write :func:`ganaug.metrics.save_stats` npz files holding mu, sigma, the
features and the indices of the images they belong to (within the class).
"""

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.data import load_prepared
    from ganaug.io import load_npz
    from ganaug.metrics import extract_features, feature_stats, save_stats, select_subset
    from ganaug.runtime import resolve_device, set_threads

    split = getattr(sm.wildcards, "split", None)
    cls = sm.wildcards.cls
    if split is not None:
        images, labels, classes = load_prepared(sm.input[0], split)
        where = f"split {split!r}"
    else:
        data = load_npz(sm.input[0], required=("images", "labels", "classes"))
        images, labels, classes = data["images"], data["labels"], [str(c) for c in data["classes"]]
        where = "the real training set"
    if cls not in classes:
        raise ValueError(f"{sm.input[0]}: no class {cls!r} (classes: {', '.join(classes)})")
    x = images[labels == classes.index(cls)]
    if len(x) < 2:
        raise ValueError(f"{sm.input[0]}: {where} has {len(x)} image(s) of class {cls!r}; the metrics need >= 2")
    if split is not None:
        idx = select_subset(len(x), int(sm.params.n), int(sm.params.seed))
    else:
        idx = np.arange(len(x), dtype=np.int64)  # memorisation needs every training image
    set_threads(sm.threads)
    feats = extract_features(
        x[idx],
        device=resolve_device(sm.config.get("device", "auto")),
        batch_size=int(sm.config["metrics"]["fid"]["batch_size"]),
    )
    mu, sigma = feature_stats(feats)
    meta = {"split": split} if split is not None else {"source": "real_train"}
    save_stats(sm.output[0], mu, sigma, len(idx), features=feats, indices=idx, cls=cls, n_available=len(x), **meta)
    print(f"real features {split or 'real_train'}/{cls}: N={len(idx)} of {len(x)}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
