# Report stage: aggregated tables (CSV + Markdown) and figures in results/report/.


rule gan_report:
    input:
        metrics=gan_metric_files(),
        losses=[f for gan in GANS for f in gan_losses(gan)],
        samples=expand("results/gan/{gan}/samples.npz", gan=GANS),
        real=REAL_TRAIN,
    output:
        csv=report("results/report/gan_scores.csv", caption="../report/gan_scores.rst", category="Tables"),
        md="results/report/gan_scores.md",
        losses=report(
            "results/report/figures/loss_curves.png", caption="../report/loss_curves.rst", category="GAN training"
        ),
        grids=report(
            expand("results/report/figures/samples_{gan}.png", gan=GANS),
            caption="../report/samples_grid.rst",
            category="GAN samples",
        ),
    params:
        gans=GANS,
        minority_class=EXP["minority_class"],
    log:
        "results/logs/gan_report.log",
    conda:
        ENV
    script:
        "../scripts/gan_report.py"


rule classifier_report:
    input:
        classifier_metrics(),
    output:
        runs=report("results/report/classifier_runs.csv", caption="../report/classifier_runs.rst", category="Tables"),
        summary=report(
            "results/report/classifier_summary.csv", caption="../report/classifier_summary.rst", category="Tables"
        ),
        md="results/report/classifier_summary.md",
        figure=report(
            "results/report/figures/metrics_vs_fraction.png",
            caption="../report/metrics_vs_fraction.rst",
            category="Classifiers",
        ),
    params:
        positive_class=EXP["positive_class"],
        minority_class=EXP["minority_class"],
    log:
        "results/logs/classifier_report.log",
    conda:
        ENV
    script:
        "../scripts/classifier_report.py"
