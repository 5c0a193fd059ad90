"""Classifier tables, paired differences, the verdict in words and figures for results/report (rule classifier_report)."""

from ganaug.runtime import run_script


def main(sm):
    import pandas as pd

    from ganaug import report
    from ganaug.io import read_json, save_dataframe, write_text

    p, st, out = sm.params, dict(sm.params.statistics), sm.output
    level, minority, positive = float(p.ci_level), p.minority_class, p.positive_class
    runs = report.classifier_runs_table(
        sm.input.metrics, sm.input.predictions, sm.input.predictions_val,
        positive_class=positive, minority_class=minority, threshold=p.threshold,
        classifiers_per_generator=p.classifiers_per_generator,
    )  # fmt: skip
    save_dataframe(out.runs, runs)
    min_seeds = int(st["min_seeds_for_ci"])
    scores = pd.read_csv(sm.input.gan_scores)
    quality = report.with_low_data(report.generator_quality(scores), p.low_data)  # (source, n_real) of low-data copies
    summary = report.summarise_runs(
        runs, minority, level, positive_class=positive, min_seeds=min_seeds, quality=quality
    )
    report.write_summary(summary, out.summary, out.md, minority, level, min_seeds=min_seeds, threshold=p.threshold)
    tests = {k: st[k] for k in ("alpha", "correction", "power", "equivalence_margin")}
    tests["detect"] = st["detect_difference"]
    # statistics.primary with its defaults filled in (ganaug.config.primary_cell)
    primary = dict(p.primary) if p.primary else None
    paired = report.paired_differences(
        runs, minority, level, **tests, quality=quality, reference=st["reference"], primary=primary
    )
    report.write_paired(paired, out.paired, out.paired_md, level, **tests)
    settings = report.VerdictSettings(
        minority,
        p.threshold,
        **tests,
        min_seeds=min_seeds,
        shift_ratio=st["shift_ratio"],
        reference=st["reference"],
        level=level,
        subsample_seed=p.subsample_seed,
        subsample_per_replicate=bool(p.subsample_per_replicate),
        pilot_seeds=tuple(primary.get("pilot_seeds", ())) if primary else (),
        low_data=tuple((src, n, gan) for src, by_n in p.low_data.items() for n, gan in by_n.items()),
    )
    shift = {r["class"]: r for r in map(read_json, sm.input.shift)}
    text = report.summary_text(summary, paired, settings, scores=scores, shift=shift)
    write_text(out.verdict, text)
    curves = report.plot_primary_curves(
        sm.input.metrics, sm.input.predictions, sm.input.predictions_val, out.primary_curves,
        primary=report.primary_of(paired, primary), reference=st["reference"], positive_class=positive,
        minority_class=minority,
        threshold=p.threshold, level=level, min_seeds=min_seeds,
    )  # fmt: skip
    forest = report.plot_forest(paired, out.forest, margin=float(st["equivalence_margin"]), level=level)
    write_text(out.verdict_html, report.summary_html(text, figures=[curves, forest]))
    report.plot_metrics_vs_fraction(summary, out.figure, minority_class=minority, positive_class=positive, level=level)
    if "delta_figure" in out.keys():
        report.plot_delta_vs_n_real(paired, out.delta_figure, level=level)
    print(text)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
