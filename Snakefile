# ganaug: does GAN augmentation help classifiers on imbalanced medical images?
#
#   snakemake all --cores 8 --resources gpu=1
#
# Targets go BEFORE --resources: Snakemake 9 reads every word after
# --resources as a resource, so `--resources gpu=1 all` fails.

from pathlib import Path

from snakemake.utils import min_version

min_version("9.20")


# config.yaml beside this Snakefile, whatever --directory is; --configfile files merge over it.
configfile: Path(workflow.basedir) / "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/reader_study.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
        in_all_targets(READER_STUDY),
