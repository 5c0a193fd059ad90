# Reader study (docs/reader-study.md): a visual Turing test for clinicians. `snakemake reader_study`
# writes one self-contained page of real (validation split) and generated images and its key;
# `snakemake reader_study_report` scores the answer files put into its answers/ folder. Neither
# is part of `all` unless reader_study.in_all is true (then `all` makes the page, and scores the
# answers once there are some: ganaug.reader_study.settings.in_all_targets).

from ganaug.reader_study.settings import answer_files, in_all_targets, page_params, study_paths, study_settings

try:
    READER_STUDY = study_settings(
        config["reader_study"], GANS, CLASSES, EXP["minority_class"], lambda gan: gan_classes(config, gan, CLASSES)
    )
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None
READER_PATHS = study_paths(READER_STUDY)
READER_SCORES = READER_PATHS["scores"]


rule reader_study:
    input:
        READER_PATHS["page"],


rule reader_study_page:
    input:
        real=prepared_npz(),
        samples=f"results/gan/{{gan}}/rep{FIRST_REP}/samples.npz",  # the first generator replicate
    output:
        html="results/reader_study/{gan}/index.html",
        key="results/reader_study/{gan}/key.csv",
    params:
        study=lambda wc: canonical(page_params(dict(READER_STUDY, gan=wc.gan))),
        dataset=DATASET,
    log:
        "results/logs/reader_study_page/{gan}.log",
    conda:
        ENV
    script:
        "../scripts/reader_study_page.py"


rule reader_study_report:
    input:
        key=READER_PATHS["page"][1],
        # the CSVs in answers/ when the workflow is read: a file added, removed or edited reruns the scoring
        answers=answer_files(READER_PATHS["answers"]),
    output:
        csv=report(READER_SCORES["csv"], caption="../report/reader_study.rst", category="Reader study"),
        md=READER_SCORES["md"],
        figure=report(READER_SCORES["figure"], caption="../report/reader_study.rst", category="Reader study"),
        summary=READER_SCORES["summary"],
    params:
        answers_dir=READER_PATHS["answers"],
    log:
        f"results/logs/reader_study_report/{READER_STUDY['gan']}.log",
    conda:
        ENV
    script:
        "../scripts/reader_study_report.py"
