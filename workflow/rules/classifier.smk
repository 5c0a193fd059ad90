# Classifier stage: the classifier (classifier.arch: the small-input ResNet-18 or a torchvision network,
# from scratch or fine-tuned from ImageNet weights) trained on real images (n_real of the minority class, nested
# subsets) mixed with synthetic ones by a strategy, under a baseline (none / classic
# augmentation / class-balanced oversampling / class-weighted loss), selected on the real
# validation split (AUC), evaluated on the real test split (with a bootstrap CI of the AUC).
# Cell = path: {baseline}/{source}/{strategy}/f{frac}/n{nreal}/seed{seed}; real-only runs are
# {baseline}/real/none/f0/... (no mixing, shared by every GAN and strategy).

CLASSIFIER_RUN = "results/classifier/{baseline}/{source}/{strategy}/f{frac}/n{nreal}/seed{seed}"


localrules:
    classifier_weights,


# ImageNet weights (classifier.pretrained: imagenet) are fetched once, on the machine Snakemake runs
# on (a cluster's head node has internet where compute nodes may not), into torch.hub's cache
# ($TORCH_HOME/hub/checkpoints; shared with the jobs on a shared file system). The marker records
# the file; the jobs load the weights from the cache.
rule classifier_weights:
    output:
        "results/weights/{arch}_imagenet.json",
    log:
        "results/logs/classifier_weights/{arch}.log",
    conda:
        ENV
    script:
        "../scripts/classifier_weights.py"


# classifier.one_job_per: cell (default) = one job per cell trains all its seeds in one process
# (ganaug.classifier.seeds.run_seeds; finished seeds kept in results/cache/classifier by fingerprint, so
# adding a seed or re-running a failed or killed job trains only the seeds not yet done); seed = one job per seed.
ONE_JOB_PER = config["classifier"]["one_job_per"]
CLASSIFIER_SEEDS = sorted(int(s) for s in config["classifier"]["seeds"])
CLASSIFIER_CELL_DIR = "results/classifier/{baseline}/{source}/{strategy}/f{frac}/n{nreal}"
# a job's seeds: every configured seed (one job per cell), or its {seed} wildcard's
JOB_SEEDS = CLASSIFIER_SEEDS if ONE_JOB_PER == "cell" else None


def job_seeds(wildcards):
    return JOB_SEEDS if JOB_SEEDS is not None else [int(wildcards.seed)]


def job_outputs(name):
    """One output of a classifier job, as a list in job_seeds order: the seed's file, or every seed's (one job per cell)."""
    if JOB_SEEDS is None:
        return [f"{CLASSIFIER_RUN}/{name}"]
    return [f"{CLASSIFIER_CELL_DIR}/seed{s}/{name}" for s in JOB_SEEDS]


def job_real(wildcards):
    """Each seed's real training set, in job_seeds order (one file unless the subsample is drawn per replicate)."""
    return [real_train(generator_replicate(config, s)) for s in job_seeds(wildcards)]


def job_synthetic(wildcards):
    """Each seed's generator replicate's samples, in job_seeds order (none for real-only runs); a train_on: n_real
    cell below n_real all reads its low-data copy's (ganaug.config.low_data)."""
    if wildcards.source == "real":
        return []
    gan = generator_of(config, wildcards.source, wildcards.nreal)
    return [f"{gan_dir(gan, generator_replicate(config, s))}/samples.npz" for s in job_seeds(wildcards)]


def confusion_output():
    labels = {"baseline": "{baseline}", "source": "{source}", "strategy": "{strategy}", "fraction": "{frac}",
              "n_real": "{nreal}"}  # fmt: skip
    files = job_outputs("confusion.png")
    seeds = ["{seed}"] if JOB_SEEDS is None else [str(s) for s in JOB_SEEDS]
    caption, category = "../report/confusion.rst", "Classifier"
    return [
        flag_report(f, caption=caption, category=category, subcategory="confusion matrices", labels=dict(labels, seed=seed))
        for f, seed in zip(files, seeds)
    ]


flag_report = report  # report() at the start of a line reads as the report: directive


rule train_classifier:
    input:
        real=job_real,
        data=prepared_npz(),
        synthetic=job_synthetic,
        weights=classifier_weights,
    output:
        metrics=job_outputs("metrics.json"),
        predictions=job_outputs("predictions.csv"),
        predictions_val=job_outputs("predictions_val.csv"),
        history=job_outputs("history.csv"),
        confusion=confusion_output(),
    params:
        settings=CLASSIFIER_SETTINGS,
        bootstrap=CLASSIFIER_BOOTSTRAP,
        positive_class=EXP["positive_class"],
        n_real_class=n_real_class,
        seeds=job_seeds,
    log:
        (
            "results/logs/train_classifier/{baseline}/{source}/{strategy}/f{frac}/n{nreal}/seeds.log"
            if JOB_SEEDS is not None
            else "results/logs/train_classifier/{baseline}/{source}/{strategy}/f{frac}/n{nreal}/seed{seed}.log"
        ),
    threads: config["threads"]["train_classifier"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_classifier.py"
