"""CUDA paths: device auto, mixed precision in GAN and classifier training, CPU loading of GPU weights.

These run only where CUDA is present (a GPU workstation or node; CI has no GPU and skips
them). They were run on an NVIDIA H200 lent to one development session (see
benchmarks/README.md); everything else in the suite runs on the CPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ganaug.classifier import evaluate, predict_proba, train_classifier
from ganaug.gan import generate_images, load_generator, train_gan
from ganaug.io import load_npz
from ganaug.runtime import native_bf16, resolve_amp, resolve_device
from helpers import load_xrays

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (CI has no GPU)")

CLASSES = ["NORMAL", "PNEUMONIA"]
GAN_CFG = dict(
    model="dcgan", steps=40, batch_size=32, nz=32, ngf=16, ndf=16,
    lr_g=2.0e-4, lr_d=2.0e-4, beta1=0.5, beta2=0.999, sample_every=20, seed=0,
)  # fmt: skip
CLF_CFG = dict(arch="resnet18_small", width=16, epochs=3, batch_size=32, lr=1.0e-3, weight_decay=1.0e-4)


@pytest.fixture(scope="module")
def xray32(shared_data):
    images = np.concatenate([load_xrays("train", c, 64, 32) for c in CLASSES])
    return images, np.repeat(np.arange(2, dtype=np.int64), 64)


@pytest.fixture(scope="module")
def breast(shared_data):
    return load_npz(shared_data / "breastmnist.npz")


def test_device_auto_and_amp_auto_pick_the_gpu():
    assert resolve_device("auto").type == "cuda"
    major, _ = torch.cuda.get_device_capability(0)
    assert native_bf16("cuda") == (major >= 8)
    assert resolve_amp("auto", "cuda") == ("bf16" if major >= 8 else "none")
    assert resolve_amp("fp16", "cuda") == "fp16"


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_gan_trains_on_cuda_and_loads_on_cpu(xray32, tmp_path, amp):
    """A conditional DCGAN on the GPU: finite losses, float32 weights in the checkpoint,
    which loads on the CPU with weights_only and generates images of both classes there."""
    images, labels = xray32
    out = tmp_path / amp
    summary = train_gan(images, labels, 2, {**GAN_CFG, "amp": amp}, out, "cuda", 0, "conditional", CLASSES,
                        progress=False)  # fmt: skip
    assert summary["status"] == "ok"
    losses = pd.read_csv(out / "losses.csv")
    assert len(losses) == GAN_CFG["steps"] and np.isfinite(losses.drop(columns="step").to_numpy()).all()
    ckpt = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ckpt["G"].values() if v.is_floating_point())
    G, meta = load_generator(out / "checkpoint.pt", "cpu")
    for label in (0, 1):
        fake = generate_images(G, meta, 8, label, 1234, "cpu")
        assert fake.shape == (8, 32, 32, 1) and fake.dtype == np.uint8 and fake.std() > 0


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_classifier_trains_on_cuda(breast, amp):
    """BreastMNIST, width 16, 3 epochs on the GPU (fp16 through the gradient scaler): it learns
    (test AUC > 0.7, as on the CPU) and its probabilities are float64 with float32-resolution ranks."""
    model, hist = train_classifier(
        breast["train_images"], breast["train_labels"], breast["val_images"], breast["val_labels"], 2,
        {**CLF_CFG, "amp": amp}, "cuda", seed=0, progress=False,
    )  # fmt: skip
    assert next(model.parameters()).is_cuda
    assert np.isfinite(hist[["train_loss", "val_loss"]].to_numpy()).all()
    probs = predict_proba(model, breast["test_images"], "cuda", amp=amp)
    assert probs.dtype == np.float64 and probs.shape == (156, 2)
    metrics, _ = evaluate(probs, breast["test_labels"], ["malignant", "benign"], "malignant")
    assert metrics["auc"] > 0.7, metrics
    assert len(np.unique(probs[:, 1])) > 150  # no bf16/fp16-rounded ties in the ranking
