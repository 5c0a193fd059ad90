"""Inception statistics of N real images of one class and split, cached for every FID (rule real_stats)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data import load_prepared
    from ganaug.metrics import extract_features, feature_stats, save_stats, select_subset
    from ganaug.runtime import resolve_device, set_threads

    images, labels, classes = load_prepared(sm.input[0], sm.wildcards.split)
    cls = sm.wildcards.cls
    if cls not in classes:
        raise ValueError(f"{sm.input[0]}: no class {cls!r} (classes: {', '.join(classes)})")
    x = images[labels == classes.index(cls)]
    if len(x) < 2:
        raise ValueError(f"{sm.input[0]}: split {sm.wildcards.split!r} has {len(x)} image(s) of class {cls!r}; FID needs >= 2")
    idx = select_subset(len(x), int(sm.params.n), int(sm.params.seed))
    set_threads(sm.threads)
    feats = extract_features(x[idx], device=resolve_device(sm.config.get("device", "auto")), batch_size=int(sm.config["metrics"]["fid"]["batch_size"]))
    mu, sigma = feature_stats(feats)
    save_stats(sm.output[0], mu, sigma, len(idx), split=sm.wildcards.split, cls=cls, n_available=len(x))
    print(f"real stats {sm.wildcards.split}/{cls}: N={len(idx)} of {len(x)}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
