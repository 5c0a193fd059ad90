"""The diffusion generator (ddpm) on the CPU: its cost, and its quality at the reference GAN's wall time.

``speed``: training ms/step (batch 64, noise-prediction loss, Adam) and DDIM
sampling images/s (``sample_steps`` 50) of config.yaml's ``model_defaults.ddpm``
network at 32 px (channel_mult [1, 2, 2]) and 64 px ([1, 2, 2, 2]), after
warm-up steps, next to a DCGAN step (ngf = ndf = 32) timed in the same
process, so the ratio holds under whatever else loads the machine.

``quality``: the minority class of the default experiment as in
``benchmarks/gan_zoo.py`` (the first 150 NORMAL Kaggle training X-rays, 32 px,
grayscale; its data loading): first the reference GAN recipe, per-class DCGAN +
DiffAugment [color, translation, cutout] + EMA 0.999 for ``--ref-steps``
steps, timed; then ddpm per_class for as many steps as fit in the same
training wall time (from timed calibration steps; the two sample grids
train_gan draws with DDIM come on top and are in its "train wall"). Both are scored on NORMAL
against ``--n`` held-out real images (files 151..150+n): FID, the real floor
(FID of ``--n`` other real NORMAL images, files 401..400+n, the same N), KID,
improved precision / recall (k = 3) and MS-SSIM diversity.

``sweep`` / ``compare``: the same question inside the pipeline, classifiers included.
``sweep --tree T`` takes a finished default-scale tree (``dag_time.py --default
--keep``), reads the per-class GAN cell's training wall for the minority class
from the tree's job logs (its share of ``pretrain_gan`` + its ``train_gan``), times
ddpm training steps, adds a ``ddpm`` per_class cell with as many steps as fit in that
wall to the tree's config and runs ``snakemake all`` there: only the ddpm jobs,
their classifier cells and the report run. ``compare --tree T`` prints one table of
generators (FID with N and its matched floor, FID-infinity, KID with its floor,
precision / recall, MS-SSIM, memorisation, training wall) and one of classifier cells
(classic / no augmentation and every generator at the given fractions, mean ± sd
over the seeds, the paired difference to the report's reference with its Holm-adjusted
p) from the tree's ``results/report``.

    python benchmarks/diffusion.py speed
    python benchmarks/diffusion.py quality --ref-steps 3000 --n 250
    python benchmarks/dag_time.py --default --no-tiny --keep /tmp/dag
    python benchmarks/diffusion.py sweep --tree /tmp/dag/default      # then prints compare

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402, I001
from benchlib import machine_lines  # noqa: E402, I001
from gan_zoo import load, settings  # noqa: E402

DA_EMA = {"model": "dcgan", "mode": "per_class", "diffaugment": ["color", "translation", "cutout"], "ema": 0.999}
DDPM = {"model": "ddpm", "mode": "per_class"}
MULT = {32: [1, 2, 2], 64: [1, 2, 2, 2]}


def _time(fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def ddpm_step(cfg: dict, res: int, mult: list[int]):
    """``(step, ema, x)``: one training step of train_gan's ddpm (loss, backward, Adam, EMA) on a batch of 64."""
    from ganaug.gan import build_gan
    from ganaug.gan.state import EMA

    arch = {"channel_mult": mult, "res_blocks": cfg["res_blocks"], "timesteps": cfg["timesteps"],
            "sample_steps": cfg["sample_steps"], "guidance": cfg["guidance"]}  # fmt: skip
    model, _ = build_gan("ddpm", "per_class", 1, res, 2, 0, int(cfg["ngf"]), 0, **arch)
    model = model.to(memory_format=torch.channels_last)  # as train_gan on the CPU
    opt = torch.optim.Adam(model.parameters(), lr=2.0e-4, betas=(0.9, 0.999), foreach=True)
    ema, gen = EMA(model, 0.999), torch.Generator().manual_seed(0)
    x = (torch.rand(int(cfg["batch_size"]), 1, res, res) * 2 - 1).contiguous(memory_format=torch.channels_last)

    def step():
        opt.zero_grad(set_to_none=True)
        model.loss(x, None, gen, 0.1).backward()
        opt.step()
        ema.update(model, 100)

    return step, ema, x


def dcgan_step(res: int, x: torch.Tensor):
    """One DCGAN step (ngf = ndf = 32, nz = 100, BCE: D on real and fake, then G) on the batch ``x``."""
    from ganaug.gan import build_gan

    G, D = build_gan("dcgan", "per_class", 1, res, 2, 100, 32, 32)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    bce, n = torch.nn.BCEWithLogitsLoss(), len(x)

    def step():
        fake = G(torch.randn(n, 100))
        opt_d.zero_grad()
        (bce(D(x), torch.ones(n)) + bce(D(fake.detach()), torch.zeros(n))).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(fake), torch.ones(n)).backward()
        opt_g.step()

    return step


