"""GAN tables and figures for results/report (rule gan_report)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    from ganaug import report

    scores = report.gan_scores_table(sm.input.metrics, minority_class=sm.params.minority_class)
    report.write_table(scores, sm.output.csv, sm.output.md, title="GAN scores")
    curves = {f"{Path(p).parent.parent.name}/{Path(p).parent.name}": p for p in sm.input.losses}
    report.plot_loss_curves(curves, sm.output.losses)
    for gan, samples, out in zip(sm.params.gans, sm.input.samples, sm.output.grids):
        report.plot_sample_grid(samples, out, title=f"{gan}: real vs generated, per class", real_npz=sm.input.real)
    print(scores.to_string())


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
