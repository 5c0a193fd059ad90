"""Tests of ganaug.gan on real chest X-rays (a few images per class, a few steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ganaug.gan import (
    build_gan,
    generate_images,
    generate_samples,
    load_generator,
    make_class_grid,
    make_grid_image,
    train_gan,
)
from ganaug.gan.state import BatchSampler
from ganaug.gan.train import job_inputs

CLASSES = ["NORMAL", "PNEUMONIA"]
PER_CLASS = 64
CFG = dict(
    model="dcgan", steps=6, batch_size=16, nz=16, ngf=8, ndf=8,
    lr_g=2.0e-4, lr_d=2.0e-4, beta1=0.5, beta2=0.999, sample_every=3, seed=0,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def xray(shared_data) -> dict:
    """{(resolution, channels): (images uint8 (N,R,R,C), labels int64)} from real chest X-ray JPEGs."""
    root = shared_data / "chest_xray" / "train"
    files = {c: sorted((root / c).glob("*.jpeg"))[:PER_CLASS] for c in CLASSES}
    for c, fs in files.items():  # fail loudly: these tests must run on the real data
        assert len(fs) == PER_CLASS, f"need {PER_CLASS} JPEGs in {root / c}, found {len(fs)}"
    gray = [Image.open(f).convert("L") for c in CLASSES for f in files[c]]
    labels = np.repeat(np.arange(len(CLASSES), dtype=np.int64), PER_CLASS)
    out = {}
    for r in (28, 32, 64):
        g = np.stack([np.asarray(im.resize((r, r), Image.BILINEAR)) for im in gray])[..., None]
        out[(r, 1)] = (g, labels)
        out[(r, 3)] = (np.repeat(g, 3, axis=3), labels)
    return out


def _train(xray, tmp, mode, res=32, ch=1, cls=0, seed=0, **over):
    images, labels = xray[(res, ch)]
    if mode == "per_class":
        keep = labels == cls
        images, labels = images[keep], labels[keep]
    return train_gan(images, labels, len(CLASSES), {**CFG, **over}, tmp, "cpu", seed, mode, CLASSES, progress=False)


@pytest.mark.parametrize("mode", ["per_class", "conditional"])
@pytest.mark.parametrize("resolution", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_build_gan_shapes(mode, resolution, channels):
    torch.manual_seed(0)
    G, D = build_gan("dcgan", mode, channels, resolution, 2, 16, 4, 4)
    z, y = torch.randn(3, 16), torch.tensor([0, 1, 1])
    x = G(z, y)
    assert x.shape == (3, channels, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x, y).shape == (3,)


def test_build_gan_errors():
    with pytest.raises(ValueError, match=r"'stylegan'.*dcgan"):
        build_gan("stylegan", "per_class", 1, 32, 2, 16, 8, 8)
    with pytest.raises(ValueError, match=r"resolution 48.*28, 32, 64, 128"):
        build_gan("dcgan", "per_class", 1, 48, 2, 16, 8, 8)
    with pytest.raises(ValueError, match=r"'joint'.*per_class, conditional"):
        build_gan("dcgan", "joint", 1, 32, 2, 16, 8, 8)
    with pytest.raises(ValueError, match=r"channels 2"):
        build_gan("dcgan", "per_class", 2, 32, 2, 16, 8, 8)


@pytest.mark.parametrize("mode", ["per_class", "conditional"])
@pytest.mark.parametrize(("res", "ch"), [(32, 1), (28, 3)])
def test_train_writes_outputs(xray, tmp_path, mode, res, ch):
    summary = _train(xray, tmp_path, mode, res=res, ch=ch, log_every=4)
    assert summary["steps"] == 6 and summary["images_per_s"] > 0
    assert all(np.isfinite(summary[k]) for k in ("loss_d", "loss_g", "d_real", "d_fake"))

    losses = pd.read_csv(tmp_path / "losses.csv")
    assert list(losses.columns) == ["step", "loss_d", "loss_g", "d_real", "d_fake"]
    assert losses["step"].tolist() == list(range(1, 7))
    assert np.isfinite(losses.drop(columns="step").to_numpy()).all()
    assert ((losses[["d_real", "d_fake"]] >= 0) & (losses[["d_real", "d_fake"]] <= 1)).all().all()

    rows = len(CLASSES) if mode == "conditional" else 8
    for name in ("grid_step000003.png", "grid_step000006.png", "grid.png"):
        grid = np.asarray(Image.open(tmp_path / name))
        assert grid.shape[:2] == (2 + rows * (res + 2), 2 + 8 * (res + 2))
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind

    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    meta = ckpt["meta"]
    assert set(ckpt) >= {"G", "D", "meta"}
    assert (meta["mode"], meta["resolution"], meta["channels"], meta["steps"]) == (mode, res, ch, 6)
    assert meta["class_names"] == CLASSES and meta["num_classes"] == 2

    G, meta = load_generator(tmp_path / "checkpoint.pt", "cpu")
    imgs = generate_images(G, meta, 5, 1 if mode == "conditional" else None, seed=3, device="cpu", batch_size=2)
    assert imgs.dtype == np.uint8 and imgs.shape == (5, res, res, ch)
    again = generate_images(G, meta, 5, 1 if mode == "conditional" else None, seed=3, device="cpu", batch_size=5)
    np.testing.assert_array_equal(imgs, again)  # independent of the batch size


def test_conditional_generator_needs_label(xray, tmp_path):
    _train(xray, tmp_path, "conditional", steps=1)
    G, meta = load_generator(tmp_path / "checkpoint.pt", "cpu")
    with pytest.raises(ValueError, match="label"):
        generate_images(G, meta, 2, None, seed=0, device="cpu")


def test_small_class_and_progress_bar(xray, tmp_path, capsys):
    """Fewer images than the batch size: batches repeat images; the bar goes to stderr."""
    images, labels = xray[(32, 1)]
    summary = train_gan(
        images[:5], labels[:5], 2, {**CFG, "steps": 3, "batch_size": 16}, tmp_path, "cpu", 0, "per_class", CLASSES
    )
    assert summary["steps"] == 3
    assert "dcgan per_class" in capsys.readouterr().err


def test_batch_sampler_epochs():
    gen = torch.Generator().manual_seed(0)
    sampler = BatchSampler(10, 4, gen, torch.device("cpu"))
    drawn = torch.cat([sampler.next() for _ in range(5)])  # two full epochs
    assert sorted(drawn[:10].tolist()) == list(range(10))
    assert sorted(drawn[10:20].tolist()) == list(range(10))


def _g_state(tmp):
    return torch.load(Path(tmp) / "checkpoint.pt", weights_only=True)["G"]


def test_deterministic_by_seed(xray, tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        _train(xray, tmp_path / name, "conditional", steps=5, seed=seed)
    a, b, c = (_g_state(tmp_path / n) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    la, lb = (pd.read_csv(tmp_path / n / "losses.csv") for n in "ab")
    pd.testing.assert_frame_equal(la, lb)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(xray, tmp_path, monkeypatch):
    from ganaug.gan import losses as losses_module
    from ganaug.io import read_json

    real_g_loss = losses_module.NonSaturatingLoss.g_loss

    def g_loss(self, D, fake, fake_labels, calls=[0]):  # noqa: B006 - call counter
        calls[0] += 1
        loss = real_g_loss(self, D, fake, fake_labels)
        return loss * float("nan") if calls[0] == 5 else loss

    monkeypatch.setattr(losses_module.NonSaturatingLoss, "g_loss", g_loss)
    summary = _train(xray, tmp_path, "per_class", steps=8, log_every=5, sample_every=2)
    assert summary["status"] == "diverged" and summary["steps"] == 4
    status = read_json(tmp_path / "status.json")
    assert status["status"] == "diverged" and status["diverged"]["step"] == 5
    assert status["diverged"]["last_good_step"] == 4
    assert "diverged at step 5" in status["message"] and "loss_g=nan" in status["message"]
    losses = pd.read_csv(tmp_path / "losses.csv")  # written up to the failure for diagnosis
    assert losses["step"].tolist() == [1, 2, 3, 4, 5] and np.isnan(losses["loss_g"].iloc[-1])
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["meta"]["status"] == "diverged" and ckpt["meta"]["steps"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["G"].values() if v.is_floating_point())
    snaps = torch.load(tmp_path / "snapshots.pt", weights_only=True)
    assert snaps["steps"] == [2, 4]
    G, meta = load_generator(tmp_path / "snapshots.pt", "cpu")
    assert meta["step"] == 4


def test_divergence_before_first_checkpoint_keeps_initial_weights(xray, tmp_path):
    summary = _train(xray, tmp_path, "per_class", steps=6, sample_every=6, log_every=1, lr_d=1.0e30, lr_g=1.0e30)
    assert summary["status"] == "diverged" and summary["steps"] == 0
    snaps = torch.load(tmp_path / "snapshots.pt", weights_only=True)
    assert snaps["steps"] == [0]
    imgs = generate_images(*load_generator(tmp_path / "snapshots.pt", "cpu"), 3, None, seed=0, device="cpu")
    assert imgs.shape == (3, 32, 32, 1)


def test_config_and_input_errors(xray, tmp_path):
    images, labels = xray[(32, 1)]
    with pytest.raises(ValueError, match="lacks steps"):
        train_gan(images, labels, 2, {k: v for k, v in CFG.items() if k != "steps"}, tmp_path, "cpu", 0,
                  "conditional", CLASSES, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="one class"):
        train_gan(images, labels, 2, CFG, tmp_path, "cpu", 0, "per_class", CLASSES, progress=False)
    with pytest.raises(ValueError, match="resolution 40"):
        small = np.zeros((4, 40, 40, 1), np.uint8)
        train_gan(small, np.zeros(4, np.int64), 2, CFG, tmp_path, "cpu", 0, "per_class", CLASSES, progress=False)
    with pytest.raises(ValueError, match="unknown GAN model 'nope'"):
        train_gan(images, labels, 2, {**CFG, "model": "nope"}, tmp_path, "cpu", 0, "conditional", CLASSES,
                  progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def checkpoints(xray, tmp_path_factory):
    root = tmp_path_factory.mktemp("gans")
    per_class = {}
    for k, name in enumerate(CLASSES):
        _train(xray, root / name, "per_class", cls=k, steps=2, sample_every=2)
        per_class[name] = root / name / "checkpoint.pt"
    _train(xray, root / "cond", "conditional", steps=2, sample_every=2)
    return per_class, root / "cond" / "checkpoint.pt"


def test_generate_samples_per_class(checkpoints):
    per_class, _ = checkpoints
    x1, y1 = generate_samples(per_class, "per_class", CLASSES, 7, seed=5, device="cpu")
    x2, y2 = generate_samples(per_class, "per_class", CLASSES, 7, seed=5, device="cpu")
    x3, _ = generate_samples(per_class, "per_class", CLASSES, 7, seed=6, device="cpu")
    assert x1.shape == (14, 32, 32, 1) and x1.dtype == np.uint8 and y1.dtype == np.int64
    assert np.bincount(y1).tolist() == [7, 7]
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    # one class alone gives the same images for it as when drawn with the others
    x_one, y_one = generate_samples({"PNEUMONIA": per_class["PNEUMONIA"]}, "per_class", CLASSES, 7, 5, "cpu")
    assert y_one.tolist() == [1] * 7
    np.testing.assert_array_equal(x_one, x1[y1 == 1])
    with pytest.raises(ValueError, match="trained on class 'NORMAL'"):
        generate_samples({"PNEUMONIA": per_class["NORMAL"]}, "per_class", CLASSES, 2, 5, "cpu")
    with pytest.raises(ValueError, match="unknown class"):
        generate_samples({"COVID": per_class["NORMAL"]}, "per_class", CLASSES, 2, 5, "cpu")


def test_generate_samples_conditional(checkpoints):
    _, cond = checkpoints
    x1, y1 = generate_samples(cond, "conditional", CLASSES, 9, seed=5, device="cpu")
    x2, y2 = generate_samples(cond, "conditional", CLASSES, 9, seed=5, device="cpu")
    assert x1.shape == (18, 32, 32, 1) and np.bincount(y1).tolist() == [9, 9]
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1[y1 == 0], x1[y1 == 1])
    with pytest.raises(ValueError, match="mode 'conditional'"):
        generate_samples({"NORMAL": cond}, "per_class", CLASSES, 2, 5, "cpu")


def test_grids():
    imgs = np.arange(5 * 4 * 4 * 1, dtype=np.uint8).reshape(5, 4, 4, 1)
    grid = make_grid_image(imgs, nrow=3)
    assert grid.shape == (2 + 2 * 6, 2 + 3 * 6, 1) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[2:6, 2:6], imgs[0])
    np.testing.assert_array_equal(grid[8:12, 2:6], imgs[3])
    cls = make_class_grid(imgs, np.array([1, 0, 1, 1, 0]), num_classes=2, per_row=2)
    np.testing.assert_array_equal(cls[2:6, 2:6], imgs[1])  # row 0 = class 0
    np.testing.assert_array_equal(cls[8:12, 2:6], imgs[0])  # row 1 = class 1


def test_job_inputs_per_class_and_conditional(xray):
    """Rule train_gan's jobs: a per_class part is one class's images with seed + class index; conditional is all."""
    images, labels = xray[(28, 1)]
    x, y, seed = job_inputs(images, labels, CLASSES, "per_class", "PNEUMONIA", 5, "dcgan", "train.npz")
    assert seed == 6 and (y == 1).all() and len(x) == PER_CLASS
    assert np.array_equal(x, images[labels == 1])
    x, y, seed = job_inputs(images, labels, CLASSES, "per_class", "NORMAL", 5, "dcgan", "train.npz")
    assert seed == 5 and (y == 0).all() and len(x) == PER_CLASS
    x, y, seed = job_inputs(images, labels, CLASSES, "conditional", "conditional", 5, "cdcgan", "train.npz")
    assert seed == 5 and x is images and y is labels
    with pytest.raises(ValueError, match=r"'dcgan' is per_class; 'conditional' is not a class \(NORMAL, PNEUMONIA\)"):
        job_inputs(images, labels, CLASSES, "per_class", "conditional", 5, "dcgan", "train.npz")
    with pytest.raises(ValueError, match=r"GAN 'cdcgan' is conditional; its only job is 'conditional', not 'NORMAL'"):
        job_inputs(images, labels, CLASSES, "conditional", "NORMAL", 5, "cdcgan", "train.npz")
    with pytest.raises(ValueError, match=r"train.npz: no training images of class 'PNEUMONIA'"):
        job_inputs(images[labels == 0], labels[labels == 0], CLASSES, "per_class", "PNEUMONIA", 5, "dcgan", "train.npz")
