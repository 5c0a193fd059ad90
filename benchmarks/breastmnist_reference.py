"""Published-table check: the `none` baseline at f = 0 on BreastMNIST 28 px vs MedMNIST v2.

MedMNIST v2 (Yang et al. 2023, Table 3) reports a test AUC of 0.901 for
ResNet-18 (28) on BreastMNIST. This script trains ganaug's own classifier
(:func:`ganaug.classifier.train_classifier`, the `none` baseline: no
augmentation, plain shuffling, unweighted loss, no synthetic images) on the
official BreastMNIST splits and checks that the mean test AUC over seeds is
within 0.03 of that figure.

The setup follows MedMNIST v2's: ResNet-18 with a 3x3 stride-1 stem and no
max-pool, standard width 64, 100 epochs, batch 128, Adam (AdamW with
weight_decay 0) at lr 1e-3 multiplied by 0.1 after epochs 50 and 75, inputs
scaled to [-1, 1] (Normalize(0.5, 0.5)), no augmentation, the model of the
epoch with the best validation AUC evaluated on the test split.

The npz is read the way the pipeline reads a `medmnist` source
(:func:`ganaug.data.prepare_dataset` into a temporary directory, then
:func:`ganaug.data.load_prepared`).

    python benchmarks/breastmnist_reference.py                 # 3 seeds x 100 epochs (~45 min on 2 idle CPU cores)
    python benchmarks/breastmnist_reference.py --epochs 30             # what benchmarks/README.md reports

Prints one line per seed and then ``mean AUC +- std``, ``|delta|`` to 0.901 and
PASS / FAIL; with ``--out`` also writes the per-seed results as CSV.
Exit status 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

PUBLISHED_AUC = 0.901  # MedMNIST v2, Table 3: BreastMNIST, ResNet-18 (28), test AUC
TOLERANCE = 0.03
CLASS_NAMES = ["malignant", "benign"]  # label 0, label 1 (MedMNIST)


def load_breastmnist(npz: Path, workdir: Path):
    from ganaug.data import load_prepared, prepare_dataset

    spec = {"source": "medmnist", "path": str(npz), "class_names": CLASS_NAMES}
    out = workdir / "breastmnist_28px_1ch.npz"
    prepare_dataset(spec, 28, 1, {}, out, workdir / "manifest.csv", progress=False, workers=1)
    return {split: load_prepared(out, split)[:2] for split in ("train", "val", "test")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npz", type=Path, default=REPO.parent / "shared" / "data" / "breastmnist.npz")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1.0e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, help="write per-seed results (CSV) here")
    args = ap.parse_args(argv)

    import pandas as pd
    import torch

    from ganaug.classifier import evaluate, predict_proba, train_classifier
    from ganaug.runtime import seed_everything
    from ganaug.stats import bootstrap_auc_ci, mean_ci

    if not args.npz.is_file():
        print(f"BreastMNIST npz not found: {args.npz} (expected ../shared/data/breastmnist.npz)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    cfg = {
        "arch": "resnet18_small",
        "width": args.width,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": 0.0,
        "lr_schedule": "multistep",
        "lr_milestones": [0.5, 0.75],
        "lr_gamma": 0.1,
        "select_metric": "auc",
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = load_breastmnist(args.npz, Path(tmp))
    (xtr, ytr), (xva, yva), (xte, yte) = data["train"], data["val"], data["test"]
    print(
        f"BreastMNIST 28 px: train {len(ytr)} {np.bincount(ytr).tolist()}, val {len(yva)}, test {len(yte)} "
        f"(classes {CLASS_NAMES}); torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}"
    )
    print(f"config: {cfg}", flush=True)

    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        seed_everything(seed)
        model, hist = train_classifier(xtr, ytr, xva, yva, 2, cfg, args.device, seed, progress=False)
        probs = predict_proba(model, xte, args.device)
        metrics, _ = evaluate(probs, yte, CLASS_NAMES, positive_class="malignant")
        lo, hi = bootstrap_auc_ci(probs, yte, seed=0)
        sel = hist.loc[hist["selected"]].iloc[0]
        row = {
            "seed": seed,
            "test_auc": metrics["auc"],
            "test_auc_ci_low": lo,
            "test_auc_ci_high": hi,
            "test_acc": metrics["accuracy"],
            "selected_epoch": int(sel["epoch"]),
            "val_auc": float(sel["val_auc"]),
            "minutes": (time.perf_counter() - t0) / 60,
        }
        rows.append(row)
        print(
            f"seed {seed}: test AUC {row['test_auc']:.4f} (bootstrap 95% CI {lo:.3f}-{hi:.3f}), ACC {row['test_acc']:.3f}, "
            f"selected epoch {row['selected_epoch']} (val AUC {row['val_auc']:.4f}), {row['minutes']:.1f} min",
            flush=True,
        )
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)

    aucs = np.array([r["test_auc"] for r in rows])
    s = mean_ci(aucs)
    delta = abs(s["mean"] - PUBLISHED_AUC)
    ok = delta <= TOLERANCE
    print(
        f"mean test AUC over {len(aucs)} seeds: {s['mean']:.4f} +- {s['std']:.4f} (std; t 95% CI {s['ci_low']:.4f}-{s['ci_high']:.4f}); "
        f"mean ACC {np.mean([r['test_acc'] for r in rows]):.4f}"
    )
    print(
        f"MedMNIST v2 ResNet-18 (28): {PUBLISHED_AUC}; |delta| = {delta:.4f} -> {'PASS' if ok else 'FAIL'} (tolerance {TOLERANCE})"
    )
    print(f"finished {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
