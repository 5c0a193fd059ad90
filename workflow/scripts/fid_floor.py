"""The real-vs-real floors of one class (rule fid_floor): cached train features vs test features.

FID at the matched N (min(metrics.fid.n, train, test images) per side, averaged over
seeded draws), FID-infinity and KID, by :func:`ganaug.metrics.matched.floor_scores`;
rule gan_metrics computes the GAN's scores at the same N (docs/metrics.md).
"""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.io import write_json
    from ganaug.metrics import load_stats
    from ganaug.metrics.matched import finite_or_none, floor_scores

    train = load_stats(sm.input.train_stats, require_features=True)
    test = load_stats(sm.input.test_stats, require_features=True)
    fid, kid = sm.params.fid, sm.params.kid
    result = {
        "class": sm.wildcards.cls,
        **floor_scores(
            train["features"],
            test["features"],
            int(fid["n"]),
            draws=int(fid["draws"]),
            seed=int(fid["seed"]),
            inf_points=int(fid["inf_points"]),
            inf_n_min=int(fid["inf_n_min"]),
            kid_subset_size=int(kid["subset_size"]),
            kid_n_subsets=int(kid["n_subsets"]),
            kid_seed=int(kid["seed"]),
        ),
    }
    result = finite_or_none(result)  # JSON has no NaN (FID-infinity of < 3 images)
    write_json(sm.output[0], result)
    print(result)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
