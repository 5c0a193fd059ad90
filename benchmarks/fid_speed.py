"""FID cost: ganaug's feature extraction against pytorch-fid's own pipeline, same images, same weights.

Both sides score the same N NORMAL vs N PNEUMONIA chest X-rays (the first N of
each class's training folder, grayscale, resized to ``--res``; as
``tests/test_fid_parity.py``) with the same TF-FID Inception weights (the
offline mapping, :func:`ganaug.metrics.inception.build_pytorch_fid_inception`):

* **pytorch-fid**: the images written as PNG files ->
  ``pytorch_fid.fid_score.calculate_activation_statistics`` (``ImagePathDataset``:
  PIL ``open().convert('RGB')``, ``ToTensor``; DataLoader with ``--workers``
  workers, pytorch-fid's default 1; batch 50, its default) -> mu, sigma ->
  ``calculate_frechet_distance`` (scipy ``sqrtm`` of a 2048 x 2048 matrix).
* **ganaug**: the uint8 arrays read from an npz (as every pipeline job reads the
  cached ``results/data/...npz``) -> :func:`ganaug.metrics.extract_features`
  (batch 50, ``inference_mode``, channels_last, batch norms folded into the
  convolutions) -> mean / covariance ->
  :func:`ganaug.metrics.fid.fid_from_stats_and_features` (the exact low-rank form:
  an N x N eigenproblem instead of the 2048 x 2048 ``sqrtm``).

Repeats alternate (pytorch-fid, ganaug, ganaug, pytorch-fid, ...), so load drifts
hit both alike. Prints, as Markdown: images/s of each (median, min-max) and
their ratio (goal >= 1.5x); the FID of each and their relative difference
(goal <= 1e-3); the time of each Fréchet distance; a breakdown of one batch
(file decoding, the resize, the network in each memory format) that says where
the time goes; and how many times real features are extracted in a full sweep
(from ``snakemake -n all`` of the tiny and the default configs: one
``real_stats`` job per dataset x resolution x class x split, one
``real_train_features`` job per class), against how many jobs read them.

    python benchmarks/fid_speed.py                        # N = 200 vs 200, 64 px, 3 repeats (~7 min on 2 idle cores)
    python benchmarks/fid_speed.py --n 50 --repeats 1 --no-sqrtm --no-count     # smoke test

On a machine with CUDA both sides run on the GPU (``torch.cuda.is_available()``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import benchlib
from benchlib import mmm


def ref_stats(files, model, batch, device, workers):
    """pytorch-fid's own pipeline, files -> (mu, sigma)."""
    from pytorch_fid.fid_score import calculate_activation_statistics

    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calculate_activation_statistics(files, model, batch_size=batch, dims=2048, device=device,
                                               num_workers=workers)  # fmt: skip


def ours_stats(npz_path, key, batch, device):
    """ganaug's path: cached npz -> uint8 -> features -> (mu, sigma, features)."""
    from ganaug.io import load_npz
    from ganaug.metrics import extract_features, feature_stats

    images = load_npz(npz_path, required=(key,))[key]
    feats = extract_features(images, device=device, batch_size=batch, progress=False)
    mu, sigma = feature_stats(feats)
    return mu, sigma, feats


def breakdown(files, images, ref_model, batch, device, repeats):
    """Seconds per image of each stage, on one batch: decode, resize, network NCHW / channels_last."""
    import torch
    import torch.nn.functional as F
    from pytorch_fid.fid_score import ImagePathDataset
    from torchvision import transforms as TF

    from ganaug.metrics.features import get_model

    files, images = files[:batch], images[:batch]
    ds = ImagePathDataset(files, transforms=TF.ToTensor())
    x_ref = torch.stack([ds[i] for i in range(len(ds))]).to(device)
    ours = get_model(device)
    x_cl = x_ref.contiguous(memory_format=torch.channels_last)

    def decode():
        torch.stack([ds[i] for i in range(len(ds))])

    def resize():
        with torch.inference_mode():
            F.interpolate(x_ref, size=(299, 299), mode="bilinear", align_corners=False)
        benchlib.sync(device)

    def net_ref():  # pytorch-fid: contiguous NCHW, no_grad
        with torch.no_grad():
            ref_model(x_ref)
        benchlib.sync(device)

    def net_ours():  # ganaug: batch norms folded, channels_last, inference_mode
        with torch.inference_mode():
            ours(x_cl)
        benchlib.sync(device)

    def net_ref_cl():  # pytorch-fid's module, channels_last weights and input, no_grad
        with torch.no_grad():
            ref_cl(x_cl)
        benchlib.sync(device)

    import copy

    ref_cl = copy.deepcopy(ref_model).to(memory_format=torch.channels_last)
    stages = {
        "decode PNG + ToTensor (pytorch-fid's ImagePathDataset)": decode,
        "bilinear resize to 299 alone": resize,
        "network, contiguous NCHW, no_grad (pytorch-fid)": net_ref,
        "network, channels_last, no_grad": net_ref_cl,
        "network, batch norms folded, channels_last, inference_mode (ganaug)": net_ours,
    }
    for f in stages.values():
        f()  # warm-up
    times = {k: [] for k in stages}
    for r in range(repeats):
        order = list(stages.items()) if r % 2 == 0 else list(reversed(stages.items()))
        for name, f in order:
            t0 = time.perf_counter()
            f()
            times[name].append((time.perf_counter() - t0) / len(files))
    return times


