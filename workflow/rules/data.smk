# Data stage: (download) → decode, resize, split → cached npz + manifest → experiment subsample.


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
    log:
        "results/logs/prepare_dataset/{dataset}_{res}px_{ch}ch.log",
    threads: 2
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"


rule subsample:
    input:
        prepared_npz(),
    output:
        npz=REAL_TRAIN,
        counts=report(
            "results/report/real_train_counts.csv",
            caption="../report/real_train_counts.rst",
            category="Data",
        ),
    params:
        subsample=canonical(EXP["subsample"]),
        minority_class=EXP["minority_class"],
    log:
        "results/logs/subsample.log",
    conda:
        ENV
    script:
        "../scripts/subsample.py"
