"""Generator quality against its real floor: the measurement behind issue 14's targets.

For each dataset × recipe × seed: train the recipe (``ganaug.gan.train_gan``, the
pipeline's own trainer) on the experiment's real training images, pick the weights
as the recipe says (``select: best_fid`` ranks every checkpoint by an FID on
``--curve-n`` images, as the ``fid_curve`` rule does), draw ``--n`` images of the
minority class(es) and score them against the class's real images:

* ``fid`` at matched N: generated vs the GAN's real training images of the class,
  N = ``n_eff`` = min(``--n``, training images, test images) per side, beside
  ``floor`` = real training vs real test images at the same N (averaged over
  ``--draws`` seeded subsamples), and ``ratio`` = fid / floor — the number the
  targets are written in;
* ``fid_inf`` / ``floor_inf``: both extrapolated to N = infinity (Chong & Forsyth 2020);
* ``kid`` ×1000 and its floor; improved ``precision`` / ``recall`` (k = 3, against the
  training images);
* ``memo``: median pixel distance of a generated image to its nearest training
  image over the same for the real test images (≥ 1: generated images sit no
  closer to the training set than new real images do), and the near-copy fraction;
  ``memo_heldout`` (chest only): the same against 250 unseen *training-split* images,
  since the chest test split is shifted (its own FID ratio to the training split is ~1.5);
* ``msssim`` diversity (the real training set's in the header), training wall
  time and ms per generator step.

Datasets (real, ``../shared/data``; see its README):

* ``chest``: Kaggle chest X-rays, 32 px gray, the default experiment's training set
  (first 150 NORMAL, first 600 PNEUMONIA training files by name); minority NORMAL,
  test = the 234 NORMAL test images;
* ``ham10000``: HAM10000 skin lesions, 32 px RGB, the two smallest classes ``df``
  (115) and ``vasc`` (142) plus 600 ``nv``; each small class split by lesion into
  ~70 % training / 30 % test; the 600 nv give conditional GANs a majority class;
* ``breastmnist``: BreastMNIST 28 px gray, ``malignant`` (147 training, 63 val+test
  as the test side) and 399 benign training images.

Recipes are ganaug GAN cells (see ``RECIPES``): per-class cells train on the
minority class only, conditional cells on every class of the dataset with equal
*total* generator steps (``--cond-steps-mult`` × the per-class steps).

    python benchmarks/gan_quality.py --datasets chest --recipes dcgan dcgan_da_ema --seeds 0 1
    python benchmarks/gan_quality.py --list

Prints one Markdown table (mean ± sd over seeds per dataset × recipe × class);
``--csv`` writes the per-seed rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "src"))

DA = ["color", "translation", "cutout"]
#: name -> GAN cell (over config.yaml's gan_defaults and model_defaults)
CDCGAN_BAL = {
    "model": "dcgan",
    "mode": "conditional",
    "diffaugment": DA,
    "ema": 0.999,
    "select": "best_fid",
    "balance_classes": True,
}
#: config.yaml's per-class transfer recipe, as gan_quality.py spells transfer (a share of the total steps)
FREEZED = {"model": "dcgan", "mode": "per_class", "diffaugment": DA, "ema": 0.999, "select": "best_fid",
           "transfer": {"pretrain_share": 0.5, "freeze_d": 1}}  # fmt: skip
RECIPES: dict[str, dict] = {
    "dcgan": {"model": "dcgan", "mode": "per_class"},
    "dcgan_da_ema": {"model": "dcgan", "mode": "per_class", "diffaugment": DA, "ema": 0.999, "select": "best_fid"},
    # FreezeD transfer: one unconditional GAN on every class's images for pretrain_share of the per-class
    # sweep's total steps, then per class a fine-tuned copy (D's first freeze_d stages frozen) for the rest
    "dcgan_da_ema_freezed": {
        "model": "dcgan",
        "mode": "per_class",
        "diffaugment": DA,
        "ema": 0.999,
        "select": "best_fid",
        "transfer": {"pretrain_share": 0.5, "freeze_d": 1},
    },
    "resgan_da_ema": {"model": "resgan", "mode": "per_class", "diffaugment": DA, "ema": 0.999, "select": "best_fid"},
    "cdcgan": {"model": "dcgan", "mode": "conditional"},
    "cdcgan_da_ema": {"model": "dcgan", "mode": "conditional", "diffaugment": DA, "ema": 0.999, "select": "best_fid"},
    "cdcgan_da_ema_bal": CDCGAN_BAL,
    # the same started from the per-class recipe's all-classes GAN (its first half of the total steps):
    # G's label embedding at ones, D's label channel at zero weights, nothing frozen (D's first stage reads the label)
    "cdcgan_da_ema_bal_tl": {**CDCGAN_BAL, "transfer": {"pretrain_share": 0.5, "freeze_d": 0}},
    # issue 28's levers on the per-class transfer recipe (config.yaml's dcgan cell): a zero-centred gradient
    # penalty on D (R1, lazy every 16 steps) and / or a minibatch-standard-deviation map in D
    "dcgan_freezed_r1": {**FREEZED, "r1_gamma": 1.0},
    "dcgan_freezed_mbstd": {**FREEZED, "minibatch_std": True},
    "dcgan_freezed_r1_mbstd": {**FREEZED, "r1_gamma": 1.0, "minibatch_std": True},
    # a wider G (64 base channels, D unchanged at ndf 32): against the blood smears' field of small crisp cells
    "dcgan_freezed_g64": {**FREEZED, "ngf": 64},
    "cdcgan_da_ema_bal_tl_g64": {**CDCGAN_BAL, "transfer": {"pretrain_share": 0.5, "freeze_d": 0}, "ngf": 64},
    # the diffusion model, conditional (classifier-free guidance 1.0, EMA 0.999: config.yaml's model_defaults)
    "cddpm": {"model": "ddpm", "mode": "conditional", "select": "best_fid"},
    "cresgan_da_ema_bal": {
        "model": "resgan",
        "mode": "conditional",
        "diffaugment": DA,
        "ema": 0.999,
        "select": "best_fid",
        "balance_classes": True,
    },
}
# the conditional ResGAN (conditional BatchNorm in every G block, a projection D) started from an all-classes
# ResGAN, as cdcgan_da_ema_bal_tl is from the DCGAN: against blood smears' white cells that all come out as one
# round blob whatever the label (the DCGAN's label only scales z and adds one input channel of D)
RECIPES["cresgan_da_ema_bal_tl"] = {**RECIPES["cresgan_da_ema_bal"], "transfer": {"pretrain_share": 0.5, "freeze_d": 0}}
# the same lever at a DCGAN's cost: class_norm gives every BatchNorm of the DCGAN's G a per-class gain and bias offset
# and makes D a projection discriminator (its body as the shared GAN's, no label channel)
RECIPES["cdcgan_cbn_da_ema_bal_tl"] = {**RECIPES["cdcgan_da_ema_bal_tl"], "class_norm": True}


def shared_cell(cell: dict) -> dict:
    """``cell`` as its shared all-classes GAN trains: unconditional, without the settings the pipeline's shared
    GAN leaves out (``ganaug.config.settings.FINE_TUNING_ONLY``: the conditioning levers and mode seeking), so the
    benchmark's transfer recipes pretrain as the workflow's ``pretrain_gan`` does; recipe_cost.py times it so."""
    from ganaug.config.settings import FINE_TUNING_ONLY

    return {**{k: v for k, v in cell.items() if k not in FINE_TUNING_ONLY}, "mode": "per_class"}


# mode seeking (MSGAN) against narrow sets (issue 28: recall 0.2-0.4 everywhere): G pays when two codes of one label
# give near-identical images; in the fine-tuning phase only, so the shared GAN is the plain recipe's
RECIPES["cdcgan_cbn_ms_da_ema_bal_tl"] = {**RECIPES["cdcgan_cbn_da_ema_bal_tl"], "mode_seeking": 1.0}
RECIPES["dcgan_freezed_ms"] = {**RECIPES["dcgan_da_ema_freezed"], "mode_seeking": 1.0}
# at 1.0 (MSGAN's weight) the chest images spread past the real ones (FID 1.6x, MS-SSIM 0.51 vs the real 0.655): a tenth
RECIPES["cdcgan_cbn_ms01_da_ema_bal_tl"] = {**RECIPES["cdcgan_cbn_da_ema_bal_tl"], "mode_seeking": 0.1}


# --------------------------------------------------------------------------- data


def _resize(path: Path, res: int, mode: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert(mode).resize((res, res), Image.Resampling.BILINEAR))


def load_chest() -> dict:
    root = DATA / "chest_xray"

    def files(split, cls, n=None):
        out = sorted((root / split / cls).glob("*.jpeg"))
        if not out:
            sys.exit(f"no images in {root / split / cls} (see ../shared/data/README.md)")
        return out[:n]

    def load(paths):
        return np.stack([_resize(p, 32, "L") for p in paths])[..., None]

    return {
        "classes": ["NORMAL", "PNEUMONIA"],
        "minority": ["NORMAL"],
        "train": {"NORMAL": load(files("train", "NORMAL", 150)), "PNEUMONIA": load(files("train", "PNEUMONIA", 600))},
        "test": {"NORMAL": load(files("test", "NORMAL"))},
        # unseen training-split images: a memorisation reference free of the test split's shift
        "heldout": {"NORMAL": load(sorted((root / "train" / "NORMAL").glob("*.jpeg"))[150:400])},
    }


def load_ham10000() -> dict:
    root = DATA / "ham10000"
    meta = pd.read_csv(root / "HAM10000_metadata.csv").sort_values("image_id")

    def load(ids):
        return np.stack([_resize(root / "images" / f"{i}.jpg", 32, "RGB") for i in ids])

    train, test = {}, {}
    rng = np.random.default_rng(0)
    for cls in ("df", "vasc"):
        part = meta[meta["dx"] == cls]
        # a numpy array: pandas 3's StringArray shuffles with a warning (the same order, checked 2026-12-07)
        lesions = np.asarray(part["lesion_id"].unique(), dtype=object)
        rng.shuffle(lesions)
        n_test_lesions = int(round(0.3 * len(lesions)))
        test_ids = part[part["lesion_id"].isin(lesions[:n_test_lesions])]["image_id"]
        train_ids = part[~part["lesion_id"].isin(lesions[:n_test_lesions])]["image_id"]
        train[cls], test[cls] = load(train_ids), load(test_ids)
    train["nv"] = load(meta[meta["dx"] == "nv"]["image_id"][:600])
    return {"classes": ["df", "vasc", "nv"], "minority": ["df", "vasc"], "train": train, "test": test}


def load_breastmnist() -> dict:
    with np.load(DATA / "breastmnist.npz", allow_pickle=False) as z:
        tr_x, tr_y = z["train_images"], z["train_labels"].reshape(-1)
        te_x = np.concatenate([z["val_images"], z["test_images"]])
        te_y = np.concatenate([z["val_labels"].reshape(-1), z["test_labels"].reshape(-1)])
    return {
        "classes": ["malignant", "benign"],
        "minority": ["malignant"],
        "train": {"malignant": tr_x[tr_y == 0][..., None], "benign": tr_x[tr_y == 1][..., None]},
        "test": {"malignant": te_x[te_y == 0][..., None]},
    }


#: PBC blood cells (../shared/data/pbc_blood, half of each class): the rare class and the cap of the others
BLOOD_RARE, BLOOD_RARE_TRAIN, BLOOD_TRAIN = "basophil", 40, 150


def load_blood() -> dict:
    """PBC blood-cell smears (Acevedo et al. 2020), 32 px RGB, all 8 classes: per class the files sorted by name,
    the first 70 % the training pool and the rest its test side; training keeps BLOOD_RARE_TRAIN basophils
    (the rare class) and BLOOD_TRAIN of every other class, as issue 28's measurement did."""
    root = DATA / "pbc_blood"
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if BLOOD_RARE not in classes:
        sys.exit(f"no {BLOOD_RARE}/ in {root} (see ../shared/data/README.md)")
    train, test = {}, {}
    for cls in classes:
        files = sorted((root / cls).glob("*.jpg"))
        cut = int(round(0.7 * len(files)))
        keep = BLOOD_RARE_TRAIN if cls == BLOOD_RARE else BLOOD_TRAIN
        train[cls] = np.stack([_resize(f, 32, "RGB") for f in files[:cut][:keep]])
        test[cls] = np.stack([_resize(f, 32, "RGB") for f in files[cut:]])
    # per-class recipes train the rare class; a conditional one is scored on every class (issue 28, target 1)
    return {"classes": classes, "minority": [BLOOD_RARE], "conditional_scored": classes, "train": train, "test": test}


