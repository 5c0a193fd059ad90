# Data stage: (download) → decode, window, square, resize, split → cached npz + manifest (+ a figure of
# a few images before and after) → experiment subsample.


rule download_dataset:
    output:
        "results/raw/{dataset}.npz",
    params:
        url=lambda wc: dataset_spec(wc.dataset)["url"],
        md5=lambda wc: dataset_spec(wc.dataset).get("md5"),
    log:
        "results/logs/download_dataset/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/download_dataset.py"


rule prepare_dataset:
    input:
        prepare_input,
    output:
        npz="results/data/{dataset}/{res}px_{ch}ch.npz",
        manifest="results/data/{dataset}/{res}px_{ch}ch_manifest.csv",
    params:
        spec=prepare_spec,
        split=canonical(EXP["split"]),
        on_bad_image=EXP["on_bad_image"],
        # window / resize / pad_value / multiframe where they differ from the defaults
        **({"image": canonical(PREPARE_IMAGE)} if PREPARE_IMAGE else {}),
    log:
        "results/logs/prepare_dataset/{dataset}_{res}px_{ch}ch.log",
    threads: 2
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"


rule prepared_examples:
    input:
        npz=prepared_npz(),
        manifest=prepared_manifest(),
    output:
        report(PREPARED_EXAMPLES, caption="../report/prepared_examples.rst", category="Data"),
    params:
        image=canonical(IMAGE_OPTIONS.as_dict()),
    log:
        "results/logs/prepared_examples.log",
    conda:
        ENV
    script:
        "../scripts/prepared_examples.py"


# experiment.subsample.per_replicate: one real training set per generator replicate ({rep}), else one for all
rule subsample:
    input:
        prepared_npz(),
    output:
        npz=real_train("{rep}"),
        counts=report(
            "results/data/rep{rep}/real_train_counts.csv"
            if SUBSAMPLE_PER_REPLICATE
            else "results/report/real_train_counts.csv",
            caption="../report/real_train_counts.rst",
            category="Data",
        ),
    params:
        subsample=lambda wc: subsample_params(int(wc.rep) if SUBSAMPLE_PER_REPLICATE else None),
        minority_class=EXP["minority_class"],
    log:
        "results/logs/subsample/rep{rep}.log" if SUBSAMPLE_PER_REPLICATE else "results/logs/subsample.log",
    conda:
        ENV
    script:
        "../scripts/subsample.py"


# train_on: n_real (ganaug.config.low_data): the real set a low-data generator replicate trains on - the n_real
# minority images that classifier seed {rep} keeps (each seed is its own generator replicate), every other class whole
rule low_data_subset:
    input:
        lambda wc: real_train(wc.rep),
    output:
        "results/data/rep{rep}/real_train_n{nreal}.npz",
    params:
        n_real_class=EXP["minority_class"],
    log:
        "results/logs/low_data_subset/rep{rep}/n{nreal}.log",
    conda:
        ENV
    script:
        "../scripts/low_data_subset.py"
