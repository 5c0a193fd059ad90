# GAN stage: train (one job per class, or one conditional job) → generate N images per class.


rule train_gan:
    input:
        REAL_TRAIN,
    output:
        checkpoint="results/gan/{gan}/{part}/checkpoint.pt",
        losses="results/gan/{gan}/{part}/losses.csv",
        grid="results/gan/{gan}/{part}/grid.png",
    params:
        settings=lambda wc: gan_settings(config, wc.gan),
        classes=CLASSES,
    log:
        "results/logs/train_gan/{gan}/{part}.log",
    threads: config["threads"]["train_gan"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_gan.py"


rule generate:
    input:
        gan_checkpoints,
    output:
        samples="results/gan/{gan}/samples.npz",
        grid=report(
            "results/gan/{gan}/samples_grid.png",
            caption="../report/samples_grid.rst",
            category="GAN samples",
            subcategory="{gan}",
        ),
    params:
        mode=lambda wc: gan_mode(wc.gan),
        classes=CLASSES,
        n_per_class=config["generate"]["n_per_class"],
        seed=config["generate"]["seed"],
    log:
        "results/logs/generate/{gan}.log",
    threads: config["threads"]["generate"]
    conda:
        ENV
    script:
        "../scripts/generate.py"
