"""The real-vs-real FID floor of one class: cached train statistics vs test statistics (rule fid_floor)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.io import write_json
    from ganaug.metrics import fid_from_stats_and_features, load_stats

    train, test = load_stats(sm.input.train_stats), load_stats(sm.input.test_stats, require_features=True)
    # the Frechet distance of pytorch-fid, computed exactly from the test features (no 2048x2048 sqrtm)
    floor = fid_from_stats_and_features(train["mu"], train["sigma"], test["features"])
    result = {
        "class": sm.wildcards.cls,
        "fid_floor": float(floor),
        "n_train": int(train["n"]),
        "n_test": int(test["n"]),
    }
    write_json(sm.output[0], result)
    print(result)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
