# Classifier stage: ResNet-18 trained on real images with a fraction f replaced by
# synthetic ones, selected on the real validation split, evaluated on the real test split.


rule train_classifier:
    input:
        real=REAL_TRAIN,
        data=prepared_npz(),
        synthetic=synthetic_input,
    output:
        metrics="results/classifier/{source}/f{frac}/seed{seed}/metrics.json",
        predictions="results/classifier/{source}/f{frac}/seed{seed}/predictions.csv",
        history="results/classifier/{source}/f{frac}/seed{seed}/history.csv",
        confusion="results/classifier/{source}/f{frac}/seed{seed}/confusion.png",
    params:
        settings=CLASSIFIER_SETTINGS,
        positive_class=EXP["positive_class"],
    log:
        "results/logs/train_classifier/{source}/f{frac}/seed{seed}.log",
    threads: config["threads"]["train_classifier"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_classifier.py"
