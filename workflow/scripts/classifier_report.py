"""Classifier tables, paired differences and figures for results/report (rule classifier_report)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug import report
    from ganaug.io import save_dataframe

    level = float(sm.params.ci_level)
    minority = sm.params.minority_class
    runs = report.classifier_runs_table(list(sm.input))
    save_dataframe(sm.output.runs, runs)
    summary = report.summarise_runs(runs, minority_class=minority, level=level)
    report.write_summary(summary, sm.output.summary, sm.output.md, minority_class=minority, level=level)
    paired = report.paired_differences(runs, minority_class=minority, level=level)
    report.write_paired(paired, sm.output.paired, sm.output.paired_md, level=level)
    report.plot_metrics_vs_fraction(
        summary, sm.output.figure, minority_class=minority, positive_class=sm.params.positive_class, level=level
    )
    if "delta_figure" in sm.output.keys():
        report.plot_delta_vs_n_real(paired, sm.output.delta_figure, level=level)
    print(summary.to_string())
    print(paired.to_string())


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
