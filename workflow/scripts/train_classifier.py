"""Train and evaluate the classifier seeds of one job: every seed of a cell (classifier.one_job_per: cell) or one
(one_job_per: seed), cell = baseline × source × strategy × fraction × n_real (rule train_classifier).

The work is :func:`ganaug.classifier.seeds.run_seeds`; this script maps the rule's wildcards,
inputs (each seed's real set and samples, in the order of params.seeds), params and config onto it.
"""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.classifier import Cell
    from ganaug.classifier.seeds import CACHE_DIR, SeedOutputs, SeedRun, run_seeds

    wc, out = sm.wildcards, sm.output
    seeds = list(sm.params.seeds)
    synthetic = list(sm.input.synthetic) or [None] * len(seeds)
    runs = [
        SeedRun(
            Cell(wc.baseline, wc.source, wc.strategy, wc.frac, wc.nreal, seed),
            synthetic[i],
            SeedOutputs(out.metrics[i], out.predictions[i], out.predictions_val[i], out.history[i], out.confusion[i]),
            real=sm.input.real[i],
        )
        for i, seed in enumerate(seeds)
    ]
    run_seeds(
        runs,
        real=sm.input.real[0],
        data=sm.input.data,
        settings=sm.params.settings,
        bootstrap=sm.params.bootstrap,
        positive_class=sm.params.positive_class,
        n_real_class=sm.params.n_real_class,
        device=sm.config.get("device", "auto"),
        threads=sm.threads,
        deterministic=bool(sm.config.get("deterministic", True)),
        cache=CACHE_DIR,
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
