# Metrics stage: real Inception features and statistics (cached once per dataset × resolution ×
# class × split), the features of the experiment's real training set (once per class, for the
# memorisation check), the real-vs-real floors (train vs test: FID at the matched N, FID-infinity,
# KID) once per class, then per GAN × class FID, FID-infinity, KID, precision/recall, the 1-NN
# test, memorisation, full-reference scores and MS-SSIM diversity, all from one extraction of the generated images' features. Beside them, the domain
# classifier (trained once on the real training set) gives per GAN a domain FID, the class
# agreement and the classifier score (ganaug.metrics.domain).
#
# The feature batch size is read from the config inside the scripts, not passed as
# a param: it does not change any output, so editing it must not rerun anything.


# features of the real training set (memorisation): one per generator replicate with subsample.per_replicate
REAL_TRAIN_FEATURES = f"results/metrics/real_train/{'rep{rep}/' if SUBSAMPLE_PER_REPLICATE else ''}{{cls}}.npz"
# the settings of the matched-N FID, FID-infinity (and, below, KID) shared by a GAN's scores and its
# real floor: both at min(n, generated, train, test images) per side (ganaug.metrics.matched)
FID_MATCHED = {k: config["metrics"]["fid"][k] for k in ("n", "seed", "draws", "inf_points", "inf_n_min")}


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


rule real_train_features:
    input:
        lambda wc: real_train(getattr(wc, "rep", FIRST_REP)),
    output:
        REAL_TRAIN_FEATURES,
    log:
        f"results/logs/real_train_features/{'rep{rep}/' if SUBSAMPLE_PER_REPLICATE else ''}{{cls}}.log",
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
    params:
        fid=FID_MATCHED,
        kid=canonical(config["metrics"]["kid"]),
    log:
        "results/logs/fid_floor/{dataset}_{res}px_{ch}ch/{cls}.log",
    conda:
        ENV
    script:
        "../scripts/fid_floor.py"


rule test_shift:
    input:
        train_stats="results/metrics/real/{dataset}/{res}px_{ch}ch/train_{cls}.npz",
        test_stats="results/metrics/real/{dataset}/{res}px_{ch}ch/test_{cls}.npz",
    output:
        "results/metrics/real/{dataset}/{res}px_{ch}ch/shift_{cls}.json",
    params:
        shift={"draws": 5, "seed": config["metrics"]["fid"]["seed"]},
    log:
        "results/logs/test_shift/{dataset}_{res}px_{ch}ch/{cls}.log",
    conda:
        ENV
    script:
        "../scripts/test_shift.py"


rule gan_metrics:
    input:
        samples="results/gan/{gan}/rep{rep}/samples.npz",
        real=prepared_npz(),
        train_stats=real_stats("train", "{cls}"),
        test_stats=real_stats("test", "{cls}"),
        floor=f"{REAL_METRICS}/floor_{{cls}}.json",
        real_train=lambda wc: real_train(wc.rep),
        train_features=REAL_TRAIN_FEATURES,
    output:
        metrics="results/metrics/gan/{gan}/rep{rep}/{cls}.json",
        stats="results/metrics/gan/{gan}/rep{rep}/{cls}_stats.npz",
        nearest_csv="results/metrics/gan/{gan}/rep{rep}/{cls}_nearest.csv",
        nearest=report(
            "results/metrics/gan/{gan}/rep{rep}/{cls}_nearest.png",
            caption="../report/nearest_pairs.rst",
            category="Memorisation",
            subcategory="{gan} replicate {rep}",
        ),
    params:
        fid=FID_MATCHED,
        msssim=canonical(config["metrics"]["msssim"]),
        kid=canonical(config["metrics"]["kid"]),
        pr=canonical(config["metrics"]["pr"]),
        nn1=canonical(config["metrics"]["nn1"]),
        memorisation=canonical(config["metrics"]["memorisation"]),
        collapse_margin=config["metrics"]["collapse_margin"],
        model=lambda wc: gan_settings(config, wc.gan)["model"],
        mode=lambda wc: gan_mode(wc.gan),
    log:
        "results/logs/gan_metrics/{gan}/rep{rep}/{cls}.log",
    threads: config["threads"]["features"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/gan_metrics.py"


DOMAIN = "results/metrics/domain"
DOMAIN_GAN = f"{DOMAIN}/gan/{{gan}}/rep{{rep}}.json"  # per GAN replicate: domain FID, class agreement, classifier score


rule domain_classifier:
    input:
        real_train=real_train(FIRST_REP),  # the first replicate's real training set
        data=prepared_npz(),
        weights=classifier_weights,
    output:
        model=f"{DOMAIN}/classifier.pt",
        info=f"{DOMAIN}/classifier.json",
        reference=f"{DOMAIN}/real_reference.npz",
        history=f"{DOMAIN}/history.csv",
    params:
        settings=DOMAIN_SETTINGS,
        seed=config["metrics"]["domain"]["seed"],
        fid={"n": config["metrics"]["fid"]["n"], "seed": config["metrics"]["fid"]["seed"]},
        positive_class=EXP["positive_class"],
    log:
        "results/logs/domain_classifier.log",
    threads: config["threads"]["train_classifier"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/domain_classifier.py"


rule domain_metrics:
    input:
        samples="results/gan/{gan}/rep{rep}/samples.npz",
        model=f"{DOMAIN}/classifier.pt",
        info=f"{DOMAIN}/classifier.json",
        reference=f"{DOMAIN}/real_reference.npz",
    output:
        DOMAIN_GAN,
    params:
        fid={"n": config["metrics"]["fid"]["n"], "seed": config["metrics"]["fid"]["seed"]},
    log:
        "results/logs/domain_metrics/{gan}/rep{rep}.log",
    threads: config["threads"]["features"]
    resources:
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/domain_metrics.py"
