"""FID (with the real-vs-real floor) and MS-SSIM diversity of one GAN × class (rule gan_metrics)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data import load_prepared
    from ganaug.io import load_npz, read_json, write_json
    from ganaug.metrics import (
        extract_features,
        feature_stats,
        fid_from_stats,
        load_stats,
        msssim_diversity,
        save_stats,
        select_subset,
    )
    from ganaug.runtime import resolve_device, set_threads

    cls = sm.wildcards.cls
    fid_cfg, ms_cfg = dict(sm.params.fid), dict(sm.params.msssim)
    samples = load_npz(sm.input.samples, required=("images", "labels", "classes"))
    classes = [str(c) for c in samples["classes"]]
    gen = samples["images"][samples["labels"] == classes.index(cls)]
    idx = select_subset(len(gen), int(fid_cfg["n"]), int(fid_cfg["seed"]))
    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    feats = extract_features(gen[idx], device=device, batch_size=int(sm.config["metrics"]["fid"]["batch_size"]))
    mu, sigma = feature_stats(feats)
    save_stats(sm.output.stats, mu, sigma, len(idx), gan=sm.wildcards.gan, cls=cls)

    train, floor = load_stats(sm.input.train_stats), read_json(sm.input.floor)
    fid = fid_from_stats(mu, sigma, train["mu"], train["sigma"])

    real_x, real_y, real_classes = load_prepared(sm.input.real, "train")
    real = real_x[real_y == real_classes.index(cls)]
    ms_gen = msssim_diversity(gen, pairs=int(ms_cfg["pairs"]), seed=int(ms_cfg["seed"]))
    ms_real = msssim_diversity(real, pairs=int(ms_cfg["pairs"]), seed=int(ms_cfg["seed"]))
    result = {
        "gan": sm.wildcards.gan,
        "model": sm.params.model,
        "mode": sm.params.mode,
        "class": cls,
        "fid": float(fid),
        "fid_n_generated": int(len(idx)),
        "fid_n_real": int(train["n"]),
        "fid_floor": float(floor["fid_floor"]),
        "fid_floor_n_test": int(floor["n_test"]),
        "msssim_generated": float(ms_gen),
        "msssim_real": float(ms_real),
        "msssim_pairs": int(ms_cfg["pairs"]),
    }
    write_json(sm.output.metrics, result)
    print(result)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
