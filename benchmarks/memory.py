"""Peak memory (RSS) of the three heavy jobs at 64 px: GAN training, FID, classifier training.

Each job runs as a child process (``python benchmarks/memory.py --child ...``) that
does what the pipeline's job script does, through the package functions, on real
64 px grayscale chest X-rays read from an npz (as every job reads the cached
``results/data`` npz); the parent reads the child's own peak resident set size
from ``os.wait4`` (``ru_maxrss``). Settings:

* ``default``: config.yaml at 64 px (``experiment.resolution: 64``): DCGAN ngf = ndf = 32,
  batch 64, conditional (150 NORMAL + 600 PNEUMONIA images); FID batch 50;
  ResNet-18 width 32, batch 64, eval batch 512, 750 training images, ``amp: auto`` (``--clf-amp``);
* ``paper``: config/paper_gpu.yaml (64 px): DCGAN ngf = ndf = 64, batch 64, conditional
  (300 + 2000 images); FID batch 100; ResNet-18 width 64, batch 128.

Jobs are shortened where memory does not grow with length (it peaks within the first
steps): ``--gan-steps`` GAN steps with a checkpoint (full resumable state, sample
grid) every ``--gan-steps // 2``; FID on ``--fid-n`` images per side (real and
"generated" = the other class), then mean, covariance and the 2048 x 2048 ``sqrtm``
of ``fid_from_stats`` (what ``gan_metrics`` runs); the classifier on
``--clf-batches`` training batches (1 epoch), with validation and test predictions on
the 624 test X-rays, the bootstrap CI and the confusion plot. What the full-length
job holds in addition is small and listed under the table (uint8 images, features).

Goal: <= 4 GB each, so 8 jobs fit a 32 GB node.

    python benchmarks/memory.py                        # all jobs, both settings (~10-15 min on 2 cores)
    python benchmarks/memory.py --jobs fid --settings default --fid-n 50    # smoke test

With CUDA the children use it and also report ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import benchlib

SETTINGS = {
    "default": {"ngf": 32, "gan_batch": 64, "n_per_class": {"NORMAL": 150, "PNEUMONIA": 600}, "fid_batch": 50,
                "fid_n_full": 250, "width": 32, "clf_batch": 64, "threads": 2},
    "paper": {"ngf": 64, "gan_batch": 64, "n_per_class": {"NORMAL": 300, "PNEUMONIA": 2000}, "fid_batch": 100,
              "fid_n_full": 2000, "width": 64, "clf_batch": 128, "threads": 4},
}  # fmt: skip
CLASSES = ["NORMAL", "PNEUMONIA"]
GB = 1e9


# ----------------------------------------------------------------------------- children


def child_import(args, s):
    import torch  # noqa: F401

    import ganaug.classifier  # noqa: F401
    import ganaug.gan  # noqa: F401
    import ganaug.metrics  # noqa: F401

    return {}


def child_train_gan(args, s):
    from ganaug.gan import train_gan
    from ganaug.io import load_npz

    d = load_npz(args.data)
    images, labels = d["images"], d["labels"].astype(np.int64)
    cfg = dict(model="dcgan", steps=args.gan_steps, batch_size=s["gan_batch"], nz=100, ngf=s["ngf"], ndf=s["ngf"],
               lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, sample_every=max(1, args.gan_steps // 2), seed=0)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        summary = train_gan(images, labels, 2, cfg, Path(tmp) / "gan", args.device, 0, "conditional", CLASSES,
                            progress=False)  # fmt: skip
    return {"status": summary.get("status")}


def child_fid(args, s):
    from ganaug.io import load_npz
    from ganaug.metrics import extract_features, feature_stats
    from ganaug.metrics.fid import fid_from_stats

    d = load_npz(args.data)
    images, labels = d["images"], d["labels"]
    real = images[labels == 1][: args.fid_n]
    gen = images[labels == 0][: args.fid_n]
    fr = extract_features(real, device=args.device, batch_size=s["fid_batch"], progress=False)
    mu_r, s_r = feature_stats(fr)
    fg = extract_features(gen, device=args.device, batch_size=s["fid_batch"], progress=False)
    mu_g, s_g = feature_stats(fg)
    return {"fid": fid_from_stats(mu_g, s_g, mu_r, s_r)}


def child_train_classifier(args, s):
    from ganaug.classifier import evaluate, plot_confusion, predict_proba, train_classifier
    from ganaug.io import load_npz
    from ganaug.stats import bootstrap_auc_ci

    d = load_npz(args.data)
    x, y = d["images"], d["labels"].astype(np.int64)
    n = args.clf_batches * s["clf_batch"]
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(x), size=min(n, len(x)), replace=False))
    x, y = x[keep], y[keep]
    t = load_npz(args.test)
    tx, ty = t["images"], t["labels"].astype(np.int64)
    cfg = dict(arch="resnet18_small", width=s["width"], epochs=1, batch_size=s["clf_batch"], lr=1e-3, weight_decay=1e-4,
               amp=args.clf_amp)  # fmt: skip
    model, _ = train_classifier(x, y, tx, ty, 2, cfg, args.device, 0, progress=False)
    probs = predict_proba(model, tx, args.device, amp=args.clf_amp)
    metrics, confusion = evaluate(probs, ty, CLASSES, "PNEUMONIA")
    bootstrap_auc_ci(probs, ty, n_boot=1000, level=0.95, seed=0, positive_index=1)
    with tempfile.TemporaryDirectory() as tmp:
        plot_confusion(confusion, CLASSES, Path(tmp) / "c.png", title="x")
    return {"auc": float(metrics["auc"]), "n_train": int(len(x))}


CHILDREN = {"import": child_import, "train_gan": child_train_gan, "fid": child_fid,
            "train_classifier": child_train_classifier}  # fmt: skip


def run_child(args) -> None:
    import torch

    s = SETTINGS[args.settings]
    torch.set_num_threads(min(s["threads"], os.cpu_count() or 1))
    t0 = time.perf_counter()
    out = CHILDREN[args.child](args, s)
    out["seconds"] = time.perf_counter() - t0
    if torch.cuda.is_available():
        out["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
    print("RESULT " + json.dumps(out))


# ----------------------------------------------------------------------------- parent


def measure_rss(job: str, settings: str, data: Path, test: Path, args) -> dict:
    """Run the child, reap it with os.wait4 to get its own peak RSS (ru_maxrss, KiB on Linux)."""
    cmd = [sys.executable, __file__, "--child", job, "--settings", settings, "--data", str(data), "--test", str(test),
           "--device", args.device, "--gan-steps", str(args.gan_steps), "--fid-n", str(args.fid_n),
           "--clf-batches", str(args.clf_batches), "--clf-amp", args.clf_amp]  # fmt: skip
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fout, stderr=ferr, text=True)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read(), ferr.read()
    if proc.returncode != 0:
        sys.exit(f"{job}/{settings} failed ({proc.returncode}):\n{err[-4000:]}")
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    res.update(wall=wall, job=job, settings=settings, maxrss=rusage.ru_maxrss * 1024)
    return res


def load_sets(tmp: Path, settings: list[str], res: int):
    from ganaug.io import save_npz
    from helpers import load_xrays

    biggest = {c: max(SETTINGS[s]["n_per_class"][c] for s in settings) for c in CLASSES}
    imgs = {c: load_xrays("train", c, biggest[c], res) for c in CLASSES}
    files = {}
    for s in settings:
        n = SETTINGS[s]["n_per_class"]
        x = np.concatenate([imgs[c][: n[c]] for c in CLASSES])
        y = np.concatenate([np.full(n[c], k, np.int64) for k, c in enumerate(CLASSES)])
        files[s] = tmp / f"train_{s}.npz"
        save_npz(files[s], {"images": x, "labels": y})
    test = [load_xrays("test", c, {"NORMAL": 234, "PNEUMONIA": 390}[c], res) for c in CLASSES]
    tx = np.concatenate(test)
    ty = np.concatenate([np.full(len(t), k, np.int64) for k, t in enumerate(test)])
    files["test"] = tmp / "test.npz"
    save_npz(files["test"], {"images": tx, "labels": ty})
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", nargs="+", default=["train_gan", "fid", "train_classifier"], choices=list(CHILDREN)[1:])
    ap.add_argument("--settings", nargs="+", default=["default", "paper"], choices=list(SETTINGS))
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--gan-steps", type=int, default=10)
    ap.add_argument("--fid-n", type=int, default=200, help="images per side (default 200 = 2 batches at batch 100)")
    ap.add_argument("--clf-batches", type=int, default=4)
    ap.add_argument(
        "--clf-amp",
        default="auto",
        choices=["auto", "none", "bf16", "fp16"],
        help="classifier.amp (default auto, as config.yaml)",
    )
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--test", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device is None:
        args.device = str(benchlib.default_device())
    if args.child:
        args.settings = args.settings if isinstance(args.settings, str) else args.settings[0]
        run_child(args)
        return

    header = benchlib.machine_lines()
    results = []
    with tempfile.TemporaryDirectory(prefix="ganaug_mem_") as tmp:
        tmp = Path(tmp)
        print(f"loading chest X-rays at {args.res} px ...", file=sys.stderr)
        files = load_sets(tmp, args.settings, args.res)
        floor = measure_rss("import", args.settings[0], files[args.settings[0]], files["test"], args)
        for s in args.settings:
            for job in args.jobs:
                print(f"{job} / {s} (load {benchlib.load_avg()}) ...", file=sys.stderr)
                r = measure_rss(job, s, files[s], files["test"], args)
                print(f"  peak RSS {r['maxrss'] / GB:.2f} GB, {r['wall']:.0f} s", file=sys.stderr)
                results.append(r)
    load_end = benchlib.load_avg()

    print(f"\n### Peak memory at {args.res} px\n")
    print("\n".join(header))
    print(f"- load average at end: {load_end}")
    print(f"- command: `python benchmarks/memory.py {' '.join(sys.argv[1:])}`".rstrip() + "\n")
    cuda = any("cuda_max_allocated" in r for r in results)
    print("| job | settings | what ran | peak RSS | wall | goal <= 4 GB |" + (" CUDA max allocated |" if cuda else ""))
    print("|---|---|---|---|---|---|" + ("---|" if cuda else ""))
    print(f"| interpreter + imports (torch, ganaug) | - | imports only | {floor['maxrss'] / GB:.2f} GB | "
          f"{floor['wall']:.0f} s | - |" + (" - |" if cuda else ""))  # fmt: skip
    for r in results:
        s = SETTINGS[r["settings"]]
        what = {
            "train_gan": f"conditional DCGAN ngf=ndf={s['ngf']}, batch {s['gan_batch']}, "
                         f"{sum(s['n_per_class'].values())} images, {args.gan_steps} steps + 2 checkpoints",
            "fid": f"features of {args.fid_n} + {args.fid_n} images at batch {s['fid_batch']}, stats, sqrtm 2048²",
            "train_classifier": f"ResNet-18 width {s['width']}, batch {s['clf_batch']}, {r.get('n_train')} images x 1 epoch, "
                                "eval batch 512 on 624 val + 624 test, bootstrap 1000, plot",
        }[r["job"]]  # fmt: skip
        ok = "PASS" if r["maxrss"] <= 4 * GB else "FAIL"
        extra = f" {r['cuda_max_allocated'] / GB:.2f} GB |" if cuda else ""
        print(
            f"| {r['job']} | {r['settings']} | {what} | **{r['maxrss'] / GB:.2f} GB** | {r['wall']:.0f} s | {ok} |{extra}"
        )
    # what the full-length jobs hold in addition
    notes = []
    for name in args.settings:
        s = SETTINGS[name]
        n_img = sum(s["n_per_class"].values())
        notes.append(f"{name}: FID at N = {s['fid_n_full']} adds ~{2 * s['fid_n_full'] * 2048 * 8 * 2 / 1e6:.0f} MB of "
                     f"float64 features over N = {args.fid_n}; the full classifier training set ({n_img} images) "
                     f"adds {n_img * args.res ** 2 / 1e6:.0f} MB of uint8 images")  # fmt: skip
    print("\nNot in the run above, upper bounds by arithmetic: " + "; ".join(notes) + ".")
    print("\nGB = 10^9 bytes. Peak RSS from `os.wait4` (`ru_maxrss`) of each child process.")


if __name__ == "__main__":
    main()
