"""Helpers shared by the tests: where the real data lives, how to load a slice of it, how to run the workflow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CHEST = SHARED_DATA / "chest_xray"
#: the config schema, as the workflow passes it to ganaug.config.validate_config
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def xray_pairs(n: int, res: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (2n, res, res, 1), labels): the first n NORMAL then n PNEUMONIA training X-rays."""
    images = np.concatenate([load_xrays("train", c, n, res) for c in ("NORMAL", "PNEUMONIA")])
    return images, np.repeat(np.arange(2, dtype=np.int64), n)


def load_xrays(split: str, cls: str, n: int, res: int) -> np.ndarray:
    """First ``n`` (sorted by name) chest X-rays of a class, grayscale, resized to res x res -> uint8 (n, res, res, 1)."""
    folder = CHEST / split / cls
    assert folder.is_dir(), f"real test data missing: {folder} (see ../shared/data/README.md)"
    files = sorted(folder.glob("*.jpeg"))[:n]
    assert len(files) == n, f"{folder}: expected at least {n} images, found {len(files)}"
    out = np.empty((n, res, res, 1), dtype=np.uint8)
    for k, path in enumerate(files):
        with Image.open(path) as img:
            out[k, :, :, 0] = np.asarray(img.convert("L").resize((res, res), Image.Resampling.BILINEAR))
    return out


def write_cell_inputs(work: Path, synthetic: dict[str, int], classes=("NORMAL", "PNEUMONIA")) -> Path:
    """A classifier cell's inputs under ``work``, 28 px grayscale real chest X-rays: real.npz (30 NORMAL / 40
    PNEUMONIA training images), prepared.npz (val and test: 12 + 12 test images each) and, per name in
    ``synthetic``, ``{name}.npz`` of that many further NORMAL test images standing in for generated ones."""
    from ganaug.io import save_npz

    normal, pneumonia = load_xrays("train", "NORMAL", 30, 28), load_xrays("train", "PNEUMONIA", 40, 28)
    test_n = load_xrays("test", "NORMAL", 24 + sum(synthetic.values()), 28)
    test_p = load_xrays("test", "PNEUMONIA", 24, 28)
    names = np.array(classes)
    save_npz(work / "real.npz", {
        "images": np.concatenate([normal, pneumonia]), "labels": np.repeat([0, 1], [30, 40]), "classes": names,
    })  # fmt: skip
    split = {}
    for name, sl in (("val", slice(0, 12)), ("test", slice(12, 24))):
        split[f"{name}_images"] = np.concatenate([test_n[sl], test_p[sl]])
        split[f"{name}_labels"] = np.repeat([0, 1], [12, 12])
    save_npz(work / "prepared.npz", {**split, "classes": names})
    start = 24
    for name, n in synthetic.items():
        images = test_n[start : start + n]
        save_npz(work / f"{name}.npz", {"images": images, "labels": np.zeros(n, np.int64), "classes": names})
        start += n
    return work


# ----------------------------------------------------------------------------- workflow runs


def deep_update(base: dict, over: dict) -> dict:
    """Merge ``over`` into ``base`` in place, key by key in nested dicts (as Snakemake merges
    ``--configfile`` files over config.yaml); returns ``base``."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = v
    return base


def shipped_config(*names: str) -> dict:
    """config.yaml with the named files of config/ merged over it as ``snakemake --configfile`` does: key by key,
    but the mappings a file marks as replaced (its ``gans``) whole (ganaug.config.apply_replaced_mappings)."""
    from ganaug.config import apply_replaced_mappings

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    paths = [REPO / "config" / name for name in names]
    for path in paths:
        deep_update(cfg, yaml.safe_load(path.read_text()))
    return apply_replaced_mappings(cfg, paths)


def tiny_config() -> dict:
    """config/tiny.yaml with the chest X-ray path made absolute (the runs happen in temp dirs)."""
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["datasets"]["chest_xray"]["path"] = str(CHEST)
    return cfg


MICRO_GAN = "cdcgan"


def micro_config() -> dict:
    """A sub-sweep of the tiny config: one GAN cell, f = 0 and the largest f, the first seed,
    the first baseline, no extra cells. Every one of its jobs is also a job of the tiny run
    (same rule, params and inputs), so their outputs must be byte-identical."""
    cfg = tiny_config()
    cfg["gans"] = {MICRO_GAN: cfg["gans"][MICRO_GAN]}
    clf = cfg["classifier"]
    clf["synthetic_fractions"] = [0.0, max(clf["synthetic_fractions"])]
    clf["seeds"] = clf["seeds"][:1]
    if "baselines" in clf:
        clf["baselines"] = clf["baselines"][:1]
    if "extra_cells" in clf:
        clf["extra_cells"] = []
    # the declared primary comparison must be a cell of the sweep: its GAN at the largest fraction
    cfg["statistics"]["primary"] = {
        "source": MICRO_GAN, "strategy": "replace", "fraction": max(clf["synthetic_fractions"]), "baseline": "none",
        "n_real": "all",
    }  # fmt: skip
    return cfg


def write_config(work: Path, cfg: dict, name: str) -> Path:
    path = work / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake_cmd(
    workdir: Path, *args: str, configfile: str = "tiny.yaml", targets: tuple[str, ...] = ("all",)
) -> list[str]:
    """The command line of ``snakemake TARGETS`` on the repository's Snakefile in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / configfile),
        *args,
    ]


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    configfile: str = "tiny.yaml",
    env: dict | None = None,
    timeout: float = 1800,
    targets: tuple[str, ...] = ("all",),
) -> subprocess.CompletedProcess:
    """``snakemake all`` (or ``targets``) on the repository's Snakefile in ``workdir`` with ``workdir/configfile``."""
    cmd = snakemake_cmd(workdir, *args, configfile=configfile, targets=targets)
    env = dict(env or os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return proc


def job_counts(snakemake_output: str) -> dict[str, int]:
    """Rule → number of jobs, from the ``Job stats`` table Snakemake prints before running."""
    table = snakemake_output.split("Job stats:", 1)[1]
    counts = {}
    for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M):
        if rule == "total":
            break
        counts[rule] = int(n)
    return counts


def multiclass_example() -> tuple[np.ndarray, np.ndarray]:
    """Six images of three classes a, b, c with hand-checked scores: one-vs-rest AUCs a 7/8, b 7/8, c 1;
    argmax predictions 0 1 2 1 0 2 (test_classifier.py and test_operating_point.py compute from them)."""
    probs = np.array(
        [
            [0.70, 0.20, 0.10],  # y 0
            [0.20, 0.50, 0.30],  # y 1
            [0.10, 0.30, 0.60],  # y 2
            [0.30, 0.40, 0.30],  # y 0
            [0.45, 0.35, 0.20],  # y 1
            [0.20, 0.20, 0.60],  # y 2
        ]
    )
    return probs, np.array([0, 1, 2, 0, 1, 2])