DATASETS = {"chest": load_chest, "ham10000": load_ham10000, "breastmnist": load_breastmnist, "blood": load_blood}


# --------------------------------------------------------------------------- scoring


def settings(cell: dict, steps: int, sample_every: int) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    out = dict(cfg["gan_defaults"])
    out.update((cfg.get("model_defaults") or {}).get(cell["model"], {}))
    out.update(cell)
    out.update(steps=steps, sample_every=min(sample_every, steps))
    return out


def features(images: np.ndarray, cache: Path | None, key: str, device) -> np.ndarray:
    from ganaug.metrics import extract_features

    path = cache / f"{key}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path, allow_pickle=False)
    feats = extract_features(images, device=device, progress=False)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, feats)
    return feats


def score(gen, gen_f, train, train_f, test, test_f, n, draws, seed, heldout=None) -> dict:
    from ganaug.metrics import matched_scores, memorisation, msssim_diversity, precision_recall

    m = matched_scores(gen_f, train_f, test_f, n=n, draws=draws, seed=seed)
    out = {"fid": m["fid"], "fid_n": m["fid_n"], "floor": m["fid_floor"], "ratio": m["fid_ratio"],
           "fid_inf": m["fid_inf"], "floor_inf": m["fid_inf_floor"],
           "kid": 1000 * m["kid"], "kid_floor": 1000 * m["kid_floor"]}  # fmt: skip
    m = min(len(gen_f), len(train_f))
    pr = precision_recall(train_f[:m], gen_f[:m], k=3)
    gen_memo = memorisation(gen, train).summary
    test_memo = memorisation(test, train).summary
    out.update(
        precision=pr["precision"],
        recall=pr["recall"],
        memo=gen_memo["pixel_nn_median"] / test_memo["pixel_nn_median"],
        near_copy=gen_memo["near_copy_fraction"],
        msssim=msssim_diversity(gen, pairs=200, seed=0),
        memo_heldout=np.nan,
    )
    if heldout is not None:
        out["memo_heldout"] = gen_memo["pixel_nn_median"] / memorisation(heldout, train).summary["pixel_nn_median"]
    return out


