# Shared helpers: config validation (before any job runs), paths, sweep cells.

import sys
from pathlib import Path

# The package lives in src/; make it importable even where it is not installed
# into the environment that runs Snakemake itself.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from ganaug.config import (  # noqa: E402
    ConfigError,
    add_low_data_gans,
    generator_of,
    apply_replaced_mappings,
    canonical,
    classifier_cells,
    classifier_run_dir,
    classifier_settings,
    classifiers_per_generator,
    config_warnings,
    gan_dir,
    generator_replicate,
    generator_replicates,
    fraction_label,
    gan_classes,
    gan_settings,
    gan_train_settings,
    known_class_names,
    pretrain_settings,
    replicate_seed,
    replicate_settings,
    resolve_dataset_paths,
    transfer_base,
    validate_config,
)
from ganaug.data.images import ImageOptions  # noqa: E402
from ganaug.names import CLASSIFIER_BASELINES, MIXING_STRATEGIES, NO_MIXING, TORCHVISION_ARCHS  # noqa: E402
from snakemake.logging import logger  # noqa: E402

# GAN cells and per-class caps given in a --configfile replace the defaults' instead of merging.
apply_replaced_mappings(config, workflow.overwrite_configfiles)
# a relative dataset path: the working directory first, then beside this Snakefile (the shipped sample)
resolve_dataset_paths(config, workflow.basedir)

try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None
for _warning in config_warnings(config):
    logger.warning(f"config warning: {_warning}")


ENV = "../../envs/ganaug.yaml"
EXP = config["experiment"]
DATASET = EXP["dataset"]
RES = int(EXP["resolution"])
CH = int(EXP["channels"])
CLASSES = known_class_names(config["datasets"][DATASET])  # cached by validate_config
if CLASSES is None:
    raise WorkflowError(
        f"invalid configuration: config key datasets.{DATASET}: class names cannot be known before the data "
        "is prepared; give them as class_names: [...] (label 0 first)"
    )
# train_on: n_real cells get a low-data copy {gan}_n{n} per n_real < all (ganaug.config.low_data); they are GAN
# cells like any other here (trained, scored, reported), but no classifier cell names them as its source
try:
    config["gans"] = add_low_data_gans(config)["gans"]
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None
GANS = list(config["gans"])
# {train_on: n_real cell: {n_real: its low-data copy}}: the classifier report's generator verdict of those cells
LOW_DATA_GANS = {}
for _gan, _cell in config["gans"].items():
    if "derived_from" in _cell:
        LOW_DATA_GANS.setdefault(_cell["derived_from"], {})[str(_cell["real_n"])] = _gan
# The data stage's image settings (window, resize, pad_value, multiframe); the prepare rule's params
# carry only those that differ from the defaults, so trees prepared before they existed are not rerun.
IMAGE_OPTIONS = ImageOptions.from_settings(EXP)
PREPARE_IMAGE = IMAGE_OPTIONS.changed()


wildcard_constraints:
    arch="|".join(TORCHVISION_ARCHS),
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    gan=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    source=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    part=r"[^/]+",
    cls=r"[^/]+",
    split=r"train|val|test",
    res=r"\d+",
    ch=r"[13]",
    frac=r"[0-9.]+",
    seed=r"\d+",
    rep=r"\d+",
    baseline="|".join(CLASSIFIER_BASELINES),
    strategy="|".join((NO_MIXING,) + MIXING_STRATEGIES),
    nreal=r"all|[1-9]\d*",


def prepared_npz(dataset=DATASET, res=RES, ch=CH):
    return f"results/data/{dataset}/{res}px_{ch}ch.npz"


def prepared_manifest(dataset=DATASET, res=RES, ch=CH):
    return f"results/data/{dataset}/{res}px_{ch}ch_manifest.csv"


REAL_TRAIN = "results/data/real_train.npz"
# experiment.subsample.per_replicate: each generator replicate draws its own real training set
SUBSAMPLE_PER_REPLICATE = bool(EXP["subsample"].get("per_replicate", False))


