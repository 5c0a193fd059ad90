"""A few images before and after preparation, as a report figure (rule prepared_examples)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data.examples import plot_prepared_examples

    n = plot_prepared_examples(sm.input.npz, sm.input.manifest, sm.output[0], settings=dict(sm.params.image))
    print(f"{n} example image(s) before and after preparation")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
