"""What grouping the validation split by person changes: two finished trees of the default experiment side by side.

``--before``: a tree whose validation split was carved image by image (the code before groups);
``--after``: the same experiment with the split carved by person. For each tree: how many
validation images belong to a person who is also in train (from the manifest; the person is
read from the file name with the Kaggle pattern, or from the manifest's group column), and for
every classifier cell found in both trees, mean ± std over seeds of the validation AUC, the
threshold chosen on validation (``classifier.threshold``, default youden), the test AUC and the
threshold metrics at that operating point; then which real-only baseline each tree picks as the
reference (best mean validation AUC, as the report does). Only cells with every seed in both
trees are compared.

    python benchmarks/grouped_validation.py --before /tmp/dag_before/default --after /tmp/dag_after/default
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

import benchlib  # noqa: F401 - puts src/ on sys.path
from ganaug.data.sample import KAGGLE_CHEST_GROUP_PATTERN
from ganaug.report.tables import classifier_runs_table

CELL = ["baseline", "source", "strategy", "fraction", "n_real"]
COLUMNS = {"val_auc": "val AUC", "threshold": "threshold", "auc": "test AUC",
           "balanced_accuracy": "bal. acc. (val thr.)", "recall_NORMAL": "NORMAL recall (val thr.)"}  # fmt: skip


def leakage(tree: Path) -> str:
    """'k of n validation images (p persons) share a person with train' from the tree's manifest."""
    manifest = pd.read_csv(next((tree / "results" / "data").glob("*/*_manifest.csv")), dtype=str, keep_default_na=False)
    if "group" in manifest and (manifest.group != "").all():
        person = manifest.group
    else:
        person = manifest.source.map(lambda s: (re.search(KAGGLE_CHEST_GROUP_PATTERN, s) or [None, ""])[1])
    train = set(person[manifest.split == "train"])
    val = manifest.split == "val"
    shared = person[val].isin(train)
    return (f"{int(shared.sum())} of {int(val.sum())} validation images ({person[val][shared].nunique()} of "
            f"{person[val].nunique()} persons) have a person in train")  # fmt: skip


def runs(tree: Path, threshold: str) -> pd.DataFrame:
    files = sorted((tree / "results" / "classifier").glob("*/*/*/*/*/seed*/metrics.json"))
    files = [f for f in files if (f.parent / "predictions_val.csv").is_file()]
    return classifier_runs_table(files, [f.parent / "predictions.csv" for f in files],
                                 [f.parent / "predictions_val.csv" for f in files], positive_class="PNEUMONIA",
                                 minority_class="NORMAL", threshold=threshold)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, required=True)
    ap.add_argument("--threshold", default="youden")
    args = ap.parse_args()
    tables = {name: runs(tree, args.threshold) for name, tree in (("before", args.before), ("after", args.after))}
    for name, tree in (("before", args.before), ("after", args.after)):
        print(f"- {name} ({tree}): {leakage(tree)}")
    seeds = {n: t.groupby(CELL)["seed"].apply(frozenset) for n, t in tables.items()}
    common = [c for c in seeds["before"].index if c in seeds["after"].index and seeds["before"][c] == seeds["after"][c]]
    print(f"\n| cell | seeds | {' | '.join(f'{v} before → after' for v in COLUMNS.values())} |")
    print("|---|---|" + "---|" * len(COLUMNS))
    means = {}
    for cell in common:
        parts = []
        for col in COLUMNS:
            pair = []
            for n, t in tables.items():
                sel = t.set_index(CELL).loc[[cell], col].astype(float)
                pair.append(f"{sel.mean():.3f} ± {sel.std():.3f}")
                means[(n, cell, col)] = sel.mean()
            parts.append(" → ".join(pair))
        label = f"{cell[1]} {cell[2]} {cell[3]}" if cell[1] != "real" else f"real only, `{cell[0]}`"
        print(f"| {label} | {len(seeds['before'][cell])} | {' | '.join(parts)} |")
    for n in tables:
        real = [c for c in common if c[1] == "real" and c[4] == "all"]
        if real:
            best = max(real, key=lambda c: means[(n, c, "val_auc")])
            print(f"\n{n}: reference baseline (best mean validation AUC of the real-only cells) = `{best[0]}` "
                  f"(val AUC {means[(n, best, 'val_auc')]:.3f}, test AUC {means[(n, best, 'auc')]:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
