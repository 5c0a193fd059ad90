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
