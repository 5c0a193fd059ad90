"""Every generative metric of one GAN × class (rule gan_metrics).

The Inception features of the generated images (a seeded subset of ``metrics.fid.n``)
are extracted once and shared by FID, KID, precision/recall and the 1-NN test,
all against the cached features of the real train split (rule real_stats), and by
the memorisation check against the cached features of the GAN's own training
images of the class (rule real_train_features). The memorisation check and the
full-reference scores use the same generated subset. MS-SSIM diversity and the
mode-collapse flag come from all generated images of the class vs the real train split.
"""

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.data import load_prepared
    from ganaug.io import load_npz, read_json, save_dataframe, write_json
    from ganaug.metrics import (
        extract_features,
        feature_stats,
        fid_from_stats_and_features,
        fullref_scores,
        fullref_summary,
        kid,
        load_stats,
        memorisation,
        mode_collapse,
        msssim_diversity,
        nn1_accuracy,
        plot_nearest_pairs,
        precision_recall,
        save_stats,
        select_subset,
    )
    from ganaug.runtime import resolve_device, set_threads

    gan, cls = sm.wildcards.gan, sm.wildcards.cls
    fid_cfg, ms_cfg = dict(sm.params.fid), dict(sm.params.msssim)
    kid_cfg, pr_cfg, nn1_cfg, memo_cfg = dict(sm.params.kid), dict(sm.params.pr), dict(sm.params.nn1), dict(sm.params.memorisation)
    samples = load_npz(sm.input.samples, required=("images", "labels", "classes"))
    classes = [str(c) for c in samples["classes"]]
    gen_rows_all = np.flatnonzero(samples["labels"] == classes.index(cls))
    gen_all = samples["images"][gen_rows_all]
    idx = select_subset(len(gen_all), int(fid_cfg["n"]), int(fid_cfg["seed"]))
    gen, gen_rows = gen_all[idx], gen_rows_all[idx]
    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    feats = extract_features(gen, device=device, batch_size=int(sm.config["metrics"]["fid"]["batch_size"]))
    mu, sigma = feature_stats(feats)
    save_stats(sm.output.stats, mu, sigma, len(idx), features=feats, indices=idx, gan=gan, cls=cls)

    # ---- distribution metrics vs the real train split (FID reference)
    train, floor = load_stats(sm.input.train_stats, require_features=True), read_json(sm.input.floor)
    fid = fid_from_stats_and_features(train["mu"], train["sigma"], feats)  # exact; no 2048x2048 sqrtm
    kid_res = kid(train["features"], feats, subset_size=int(kid_cfg["subset_size"]), n_subsets=int(kid_cfg["n_subsets"]), seed=int(kid_cfg["seed"]))
    pr_res = precision_recall(train["features"], feats, k=int(pr_cfg["k"]), device=device)
    nn1_res = nn1_accuracy(train["features"], feats, seed=int(nn1_cfg["seed"]), device=device)

    # ---- memorisation vs the GAN's own training images of the class
    rt = load_npz(sm.input.real_train, required=("images", "labels", "classes"))
    rt_classes = [str(c) for c in rt["classes"]]
    train_rows = np.flatnonzero(rt["labels"] == rt_classes.index(cls))
    train_images = rt["images"][train_rows]
    rt_feats = load_stats(sm.input.train_features, require_features=True)
    if not np.array_equal(rt_feats["indices"], np.arange(len(train_rows))):
        raise ValueError(f"{sm.input.train_features}: features do not cover the {len(train_rows)} training images of {cls!r} in order")
    memo = memorisation(
        gen, train_images, feats, rt_feats["features"], near_copy_quantile=float(memo_cfg["near_copy_quantile"]), device=device
    )
    per_image = memo.per_image
    plot_nearest_pairs(
        gen, train_images, per_image, sm.output.nearest, top_k=int(memo_cfg["top_k"]),
        title=f"{gan} / {cls}: generated images nearest to a training image",
    )
    fr = fullref_scores(gen, train_images[per_image["pixel_nn_index"].to_numpy()])

    # per-image table: rows of samples.npz and real_train.npz, not positions within the class
    table = per_image.drop(columns=["generated_index"]).copy()
    table.insert(0, "sample_row", gen_rows)
    table["pixel_nn_train_row"] = train_rows[per_image["pixel_nn_index"].to_numpy()]
    table["feature_nn_train_row"] = train_rows[per_image["feature_nn_index"].to_numpy()]
    table = table.drop(columns=["pixel_nn_index", "feature_nn_index"])
    for name, values in fr["scores"].items():
        table[name] = values
    save_dataframe(sm.output.nearest_csv, table)

    # ---- diversity and mode collapse
    real_x, real_y, real_classes = load_prepared(sm.input.real, "train")
    real = real_x[real_y == real_classes.index(cls)]
    ms_gen = msssim_diversity(gen_all, pairs=int(ms_cfg["pairs"]), seed=int(ms_cfg["seed"]))
    ms_real = msssim_diversity(real, pairs=int(ms_cfg["pairs"]), seed=int(ms_cfg["seed"]))
    margin = float(sm.params.collapse_margin)

    # JSON has no NaN: a ratio over a zero median (duplicated training images) becomes null
    s = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in memo.summary.items()}
    result = {
        "gan": gan,
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
        "mode_collapse": mode_collapse(ms_gen, ms_real, margin),
        "collapse_margin": margin,
        "kid_mean": kid_res["kid_mean"],
        "kid_std": kid_res["kid_std"],
        "kid_subset_size": kid_res["subset_size"],
        "kid_n_subsets": kid_res["n_subsets"],
        "precision": pr_res["precision"],
        "recall": pr_res["recall"],
        "pr_k": pr_res["k"],
        "nn1_accuracy": nn1_res["nn1_accuracy"],
        "nn1_real_accuracy": nn1_res["nn1_real_accuracy"],
        "nn1_fake_accuracy": nn1_res["nn1_fake_accuracy"],
        "nn1_n_per_side": nn1_res["nn1_n_per_side"],
        "memo_n_generated": s["n_generated"],
        "memo_n_train": s["n_train"],
        "memo_near_copy_quantile": s["near_copy_quantile"],
        "memo_near_copy_threshold": s["near_copy_threshold"],
        "memo_near_copy_count": s["near_copy_count"],
        "memo_near_copy_fraction": s["near_copy_fraction"],
        "memo_pixel_nn_min": s["pixel_nn_min"],
        "memo_pixel_nn_median": s["pixel_nn_median"],
        "memo_train_pixel_nn_median": s["train_pixel_nn_median"],
        "memo_feature_nn_median": s["feature_nn_median"],
        "memo_train_feature_nn_median": s["train_feature_nn_median"],
        **fullref_summary(fr),
        "memorisation": s,  # the full summary (all quantiles); the report table keeps the flat keys only
    }
    write_json(sm.output.metrics, result)
    print({k: v for k, v in result.items() if k != "memorisation"})


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
