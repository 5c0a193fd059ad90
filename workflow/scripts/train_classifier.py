"""Train and evaluate one classifier run: baseline × source × strategy × fraction × n_real × seed (rule train_classifier).

The work is :func:`ganaug.classifier.cell.run_cell`; this script maps the rule's
wildcards, inputs, params and config onto it and writes the outputs.
"""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.classifier import Cell, run_cell

    wc = sm.wildcards
    result = run_cell(
        Cell(wc.baseline, wc.source, wc.strategy, wc.frac, wc.nreal, int(wc.seed)),
        real=sm.input.real,
        data=sm.input.data,
        synthetic=sm.input.synthetic[0] if sm.input.synthetic else None,
        settings=sm.params.settings,
        bootstrap=sm.params.bootstrap,
        positive_class=sm.params.positive_class,
        n_real_class=sm.params.n_real_class,
        device=sm.config.get("device", "auto"),
        threads=sm.threads,
        deterministic=bool(sm.config.get("deterministic", True)),
    )
    out = sm.output
    result.write(
        metrics=out.metrics,
        predictions=out.predictions,
        val_predictions=out.predictions_val,
        history=out.history,
        confusion=out.confusion,
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
