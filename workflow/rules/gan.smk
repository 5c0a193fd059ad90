# GAN stage: train (one job per class, or one conditional job; resumable) → FID of every
# checkpoint → generate N images per class from the selected checkpoint. A per_class cell
# with `transfer:` first trains one GAN on all classes (pretrain_gan), which every class's
# job then fine-tunes (FreezeD). Every job runs once per generator replicate (rep{rep}: the
# replicates classifier.seeds use, see classifier.classifiers_per_generator): replicate r trains
# with seed gan.seed + 1000 r, its shared GAN included, and generates with generate.seed + 1000 r.


rule pretrain_gan:
    input:
        lambda wc: gan_real_train(wc.gan, wc.rep),
    output:
        checkpoint="results/gan/{gan}/rep{rep}/transfer/base/checkpoint.pt",
        snapshots="results/gan/{gan}/rep{rep}/transfer/base/snapshots.pt",
        losses="results/gan/{gan}/rep{rep}/transfer/base/losses.csv",
        status="results/gan/{gan}/rep{rep}/transfer/base/status.json",
        grid="results/gan/{gan}/rep{rep}/transfer/base/grid.png",
    params:
        # only what the shared GAN's training reads: not the fine-tuning's steps or freeze_d
        settings=lambda wc: replicate_settings(pretrain_settings(config, wc.gan), wc.rep),
    log:
        "results/logs/pretrain_gan/{gan}/rep{rep}.log",
    threads: config["threads"]["train_gan"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/pretrain_gan.py"


rule train_gan:
    input:
        unpack(train_gan_inputs),
    output:
        checkpoint="results/gan/{gan}/rep{rep}/{part}/checkpoint.pt",
        snapshots="results/gan/{gan}/rep{rep}/{part}/snapshots.pt",
        losses="results/gan/{gan}/rep{rep}/{part}/losses.csv",
        status="results/gan/{gan}/rep{rep}/{part}/status.json",
        grid="results/gan/{gan}/rep{rep}/{part}/grid.png",
    params:
        # everything training depends on (not `select`, which only changes generate)
        settings=lambda wc: replicate_settings(gan_train_settings(config, wc.gan), wc.rep),
        classes=CLASSES,
    log:
        "results/logs/train_gan/{gan}/rep{rep}/{part}.log",
    threads: config["threads"]["train_gan"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_gan.py"


rule fid_curve:
    input:
        snapshots="results/gan/{gan}/rep{rep}/{part}/snapshots.pt",
        stats=lambda wc: [real_stats("train", cls) for cls in part_classes(wc.gan, wc.part)],
    output:
        csv="results/gan/{gan}/rep{rep}/{part}/fid_curve.csv",
        figure=report(
            "results/gan/{gan}/rep{rep}/{part}/fid_curve.png",
            caption="../report/fid_curve.rst",
            category="GAN training",
            subcategory="{gan} replicate {rep}",
        ),
    params:
        curve=canonical(config["metrics"]["fid_curve"]),
        classes=lambda wc: part_classes(wc.gan, wc.part),
    log:
        "results/logs/fid_curve/{gan}/rep{rep}/{part}.log",
    threads: config["threads"]["features"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/fid_curve.py"


rule generate:
    input:
        snapshots=gan_snapshots,
        curves=gan_curves,
    output:
        samples="results/gan/{gan}/rep{rep}/samples.npz",
        selection="results/gan/{gan}/rep{rep}/selection.json",
        grid=report(
            "results/gan/{gan}/rep{rep}/samples_grid.png",
            caption="../report/samples_grid.rst",
            category="GAN samples",
            subcategory="{gan} replicate {rep}",
        ),
    params:
        mode=lambda wc: gan_mode(wc.gan),
        select=lambda wc: gan_settings(config, wc.gan).get("select", "last"),
        classes=CLASSES,
        n_per_class=config["generate"]["n_per_class"],
        seed=lambda wc: replicate_seed(config["generate"]["seed"], wc.rep),
    log:
        "results/logs/generate/{gan}/rep{rep}.log",
    threads: config["threads"]["generate"]
    conda:
        ENV
    script:
        "../scripts/generate.py"