def real_train(rep):
    """The real training set generator replicate ``rep`` (and the classifier seeds that use it) trains on."""
    return f"results/data/rep{rep}/real_train.npz" if SUBSAMPLE_PER_REPLICATE else REAL_TRAIN


def gan_real_train(gan, rep):
    """The real images generator replicate ``rep`` of GAN cell ``gan`` trains on: the replicate's real training set,
    or for a low-data copy (``real_n``) that set with the n_real minority images classifier seed ``rep`` keeps."""
    n = gan_settings(config, gan).get("real_n")
    return real_train(rep) if n is None else f"results/data/rep{rep}/real_train_n{n}.npz"


def subsample_params(rep=None):
    """The subsample rule's params: the settings with the replicate's seed (per_replicate), without the switch,
    so that trees drawn before the switch existed keep their real training set."""
    settings = {k: v for k, v in EXP["subsample"].items() if k != "per_replicate"}
    if rep is not None:
        settings["seed"] = replicate_seed(settings.get("seed", 0), rep)
    return canonical(settings)


REAL_METRICS = f"results/metrics/real/{DATASET}/{RES}px_{CH}ch"


def real_stats(split, cls):
    return f"{REAL_METRICS}/{split}_{cls}.npz"


def dataset_spec(dataset):
    return config["datasets"][dataset]


def raw_npz(dataset):
    """The MedMNIST npz a medmnist dataset is read from: its local path or the download target."""
    spec = dataset_spec(dataset)
    return spec.get("path") or f"results/raw/{dataset}.npz"


def prepare_input(wildcards):
    spec = dataset_spec(wildcards.dataset)
    return [raw_npz(wildcards.dataset)] if spec["source"] == "medmnist" else []


def prepare_spec(wildcards):
    """The dataset entry as the prepare script sees it (medmnist: the npz to read)."""
    spec = dict(dataset_spec(wildcards.dataset))
    if spec["source"] == "medmnist" and "url" in spec:  # the download checked its md5
        spec["path"] = raw_npz(wildcards.dataset)
        spec.pop("url", None)
        spec.pop("md5", None)
    return canonical(spec)  # a local npz keeps its md5: prepare checks it


# Generator replicates: classifier seed s uses the generators of replicate generator_replicate(config, s)
# (s // classifier.classifiers_per_generator; 0 when one generator is shared); every GAN job runs once per
# replicate, in results/gan/{gan}/rep{r}/. The report's GAN figures show the first replicate.
REPLICATES = generator_replicates(config)
FIRST_REP = REPLICATES[0]


# arch, pretrained, input_size, freeze, lr_backbone_mult and the training settings; width only for resnet18_small
CLASSIFIER_SETTINGS = classifier_settings(config)
# The domain classifier (domain FID, classifier score): the experiment's classifier, its own epochs and seed.
DOMAIN_SETTINGS = canonical(dict(CLASSIFIER_SETTINGS, epochs=config["metrics"]["domain"]["epochs"]))
# The bootstrap CI of each run's test AUC is part of its metrics.json.
CLASSIFIER_BOOTSTRAP = canonical(dict(config["classifier"]["bootstrap"], level=config["classifier"]["ci_level"]))

