# Metrics stage: real Inception statistics (cached once per dataset × resolution × class × split),
# the real-vs-real FID floor (train vs test) once per class, then FID and MS-SSIM
# diversity per GAN × class.
#
# The feature batch size is read from the config inside the scripts, not passed as
# a param: it does not change any output, so editing it must not rerun anything.


rule real_stats:
    input:
        "results/data/{dataset}/{res}px_{ch}ch.npz",
    output:
        "results/metrics/real/{dataset}/{res}px_{ch}ch/{split}_{cls}.npz",
    params:
        n=config["metrics"]["fid"]["n"],
        seed=config["metrics"]["fid"]["seed"],
    log:
        "results/logs/real_stats/{dataset}_{res}px_{ch}ch/{split}_{cls}.log",
    threads: config["threads"]["features"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/real_stats.py"


rule fid_floor:
    input:
        train_stats="results/metrics/real/{dataset}/{res}px_{ch}ch/train_{cls}.npz",
        test_stats="results/metrics/real/{dataset}/{res}px_{ch}ch/test_{cls}.npz",
    output:
        "results/metrics/real/{dataset}/{res}px_{ch}ch/floor_{cls}.json",
    log:
        "results/logs/fid_floor/{dataset}_{res}px_{ch}ch/{cls}.log",
    conda:
        ENV
    script:
        "../scripts/fid_floor.py"


rule gan_metrics:
    input:
        samples="results/gan/{gan}/samples.npz",
        real=prepared_npz(),
        train_stats=real_stats("train", "{cls}"),
        floor=f"{REAL_METRICS}/floor_{{cls}}.json",
    output:
        metrics="results/metrics/gan/{gan}/{cls}.json",
        stats="results/metrics/gan/{gan}/{cls}_stats.npz",
    params:
        fid={"n": config["metrics"]["fid"]["n"], "seed": config["metrics"]["fid"]["seed"]},
        msssim=canonical(config["metrics"]["msssim"]),
        model=lambda wc: gan_settings(config, wc.gan)["model"],
        mode=lambda wc: gan_mode(wc.gan),
    log:
        "results/logs/gan_metrics/{gan}/{cls}.log",
    threads: config["threads"]["features"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/gan_metrics.py"