def speed(args) -> None:
    cfg = settings(DDPM, 1)
    rows = []
    for res in (32, 64):
        step, ema, x = ddpm_step(cfg, res, MULT[res])
        train_s = _time(step, args.warmup, args.steps)
        sampler, model = ema.module.eval(), ema.module
        z = torch.randn(args.sample_n, res * res, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            sample_s = _time(lambda: sampler(z), 1 if res == 32 else 0, 1)  # noqa: B023

        gan_s = _time(dcgan_step(res, x), args.warmup, args.steps)
        rows.append({
            "px": res, "ddpm ngf / channel_mult": f"{cfg['ngf']} / {MULT[res]}",
            "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
            "ddpm train ms/step": 1000 * train_s, "DCGAN ms/step (same run)": 1000 * gan_s,
            "ratio": train_s / gan_s, f"DDIM {cfg['sample_steps']} steps images/s": args.sample_n / sample_s,
        })  # fmt: skip
        print(pd.DataFrame(rows[-1:]).to_string(index=False), file=sys.stderr)
    print("\n".join(machine_lines(torch.get_num_threads())))
    print(f"- batch 64, {args.warmup} warm-up + {args.steps} timed steps; sampling {args.sample_n} images at once\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


def quality(args) -> None:
    from ganaug.gan import generate_images, load_generator, train_gan
    from ganaug.gan.generate import class_seed
    from ganaug.metrics import extract_features, feature_stats, kid, msssim_diversity, precision_recall
    from ganaug.metrics.fid import fid_from_stats_and_features

    normal, labels = load("NORMAL", 0, 150), np.zeros(150, np.int64)
    held_out, other = load("NORMAL", 150, args.n), load("NORMAL", 400, args.n)
    real_feats = extract_features(held_out)
    mu, sigma = feature_stats(real_feats)
    floor = fid_from_stats_and_features(mu, sigma, extract_features(other))
    real_msssim = msssim_diversity(held_out, pairs=200, seed=0)
    print(f"real NORMAL held-out N={args.n}: floor {floor:.1f}, MS-SSIM {real_msssim:.3f}", file=sys.stderr)
    header = machine_lines(torch.get_num_threads())

    def run(name, cfg, tmp):
        t0 = time.perf_counter()
        summary = train_gan(normal, labels, 2, cfg, tmp, "cpu", 0, "per_class", ["NORMAL", "PNEUMONIA"])
        wall = time.perf_counter() - t0
        G, meta = load_generator(Path(tmp) / "checkpoint.pt", "cpu")
        t0 = time.perf_counter()
        fake = generate_images(G, meta, args.n, None, class_seed(1234, 0), "cpu", batch_size=50)
        sample_s = time.perf_counter() - t0
        feats = extract_features(fake)
        k = kid(real_feats, feats, subset_size=min(100, args.n), n_subsets=50, seed=0)
        pr = precision_recall(real_feats, feats, k=3)
        return {
            "generator": name, "steps": int(cfg["steps"]), "train wall (s)": wall,
            "ms/step": summary["ms_per_step"], f"sample {args.n} (s)": sample_s,
            "FID": fid_from_stats_and_features(mu, sigma, feats), "FID / floor": 0.0,
            "KID x1000": 1000 * k["kid_mean"], "precision": pr["precision"], "recall": pr["recall"],
            "MS-SSIM": msssim_diversity(fake, pairs=200, seed=0),
        }  # fmt: skip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = settings(DA_EMA, args.ref_steps)
        rows.append(run("dcgan + DiffAugment + EMA", ref, Path(tmp) / "ref"))
        budget = rows[0]["train wall (s)"] if args.wall is None else args.wall
        print(rows[-1], file=sys.stderr)
        per_step = _time(ddpm_step(settings(DDPM, 1), 32, MULT[32])[0], 2, args.calib_steps)
        steps = max(1, int(budget / per_step))  # training steps only: its sample grids come on top
        print(f"ddpm: {per_step:.2f} s/step -> {steps} steps in {budget:.0f} s", file=sys.stderr)
        rows.append(run("ddpm (same wall)", settings(DDPM, steps), Path(tmp) / "ddpm"))
    for row in rows:
        row["FID / floor"] = row["FID"] / floor
    print("\n".join(header))
    print(f"- NORMAL, 32 px, 150 training images; FID / KID / precision-recall N = {args.n} held-out, "
          f"real floor {floor:.1f} (N = {args.n} other real images), real MS-SSIM {real_msssim:.3f}\n")  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


def _log_seconds(log: Path) -> float:
    """Training seconds a train_gan / pretrain_gan job reported (its last ``done: {...}`` line)."""
    if not log.is_file():
        sys.exit(f"{log}: missing; is the tree finished (dag_time.py --default --keep)?")
    found = re.findall(r"^done: .*'seconds': ([0-9.eE+-]+)", log.read_text(), flags=re.M)
    if not found:
        sys.exit(f"{log}: no 'done: {{...}}' line with the training seconds")
    return float(found[-1])


def gan_wall(tree: Path, gan: str, part: str, n_classes: int) -> tuple[float, str]:
    """Training wall of one class of a per-class cell: its train_gan job plus, for a transfer
    cell, its 1 / n_classes share of the shared pretrain_gan job -> (seconds, how)."""
    logs = tree / "results" / "logs"
    own = _log_seconds(logs / "train_gan" / gan / f"{part}.log")
    pre_log = logs / "pretrain_gan" / f"{gan}.log"
    if not pre_log.is_file():
        return own, f"train_gan {own:.0f} s"
    pre = _log_seconds(pre_log)
    return own + pre / n_classes, f"train_gan {own:.0f} s + pretrain_gan {pre:.0f} s / {n_classes}"


def tree_configs(tree: Path) -> list[Path]:
    """The config files dag_time.py ran the tree with (``default0.yaml``, ...), without this script's own."""
    files = sorted(p for p in tree.glob("*.yaml") if not p.name.startswith("ddpm_cell"))
    if not files:
        sys.exit(f"{tree}: no config files (*.yaml) of a dag_time.py run")
    return files


def sweep(args) -> None:
    tree = args.tree.resolve()
    gans = yaml.safe_load((benchlib.REPO / "config.yaml").read_text())["gans"]
    for f in tree_configs(tree):  # an override's gans replaces config.yaml's whole
        gans = (yaml.safe_load(f.read_text()) or {}).get("gans", gans)
    n_classes = pd.read_csv(tree / "results" / "report" / "gan_scores.csv")["class"].nunique()
    wall, how = gan_wall(tree, args.gan, args.cls, n_classes)
    if args.ddpm_ms is None:
        step = ddpm_step(settings(DDPM, 1), 32, MULT[32])[0]
        per_step = _time(step, 2, args.calib_steps)
        how_step = f"timed now over {args.calib_steps} steps (load {benchlib.load_avg()})"
    else:
        per_step, how_step = args.ddpm_ms / 1000, "given"
    steps = max(1, int(wall / per_step))
    print(f"{args.gan}/{args.cls}: {wall:.0f} s of training ({how}); ddpm {1000 * per_step:.0f} ms/step "
          f"({how_step}) -> {steps} steps per class", file=sys.stderr)  # fmt: skip
    gans = dict(gans)
    gans[args.name] = {"model": "ddpm", "mode": "per_class", "steps": steps, "sample_every": steps}
    extra = benchlib.write_yaml(tree / "ddpm_cell.yaml", {"gans": gans})
    proc, seconds = benchlib.snakemake(tree, [*tree_configs(tree), extra], "--cores", str(args.cores))
    print(f"snakemake all with the {args.name} cell: {benchlib.fmt_s(seconds)}", file=sys.stderr)
    compare(args)


def _pm(mean: float, sd: float) -> str:
    return f"{mean:.3f}" if pd.isna(sd) else f"{mean:.3f} ± {sd:.3f}"


def compare(args) -> None:
    report = args.tree / "results" / "report"
    scores = pd.read_csv(report / "gan_scores.csv")
    summary = pd.read_csv(report / "classifier_summary.csv")
    paired = pd.read_csv(report / "paired_differences.csv")
    rows = []
    for _, r in scores[scores["class"] == args.cls].iterrows():
        if r["mode"] == "per_class":
            wall = f"{gan_wall(args.tree, r['gan'], args.cls, scores['class'].nunique())[0]:.0f}"
        else:  # a conditional cell that starts from another cell's shared GAN says so in its log
            log = args.tree / "results" / "logs" / "train_gan" / r["gan"] / "conditional.log"
            start = re.search(r"^starting from (\S+?);", log.read_text(), flags=re.M)
            wall = f"{_log_seconds(log):.0f} (all classes" + (f", after {start.group(1)})" if start else ")")
        rows.append({
            "generator": f"{r['gan']} ({r['model']}, {r['mode']})",
            "train wall (s)": wall,
            f"FID (N = {int(r['fid_n'])})": f"{r['fid']:.1f}", "floor": f"{r['fid_floor']:.1f}",
            "FID / floor": f"{r['fid_ratio']:.2f}",
            "FID∞ / floor∞": f"{r['fid_inf']:.1f} / {r['fid_inf_floor']:.1f}",
            "KID ×1000 (floor)": f"{1000 * r['kid_mean']:.1f} ({1000 * r['kid_floor']:.1f})",
            "precision / recall": f"{r['precision']:.2f} / {r['recall']:.2f}",
            "MS-SSIM (real)": f"{r['msssim_generated']:.3f} ({r['msssim_real']:.3f})",
            "NN dist. to train (train's own)": f"{r['memo_pixel_nn_median']:.3f} ({r['memo_train_pixel_nn_median']:.3f})",
            "near copies": f"{r['memo_near_copy_fraction']:.3f}", "quality": r["quality"],
        })  # fmt: skip
    print(f"Generators, class {args.cls} (results/report/gan_scores.csv):\n")
    print(pd.DataFrame(rows).to_markdown(index=False))

    real = summary[(summary["source"] == "real") & summary["baseline"].isin(["none", "classic"])]
    gen = summary[(summary["source"] != "real") & (summary["strategy"] == "replace") & (summary["baseline"] == "none")
                  & summary["fraction"].round(6).isin([round(f, 6) for f in args.fractions])]  # fmt: skip
    auc = paired[paired["metric"] == "auc"]
    out = []
    for _, r in pd.concat([real, gen]).iterrows():
        key = (
            (auc["baseline"] == r["baseline"])
            & (auc["source"] == r["source"])
            & (auc["strategy"] == r["strategy"])
            & (auc["fraction"].round(6) == round(r["fraction"], 6))
            & (auc["n_real"].astype(str) == str(r["n_real"]))
        )
        d = auc[key]
        cell = f"real only, {r['baseline']}" if r["source"] == "real" else f"{r['source']} replace {r['fraction']:g}"
        vs = "reference" if d.empty else (f"{d['diff_mean'].iloc[0]:+.3f} (p_Holm {d['p_adjusted'].iloc[0]:.2f}, "
                                          f"{d['verdict'].iloc[0]})")  # fmt: skip
        out.append({
            "cell": cell, "seeds": int(r["n_seeds"]), "test AUC": _pm(r["auc_mean"], r["auc_std"]),
            "AP NORMAL": _pm(r["ap_NORMAL_mean"], r["ap_NORMAL_std"]),
            "bal. acc. (val thr.)": _pm(r["balanced_accuracy_mean"], r["balanced_accuracy_std"]),
            "NORMAL recall (val thr.)": _pm(r["recall_NORMAL_mean"], r["recall_NORMAL_std"]),
            "Δ AUC vs reference": vs,
        })  # fmt: skip
    print("\nClassifier cells (results/report/classifier_summary.csv, paired_differences.csv):\n")
    print(pd.DataFrame(out).to_markdown(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--warmup", type=int, default=2)
    sp.add_argument("--steps", type=int, default=5)
    sp.add_argument("--sample-n", type=int, default=16)
    q = sub.add_parser("quality")
    q.add_argument("--ref-steps", type=int, default=3000)
    q.add_argument("--wall", type=float, help="ddpm training seconds (default: the reference GAN's wall)")
    q.add_argument("--calib-steps", type=int, default=5)
    q.add_argument("--n", type=int, default=250)
    sw = sub.add_parser("sweep", help="add an equal-wall ddpm cell to a finished default-scale tree and run it")
    sw.add_argument("--ddpm-ms", type=float, help="ddpm ms/step (default: timed now, --calib-steps steps)")
    sw.add_argument("--calib-steps", type=int, default=5)
    sw.add_argument("--name", default="ddpm", help="the new cell's name")
    sw.add_argument("--cores", type=int, default=2)
    cp = sub.add_parser("compare", help="the tree's generators and classifier cells in two tables")
    for p in (sw, cp):
        p.add_argument("--tree", type=Path, required=True, help="a finished tree (dag_time.py --keep DIR: DIR/default)")
        p.add_argument("--gan", default="dcgan", help="the per-class GAN cell whose wall ddpm gets")
        p.add_argument("--cls", default="NORMAL", help="the class compared (the minority)")
        p.add_argument("--fractions", type=float, nargs="+", default=[0.2, 1.0])
    for p in (sp, q, sw):
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.what != "compare":
        torch.set_num_threads(args.threads)
    {"speed": speed, "quality": quality, "sweep": sweep, "compare": compare}[args.what](args)


if __name__ == "__main__":
    main()
