# Report stage: aggregated tables (CSV + Markdown) and figures in results/report/.

from ganaug.config import primary_cell  # noqa: E402 - the declared primary comparison, defaults resolved


rule gan_report:
    input:
        # the tables: every generator replicate; the figures: the first replicate's
        metrics=gan_metric_files(),
        domain=expand(DOMAIN_GAN, gan=GANS, rep=REPLICATES),
        selections=gan_replicate_files("selection.json"),
        losses=[f for gan in GANS for f in gan_losses(gan)],
        samples=[f"{gan_dir(gan, FIRST_REP)}/samples.npz" for gan in GANS],
        curves=[f"{gan_dir(gan, FIRST_REP)}/{part}/fid_curve.csv" for gan in GANS for part in gan_parts(gan)],
        real=real_train(FIRST_REP),
    output:
        csv=report("results/report/gan_scores.csv", caption="../report/gan_scores.rst", category="Tables"),
        md="results/report/gan_scores.md",
        losses=report(
            "results/report/figures/loss_curves.png", caption="../report/loss_curves.rst", category="GAN training"
        ),
        fid_curves=report(
            "results/report/figures/fid_curves.png", caption="../report/fid_curve.rst", category="GAN training"
        ),
        grids=report(
            expand("results/report/figures/samples_{gan}.png", gan=GANS),
            caption="../report/samples_grid.rst",
            category="GAN samples",
        ),
    params:
        gans=GANS,
        replicates=REPLICATES,
        classes=CLASSES,
        minority_class=EXP["minority_class"],
        quality=canonical(config["metrics"]["quality"]),
    log:
        "results/logs/gan_report.log",
    conda:
        ENV
    script:
        "../scripts/gan_report.py"


rule feature_projection:
    input:
        real=[real_stats("train", cls) for cls in CLASSES],
        generated=gan_metric_files("_stats.npz", [FIRST_REP]),  # the first generator replicate
    output:
        report(
            "results/report/figures/feature_projection.png",
            caption="../report/feature_projection.rst",
            category="GAN samples",
        ),
    params:
        gans=GANS,
        classes=CLASSES,
    log:
        "results/logs/feature_projection.log",
    conda:
        ENV
    script:
        "../scripts/feature_projection.py"


rule classifier_report:
    input:
        metrics=classifier_metrics(),
        predictions=classifier_metrics("predictions.csv"),
        predictions_val=classifier_metrics("predictions_val.csv"),
        gan_scores="results/report/gan_scores.csv",
        shift=[f"{REAL_METRICS}/shift_{cls}.json" for cls in CLASSES],
    output:
        runs=report(CLASSIFIER_REPORT["runs"], caption="../report/classifier_runs.rst", category="Tables"),
        summary=report(CLASSIFIER_REPORT["summary"], caption="../report/classifier_summary.rst", category="Tables"),
        md=CLASSIFIER_REPORT["md"],
        paired=report(CLASSIFIER_REPORT["paired"], caption="../report/paired_differences.rst", category="Tables"),
        paired_md=CLASSIFIER_REPORT["paired_md"],
        verdict=CLASSIFIER_REPORT["verdict"],
        verdict_html=report(CLASSIFIER_REPORT["verdict_html"], caption="../report/summary.rst", category="Summary"),
        figure=report(
            CLASSIFIER_REPORT["figure"], caption="../report/metrics_vs_fraction.rst", category="Classifier"
        ),
        primary_curves=report(
            CLASSIFIER_REPORT["primary_curves"], caption="../report/primary_roc_pr.rst", category="Summary"
        ),
        forest=report(CLASSIFIER_REPORT["forest"], caption="../report/forest_auc.rst", category="Summary"),
        # only when the sweep has more than one n_real value
        **{
            key: report(CLASSIFIER_REPORT[key], caption="../report/delta_vs_n_real.rst", category="Classifier")
            for key in ("delta_figure",)
            if key in CLASSIFIER_REPORT
        },
    params:
        positive_class=EXP["positive_class"],
        minority_class=EXP["minority_class"],
        ci_level=config["classifier"]["ci_level"],
        threshold=config["classifier"]["threshold"],
        classifiers_per_generator=classifiers_per_generator(config),
        statistics=canonical(config["statistics"]),
        primary=primary_cell(config),
        subsample_seed=EXP["subsample"]["seed"],
        subsample_per_replicate=SUBSAMPLE_PER_REPLICATE,
        low_data=LOW_DATA_GANS,
    log:
        "results/logs/classifier_report.log",
    conda:
        ENV
    script:
        "../scripts/classifier_report.py"


rule split_groups:
    input:
        prepared_manifest(),
    output:
        report("results/report/split_groups.csv", caption="../report/split_groups.rst", category="Data"),
    log:
        "results/logs/split_groups.log",
    conda:
        ENV
    script:
        "../scripts/split_groups.py"


rule skipped_images:
    input:
        prepared_manifest(),
    output:
        report("results/report/skipped_images.csv", caption="../report/skipped_images.rst", category="Data"),
    log:
        "results/logs/skipped_images.log",
    conda:
        ENV
    script:
        "../scripts/skipped_images.py"
