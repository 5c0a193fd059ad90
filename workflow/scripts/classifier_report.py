"""Classifier tables and the metric-vs-fraction figure for results/report (rule classifier_report)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug import report
    from ganaug.io import save_dataframe

    runs = report.classifier_runs_table(list(sm.input))
    save_dataframe(sm.output.runs, runs)
    summary = report.summarise_runs(runs, minority_class=sm.params.minority_class)
    report.write_summary(summary, sm.output.summary, sm.output.md, minority_class=sm.params.minority_class)
    report.plot_metrics_vs_fraction(
        summary, sm.output.figure, minority_class=sm.params.minority_class, positive_class=sm.params.positive_class
    )
    print(summary.to_string())


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
