"""The real set a train_on: n_real generator replicate trains on (rule low_data_subset): the replicate's real
training set with the n_real minority images its classifier seed keeps (ganaug.classifier.mixing.low_data_set)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.classifier.cell import load_set
    from ganaug.classifier.mixing import low_data_set
    from ganaug.io import save_npz

    rep, n = int(sm.wildcards.rep), int(sm.wildcards.nreal)
    # classifiers_per_generator is 1 here (ganaug.config.low_data), so replicate r is classifier seed r
    out = low_data_set(load_set(sm.input[0]), sm.params.n_real_class, n, seed=rep)
    save_npz(sm.output[0], out)
    kept = int((out["labels"] == [str(c) for c in out["classes"]].index(sm.params.n_real_class)).sum())
    print(
        f"generator replicate {rep}: {kept} {sm.params.n_real_class} images (n_real {n}) and every other class, "
        f"{len(out['labels'])} images in all"
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
