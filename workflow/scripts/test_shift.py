"""Test-set shift of one class: real FID train-vs-test over train-vs-train at one N (rule test_shift)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.io import write_json
    from ganaug.metrics import load_stats, measure_test_shift

    train = load_stats(sm.input.train_stats, require_features=True)
    test = load_stats(sm.input.test_stats, require_features=True)
    result = {"class": sm.wildcards.cls, **measure_test_shift(train["features"], test["features"], **sm.params.shift)}
    write_json(sm.output[0], result)
    print(result)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