def count_real_extractions(configs: dict[str, list[dict]]):
    """Dry-run each config in a scratch dir; count real_stats / real_train_features jobs and their readers."""
    rows = []
    for label, cfgs in configs.items():
        with tempfile.TemporaryDirectory(prefix="ganaug_count_") as tmp:
            tmp = Path(tmp)
            files = [benchlib.write_yaml(tmp / f"cfg{k}.yaml", c) for k, c in enumerate(cfgs)]
            proc, _ = benchlib.snakemake(tmp, files, "-n", "--cores", "2")
        out = proc.stdout + proc.stderr
        counts = benchlib.job_counts(out)
        # job blocks: "rule NAME:" then indented "input: ..." / "output: ..." / "wildcards: ..."
        cells, classes, readers, reads = set(), set(), 0, 0
        for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
            m = re.match(r"(?:local)?rule (\w+):", block)
            if not m:
                continue
            rule = m.group(1)
            io_lines = {k: v for k, v in re.findall(r"^\s+(input|output): (.*)$", block, flags=re.M)}
            if rule == "real_stats":
                for path in io_lines.get("output", "").split(", "):
                    mm = re.search(r"results/metrics/real/([^/]+)/(\d+)px_(\d)ch/(\w+?)_([^/]+)\.npz", path)
                    if mm:
                        cells.add(mm.groups())
            if rule == "real_train_features":
                mm = re.search(r"results/metrics/real_train/([^/]+)\.npz", io_lines.get("output", ""))
                if mm:
                    classes.add(mm.group(1))
            n_in = len(re.findall(r"results/metrics/real(?:_train)?/[^,\s]+\.npz", io_lines.get("input", "")))
            if n_in:
                readers += 1
                reads += n_in
        datasets = {c[0] for c in cells}
        resolutions = {c[1] for c in cells}
        splits = {c[3] for c in cells}
        stat_classes = {c[4] for c in cells}
        product = len(datasets) * len(resolutions) * len(stat_classes) * len(splits)
        rows.append({
            "config": label,
            "real_stats": counts.get("real_stats", 0),
            "real_train_features": counts.get("real_train_features", 0),
            "product": f"{len(datasets)} x {len(resolutions)} x {len(stat_classes)} x {len(splits)} = {product}",
            "train_classes": len(classes),
            "readers": readers,
            "reads": reads,
            "ok": counts.get("real_stats", 0) == product and counts.get("real_train_features", 0) == len(classes),
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="images per side (default 200)")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--batch", type=int, default=50, help="batch size of both sides (pytorch-fid's default 50)")
    ap.add_argument("--workers", type=int, default=1, help="pytorch-fid DataLoader workers (its default 1)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sqrtm", action="store_true", help="skip the 2048x2048 sqrtm (20-70 s each on 2 cores)")
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--no-count", action="store_true", help="skip the snakemake -n job counts")
    args = ap.parse_args()

    import torch
    from pytorch_fid.fid_score import calculate_frechet_distance

    from ganaug.io import save_image, save_npz
    from ganaug.metrics.fid import fid_from_stats, fid_from_stats_and_features
    from ganaug.metrics.inception import build_pytorch_fid_inception
    from helpers import load_xrays

    torch.set_num_threads(args.threads)
    device = benchlib.default_device()
    header = benchlib.machine_lines(args.threads)
    print(f"loading {args.n} + {args.n} chest X-rays at {args.res} px ...", file=sys.stderr)
    sets = {
        "a": load_xrays("train", "NORMAL", args.n, args.res),
        "b": load_xrays("train", "PNEUMONIA", args.n, args.res),
    }

    with tempfile.TemporaryDirectory(prefix="ganaug_fid_speed_") as tmp:
        tmp = Path(tmp)
        files = {}
        for key, imgs in sets.items():
            files[key] = []
            for k, img in enumerate(imgs):
                path = tmp / key / f"{k:05d}.png"
                save_image(path, img)
                files[key].append(str(path))
        npz = tmp / "prepared.npz"
        save_npz(npz, sets)

        ref_model = build_pytorch_fid_inception(device=device)
        # warm-up both sides (model build, allocator, oneDNN primitives) on one batch, untimed
        ref_stats(files["a"][: args.batch], ref_model, args.batch, device, args.workers)
        from ganaug.metrics import extract_features

        extract_features(sets["a"][: args.batch], device=device, batch_size=args.batch, progress=False)

        rate = {"pytorch-fid": [], "ganaug": []}
        res = {}
        for r in range(args.repeats):
            order = ["pytorch-fid", "ganaug"] if r % 2 == 0 else ["ganaug", "pytorch-fid"]
            for side in order:
                t0 = time.perf_counter()
                if side == "pytorch-fid":
                    out = [ref_stats(files[k], ref_model, args.batch, device, args.workers) for k in ("a", "b")]
                else:
                    out = [ours_stats(npz, k, args.batch, device) for k in ("a", "b")]
                dt = time.perf_counter() - t0
                rate[side].append(2 * args.n / dt)
                res[side] = out
                print(f"repeat {r + 1}: {side} {rate[side][-1]:.2f} images/s ({dt:.1f} s), load {benchlib.load_avg()}",
                      file=sys.stderr)  # fmt: skip
        times = (
            None
            if args.no_breakdown
            else breakdown(files["a"], sets["a"], ref_model, args.batch, device, max(3, args.repeats))
        )
    load_end = benchlib.load_avg()

    (mu1, s1), (mu2, s2) = res["pytorch-fid"]
    (ma, sa, fa), (mb, sb, fb) = res["ganaug"]
    fd = {}
    lowrank_t = []
    for _ in range(5):
        t0 = time.perf_counter()
        fd["ganaug"] = fid_from_stats_and_features(ma, sa, fb)
        lowrank_t.append(time.perf_counter() - t0)
    sqrtm_t = []
    if not args.no_sqrtm:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fd["pytorch-fid"] = float(calculate_frechet_distance(mu1, s1, mu2, s2))
            sqrtm_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fd["ganaug features, sqrtm"] = fid_from_stats(ma, sa, mb, sb)
            sqrtm_t.append(time.perf_counter() - t0)

    # ------------------------------------------------------------------ report
    print(f"\n### FID: ganaug vs pytorch-fid ({args.n} vs {args.n} chest X-rays, {args.res} px grayscale)\n")
    print("\n".join(header))
    print(f"- load average at end: {load_end}")
    print(f"- batch {args.batch} both sides; pytorch-fid DataLoader workers {args.workers}; {args.repeats} alternating repeats"
          f"\n- command: `python benchmarks/fid_speed.py {' '.join(sys.argv[1:])}`".rstrip() + "\n")  # fmt: skip
    r_ref, r_ours = statistics.median(rate["pytorch-fid"]), statistics.median(rate["ganaug"])
    ratio = r_ours / r_ref
    print("| pipeline | images/s, median (min-max) |")
    print("|---|---|")
    print(f"| pytorch-fid (PNG files, ImagePathDataset, contiguous NCHW, no_grad) | {mmm(rate['pytorch-fid'])} |")
    print(f"| ganaug (npz -> uint8, batch norms folded, channels_last, inference_mode) | {mmm(rate['ganaug'])} |")
    print(f"| **ratio ganaug / pytorch-fid** (goal >= 1.5x) | **{ratio:.2f}x** {'PASS' if ratio >= 1.5 else 'FAIL'} |")
    mu_diff = max(np.abs(ma - mu1).max(), np.abs(mb - mu2).max())
    print("\n| Fréchet distance | FID | time |")
    print("|---|---|---|")
    if "pytorch-fid" in fd:
        ref = fd["pytorch-fid"]
        print(
            f"| pytorch-fid `calculate_frechet_distance` (its stats; scipy sqrtm 2048²) | {ref:.6f} | {sqrtm_t[0]:.1f} s |"
        )
        print(
            f"| ganaug features, same sqrtm (`fid_from_stats`, what gan_metrics uses) | {fd['ganaug features, sqrtm']:.6f} | {sqrtm_t[1]:.1f} s |"
        )  # noqa: E501
    print(f"| ganaug `fid_from_stats_and_features` (exact low-rank, N x N eigvalsh) | {fd['ganaug']:.6f} | "
          f"{1000 * statistics.median(lowrank_t):.0f} ms (median of 5) |")  # fmt: skip
    if "pytorch-fid" in fd:
        rel = abs(fd["ganaug"] - ref) / abs(ref)
        rel2 = abs(fd["ganaug features, sqrtm"] - ref) / abs(ref)
        print(f"\nrelative FID difference ganaug (low-rank) vs pytorch-fid: **{rel:.2e}** "
              f"(sqrtm on ganaug features: {rel2:.2e}; goal <= 1e-3: {'PASS' if max(rel, rel2) <= 1e-3 else 'FAIL'}); "
              f"max |mu difference| {mu_diff:.2e}; Fréchet distance speed-up "
              f"{sqrtm_t[0] / statistics.median(lowrank_t):.0f}x")  # fmt: skip
        n = args.n
        t_cli = 2 * n / r_ref + sqrtm_t[0]
        t_now = n / r_ours + sqrtm_t[1]
        t_low = n / r_ours + statistics.median(lowrank_t)
        print(f"\nOne FID of N = {n} generated images, end to end (derived from the medians above):\n")
        print("| how | what it computes | s | vs pytorch-fid |")
        print("|---|---|---|---|")
        print(f"| pytorch-fid (`python -m pytorch_fid real/ gen/`) | features of both sides ({2 * n} images) + sqrtm | "
              f"{t_cli:.0f} | 1.00x |")  # fmt: skip
        print(f"| ganaug with cached real statistics + sqrtm (`fid_from_stats`) | features of the {n} generated images "
              f"+ sqrtm | {t_now:.0f} | {t_cli / t_now:.2f}x |")  # fmt: skip
        print(f"| ganaug with cached real statistics + exact low-rank form | features of the {n} generated images "
              f"+ N x N eigvalsh | {t_low:.0f} | {t_cli / t_low:.2f}x |")  # fmt: skip
    else:
        print(f"\nmax |mu difference| {mu_diff:.2e} (sqrtm skipped: --no-sqrtm)")

    if times:
        net_ref = statistics.median(times["network, contiguous NCHW, no_grad (pytorch-fid)"])
        print(f"\nWhere the time goes (one batch of {args.batch}, {max(3, args.repeats)} alternating repeats):\n")
        print("| stage | ms/image, median (min-max) | share of pytorch-fid's network time |")
        print("|---|---|---|")
        for name, v in times.items():
            print(f"| {name} | {mmm([1000 * t for t in v], '{:.1f}')} | {100 * statistics.median(v) / net_ref:.1f} % |")

    if not args.no_count:
        import yaml

        from benchlib import REPO, chest_xray_config, tiny_config

        configs = {
            "config/tiny.yaml": [tiny_config()],
            "config.yaml (PneumoniaMNIST)": [],
            "config.yaml + config/chest_xray.yaml": [chest_xray_config()],
            "config.yaml + chest_xray + paper_gpu.yaml": [chest_xray_config(),
                                                          yaml.safe_load((REPO / "config/paper_gpu.yaml").read_text())],
        }  # fmt: skip
        rows = count_real_extractions(configs)
        print("\nReal-feature extractions in a full sweep (`snakemake -n all`):\n")
        print(
            "| config | `real_stats` jobs | dataset x res x class x split | `real_train_features` jobs (classes) | jobs reading them (files read) | cached once? |"
        )  # noqa: E501
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['config']} | {r['real_stats']} | {r['product']} | {r['real_train_features']} ({r['train_classes']}) | "
                  f"{r['readers']} ({r['reads']}) | {'yes' if r['ok'] else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    main()