try:
    CLASSIFIER_CELLS = classifier_cells(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None
# delta_vs_n_real.png is drawn only when the sweep has more than one n_real value
N_REAL_VALUES = sorted({c.n_real for c in CLASSIFIER_CELLS})


def n_real_class(wildcards):
    """The class whose real images n_real limits; None for n_real = all (so that it is no param there)."""
    return None if wildcards.nreal == "all" else EXP["minority_class"]


def gan_mode(gan):
    return gan_settings(config, gan)["mode"]


def gan_parts(gan):
    """Training jobs of one GAN cell: one per class it trains (per_class) or one (conditional)."""
    return gan_classes(config, gan, CLASSES) if gan_mode(gan) == "per_class" else ["conditional"]


def part_classes(gan, part):
    """Classes one training job of a GAN cell generates: its class, or all (conditional)."""
    return list(CLASSES) if part == "conditional" else [part]


def train_gan_inputs(wildcards):
    """The real training set, and for a transfer cell the shared GAN it starts from."""
    inputs = {"data": gan_real_train(wildcards.gan, wildcards.rep)}
    settings = gan_settings(config, wildcards.gan)
    if "transfer" in settings:  # its own pretrain_gan, or the one of the cell transfer.from names
        inputs["base"] = transfer_base(wildcards.gan, settings, wildcards.rep)
    return inputs


def gan_snapshots(wildcards):
    return [f"{gan_dir(wildcards.gan, wildcards.rep)}/{part}/snapshots.pt" for part in gan_parts(wildcards.gan)]


def gan_curves(wildcards):
    return [f"{gan_dir(wildcards.gan, wildcards.rep)}/{part}/fid_curve.csv" for part in gan_parts(wildcards.gan)]


def gan_losses(gan, rep=None):
    """The loss curves of one replicate of a GAN cell (the first by default)."""
    rep = FIRST_REP if rep is None else rep
    return [f"{gan_dir(gan, rep)}/{part}/losses.csv" for part in gan_parts(gan)]


def gan_replicate_files(name):
    """``results/gan/{gan}/rep{r}/{name}`` of every GAN cell and replicate, GAN by GAN."""
    return [f"{gan_dir(gan, rep)}/{name}" for gan in GANS for rep in REPLICATES]


def classifier_weights(wildcards=None):
    """The marker of the ImageNet weights in torch.hub's cache (rule classifier_weights), if the classifier uses them."""
    cls = config["classifier"]
    return [f"results/weights/{cls['arch']}_imagenet.json"] if cls["pretrained"] == "imagenet" else []


def classifier_metrics(name="metrics.json"):
    """One file of every classifier run: metrics.json, predictions.csv or predictions_val.csv."""
    return [f"{classifier_run_dir(cell)}/{name}" for cell in CLASSIFIER_CELLS]


CLASSIFIER_REPORT = {
    "runs": "results/report/classifier_runs.csv",
    "summary": "results/report/classifier_summary.csv",
    "md": "results/report/classifier_summary.md",
    "paired": "results/report/paired_differences.csv",
    "paired_md": "results/report/paired_differences.md",
    "verdict": "results/report/summary.md",
    "verdict_html": "results/report/summary.html",
    "figure": "results/report/figures/metrics_vs_fraction.png",
    "primary_curves": "results/report/figures/primary_roc_pr.png",
    "forest": "results/report/figures/forest_auc.png",
}
if len(N_REAL_VALUES) > 1:
    CLASSIFIER_REPORT["delta_figure"] = "results/report/figures/delta_vs_n_real.png"


def gan_metric_files(suffix=".json", replicates=None):
    """The per-class metrics of every GAN cell and generator replicate (default: all), for the classes it generates."""
    return [
        f"results/metrics/gan/{gan}/rep{rep}/{cls}{suffix}"
        for gan in GANS
        for rep in (REPLICATES if replicates is None else replicates)
        for cls in gan_classes(config, gan, CLASSES)
    ]


PREPARED_EXAMPLES = "results/report/figures/prepared_examples.png"


REPORT_TABLES = [
    "results/report/gan_scores.csv",
    "results/report/gan_scores.md",
    "results/report/classifier_runs.csv",
    "results/report/classifier_summary.csv",
    "results/report/classifier_summary.md",
    "results/report/skipped_images.csv",
    "results/report/split_groups.csv",
]


def all_targets():
    targets = REPORT_TABLES + [
        "results/report/figures/loss_curves.png",
        "results/report/figures/fid_curves.png",
        "results/report/figures/feature_projection.png",
        "results/report/figures/metrics_vs_fraction.png",
    ] + [f"results/report/figures/samples_{gan}.png" for gan in GANS]
    targets.append(PREPARED_EXAMPLES)
    return targets + [p for p in CLASSIFIER_REPORT.values() if p not in targets]


# ------------------------------------------------------------------ classifier jobs (rule train_classifier)
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