def run(dataset: str, data: dict, recipe: str, seed: int, args, device, cache) -> list[dict]:
    from ganaug.gan import generate_images, load_generator, train_gan
    from ganaug.gan.generate import class_seed
    from ganaug.gan.selection import fid_curve, select_step
    from ganaug.metrics import feature_stats

    cell = dict(RECIPES[recipe])
    transfer = cell.pop("transfer", None)
    conditional = cell["mode"] == "conditional"
    classes = data["classes"]
    parts = [None] if conditional else data["minority"]
    shared = tempfile.TemporaryDirectory()  # transfer: the pretrained GAN all classes start from
    pre_summary = None
    rows = []
    for part in parts:
        if conditional:
            images = np.concatenate([data["train"][c] for c in classes])
            labels = np.concatenate([np.full(len(data["train"][c]), k) for k, c in enumerate(classes)])
            steps = int(round(args.steps * args.cond_steps_mult))
        else:
            images, labels, steps = data["train"][part], np.zeros(len(data["train"][part]), np.int64), args.steps
        cfg = dict(settings(cell, steps, args.sample_every), amp=args.amp)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            if transfer:
                # what the per-class sweep spends on all its classes / the conditional GAN's total
                total = int(round(args.steps * args.cond_steps_mult)) if conditional else len(classes) * args.steps
                pre = int(round(transfer["pretrain_share"] * total))
                steps = total - pre if conditional else (total - pre) // len(classes)  # per class: equal shares
                base = Path(shared.name) / "pretrained"
                if not (base / "checkpoint.pt").exists():  # one pretraining serves every class
                    everything = np.concatenate([data["train"][c] for c in classes])
                    pre_cfg = dict(shared_cell(cfg), steps=pre, sample_every=pre)
                    pre_summary = train_gan(everything, np.zeros(len(everything), np.int64), 1, pre_cfg, base,
                                            device, seed, "per_class", ["all"], progress=args.progress)  # fmt: skip
                cfg.update(steps=steps, sample_every=min(args.sample_every, steps),
                           init_from=str(base / "checkpoint.pt"), freeze_d=int(transfer["freeze_d"]))  # fmt: skip
            names = classes if conditional else [part]
            summary = train_gan(images, labels.astype(np.int64), len(names), cfg, tmp, device, seed, cell["mode"],
                                names, progress=args.progress)  # fmt: skip
            seconds = time.perf_counter() - t0
            snaps = Path(tmp) / "snapshots.pt"
            wanted = data.get("conditional_scored", data["minority"]) if conditional else [part]
            if cfg.get("select", "last") == "best_fid":
                stats = {}  # a conditional GAN is ranked on every class, as the fid_curve rule does
                for c in names:
                    mu, sigma = feature_stats(features(data["train"][c], cache, f"{dataset}_train_{c}", device))
                    stats[c] = {"mu": mu, "sigma": sigma}
                curve = fid_curve(snaps, stats, args.curve_n, 0, device, progress=False)
                step = select_step(curve, "best_fid")
            else:
                curve, step = None, None
            G, meta = load_generator(snaps, device, step)
            for c in wanted:
                label = classes.index(c) if conditional else None
                gen = generate_images(G, meta, args.n, label, class_seed(1234, label or 0), device)
                gen_f = features(gen, None, "", device)
                tr, te = data["train"][c], data["test"][c]
                tr_f = features(tr, cache, f"{dataset}_train_{c}", device)
                te_f = features(te, cache, f"{dataset}_test_{c}", device)
                row = {"dataset": dataset, "recipe": recipe, "class": c, "seed": seed, "steps": steps,
                       "status": summary["status"], "step": int(meta.get("step", steps))}  # fmt: skip
                heldout = data.get("heldout", {}).get(c)
                if args.grids:
                    save_grid(args.grids / f"{dataset}_{recipe}_{c}_seed{seed}.png", gen, tr)
                row.update(score(gen, gen_f, tr, tr_f, te, te_f, args.n, args.draws, 0, heldout))
                row.update(train_s=seconds, ms_per_step=summary["ms_per_step"])
                if transfer:  # train_s counts the pretraining in the first class's run only
                    row.update(pretrain_steps=pre, pretrain_s=pre_summary["seconds"])
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False), file=sys.stderr, flush=True)
    shared.cleanup()
    return rows


