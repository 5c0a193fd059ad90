"""Draw the experiment's real training set from the prepared train split (rule subsample)."""

from ganaug.runtime import run_script


def main(sm):
    import pandas as pd

    from ganaug.data import class_counts, load_prepared, subsample
    from ganaug.io import save_dataframe, save_npz

    images, labels, classes = load_prepared(sm.input[0], "train")
    cfg = dict(sm.params.subsample)
    x, y, idx = subsample(
        images,
        labels,
        classes,
        max_per_class=cfg.get("max_per_class"),
        minority_fraction=cfg.get("minority_fraction"),
        minority_class=sm.params.minority_class,
        seed=int(cfg.get("seed", 0)),
    )
    before, after = class_counts(labels, classes), class_counts(y, classes)
    save_npz(sm.output.npz, {"images": x, "labels": y, "classes": classes, "indices": idx})
    save_dataframe(
        sm.output.counts,
        pd.DataFrame(
            {
                "class": classes,
                "prepared_train": [before[c] for c in classes],
                "real_train": [after[c] for c in classes],
            }
        ),
    )
    print("real training set: " + ", ".join(f"{c}={after[c]} (of {before[c]})" for c in classes))


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