def save_grid(path: Path, gen: np.ndarray, real: np.ndarray, n: int = 64, per_row: int = 16) -> None:
    """The first ``n`` generated images above ``n`` real training ones (a blank row between), 4x nearest."""
    from ganaug.gan.grid import make_grid_image

    gen, real = gen[:n], real[:n]
    blank = np.zeros((per_row, *gen.shape[1:]), np.uint8)
    rows = [gen, np.zeros(((-len(gen)) % per_row, *gen.shape[1:]), np.uint8), blank, real]
    grid = make_grid_image(np.concatenate(rows), nrow=per_row)
    grid = grid.repeat(4, axis=0).repeat(4, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


COLUMNS = ["fid", "floor", "ratio", "fid_inf", "floor_inf", "kid", "kid_floor", "precision", "recall", "memo",
           "memo_heldout", "near_copy", "msssim", "train_s", "ms_per_step"]  # fmt: skip


def run_key(args) -> str:
    """The settings a run's numbers depend on beside dataset, recipe and seed (the resume file's key)."""
    return (f"steps={args.steps} cond_mult={args.cond_steps_mult:g} sample_every={args.sample_every} n={args.n} "
            f"curve_n={args.curve_n} draws={args.draws} amp={args.amp}")  # fmt: skip


def _rows_of(done: pd.DataFrame, dataset: str, recipe: str, seed: int, key: str) -> pd.DataFrame:
    if done.empty or "run_key" not in done:
        return done.iloc[0:0]
    hit = (done["dataset"] == dataset) & (done["recipe"] == recipe) & (done["seed"] == seed)
    return done[hit & (done["run_key"] == key)]


def table(df: pd.DataFrame) -> str:
    keys = ["dataset", "recipe", "class"]
    out = []
    for key, part in df.groupby(keys, sort=False):
        row = dict(zip(keys, key, strict=True))
        row["seeds"] = len(part)
        row["steps"] = int(part["steps"].iloc[0])
        row["n"] = int(part["fid_n"].iloc[0])
        for c in COLUMNS:
            vals = part[c].astype(float)
            fmt = (
                "{:.2f}"
                if c in ("ratio", "precision", "recall", "memo", "memo_heldout", "near_copy", "msssim")
                else "{:.1f}"
            )
            row[c] = fmt.format(vals.mean()) + (f" ± {fmt.format(vals.std())}" if len(vals) > 1 else "")
        out.append(row)
    return pd.DataFrame(out).to_markdown(index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["chest"], choices=list(DATASETS))
    ap.add_argument("--recipes", nargs="+", default=["dcgan", "dcgan_da_ema"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=3000, help="generator steps of a per-class GAN")
    ap.add_argument("--cond-steps-mult", type=float, default=None,
                    help="conditional GANs train this many times --steps (default: the number of classes, i.e. "
                         "the total of the per-class GANs a sweep trains, one per class)")  # fmt: skip
    ap.add_argument("--sample-every", type=int, default=500, help="checkpoint (FID curve point) every K steps")
    ap.add_argument("--n", type=int, default=250, help="images per side for FID/KID (capped by the real sets)")
    ap.add_argument("--curve-n", type=int, default=100, help="images per checkpoint for select: best_fid")
    ap.add_argument("--draws", type=int, default=5, help="subsample draws averaged for the matched-N scores")
    ap.add_argument("--amp", default="none", choices=["none", "bf16"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ganaug_gan_quality")
    ap.add_argument("--csv", type=Path, help="per-seed rows, written as each run ends; runs already in it are kept")
    ap.add_argument("--grids", type=Path, help="write each run's generated images above real ones, one PNG per class")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--list", action="store_true", help="print the recipes and exit")
    args = ap.parse_args()
    if args.list:
        print(yaml.safe_dump(RECIPES, sort_keys=False))
        return
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipe(s) {unknown}; known: {', '.join(RECIPES)}")

    from ganaug.runtime import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    # --csv is also the resume file: a run (dataset x recipe x seed at these settings) already in it is not
    # retrained, and each finished run is written at once, so a long sweep can stop and go on in another session
    done = pd.read_csv(args.csv) if args.csv and args.csv.exists() else pd.DataFrame()
    rows = []
    for dataset in args.datasets:
        data = DATASETS[dataset]()
        # the conditional step multiplier defaults to this dataset's class count: worked out per dataset, on a
        # copy, so a later dataset in the same call does not inherit the first one's
        ds_args = argparse.Namespace(**vars(args))
        if ds_args.cond_steps_mult is None:
            ds_args.cond_steps_mult = float(len(data["classes"]))
        key = run_key(ds_args)
        for recipe in args.recipes:
            for seed in args.seeds:
                before = _rows_of(done, dataset, recipe, seed, key)
                if len(before):
                    print(f"{dataset} {recipe} seed {seed}: done before ({args.csv})", file=sys.stderr)
                    rows += before.to_dict("records")
                    continue
                new_rows = [dict(r, run_key=key) for r in run(dataset, data, recipe, seed, ds_args, device, args.cache)]
                rows += new_rows
                if args.csv:
                    done = pd.concat([done, pd.DataFrame(new_rows)], ignore_index=True)
                    tmp = args.csv.with_name(args.csv.name + ".tmp")
                    done.to_csv(tmp, index=False)
                    tmp.replace(args.csv)
    df = pd.DataFrame(rows)
    mult = "the class count" if args.cond_steps_mult is None else f"{args.cond_steps_mult:g}"
    print(f"\n{args.steps} generator steps per per-class GAN, conditional x {mult}; "
          f"FID/KID at matched N (n column), {args.draws} draws; device {device}\n")  # fmt: skip
    print(table(df))


if __name__ == "__main__":
    main()
