"""The classifier networks: torchvision's archs beside resnet18_small, ImageNet weights from torch.hub's cache
(never downloaded here), input handling, fine-tuning options."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch

from ganaug.classifier import build_classifier, predict_proba, train_classifier
from ganaug.classifier.networks import (
    CHANNELS_LAST_MIN_1X1_STRIDED,
    TorchvisionClassifier,
    WeightsUnavailable,
    fetch_weights,
    imagenet_weights,
    memory_format_for,
    weights_path,
)
from ganaug.classifier.train import parameter_groups
from ganaug.names import CLASSIFIER_ARCHS, TORCHVISION_ARCHS
from helpers import load_xrays

CFG = dict(epochs=1, batch_size=16, lr=1.0e-3, weight_decay=1.0e-4, amp="none")


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("arch", CLASSIFIER_ARCHS)
def test_every_arch_builds_and_runs_on_32px_grayscale(arch):
    torch.manual_seed(0)
    model = build_classifier(arch, num_classes=3, in_channels=1, width=8).eval()
    assert isinstance(model.fc, torch.nn.Linear) and model.fc.out_features == 3
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.inference_mode():
        out, feats = model(x), model.embed(x)
        assert out.shape == (2, 3) and torch.isfinite(out).all()
        assert feats.shape == (2, model.fc.in_features)  # embed + fc, as the domain metrics use them
        torch.testing.assert_close(model.fc(feats), out)


def test_torchvision_input_handling():
    """Grayscale is repeated to RGB, input_size resizes each batch, ImageNet normalisation only when pretrained."""
    scratch = build_classifier("resnet18", 2, in_channels=1, input_size=64)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    y = scratch.preprocess(x)
    assert y.shape == (2, 3, 64, 64)
    torch.testing.assert_close(y[:, 0], y[:, 2])
    assert y.min() >= -1 and y.max() <= 1  # from scratch: the [-1, 1] scale is kept
    pretrained = TorchvisionClassifier("resnet18", 2, 1, pretrained="imagenet", load_weights=False)
    z = pretrained.preprocess(torch.full((1, 1, 8, 8), 1.0))  # white
    torch.testing.assert_close(
        z[0, :, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    )
    with pytest.raises(ValueError, match="has no pretrained weights"):
        build_classifier("resnet18_small", 2, 1, pretrained="imagenet")


def _fake_cache(tmp_path, monkeypatch, arch: str) -> tuple[str, torch.Tensor]:
    """A TORCH_HOME whose hub cache holds ``arch``'s weights file with one tensor marked; returns (key, tensor)."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    state = torchvision.models.get_model(arch, weights=None).state_dict()
    key = next(k for k in state if k.endswith("weight") and state[k].dim() == 4)  # the first convolution
    state[key] = torch.full_like(state[key], 0.125)
    path = weights_path(arch)
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / imagenet_weights(arch).url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return key, state[key]


def _no_download(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_imagenet_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    key, marked = _fake_cache(tmp_path, monkeypatch, "resnet18")
    assert fetch_weights("resnet18") == weights_path("resnet18")  # found in the cache: no download
    model = build_classifier("resnet18", 2, in_channels=1, pretrained="imagenet")
    torch.testing.assert_close(model.body.state_dict()[key], marked)
    assert model.fc.out_features == 2


def test_offline_without_cached_weights_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _no_download(monkeypatch)
    with pytest.raises(WeightsUnavailable) as err:
        fetch_weights("resnet50")
    msg = str(err.value)
    assert "\n" not in msg
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    assert "resnet50-11ad3fa6.pth" in msg and "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in msg
    assert str(cache) in msg and "no network in the tests" in msg


def test_offline_cell_stops_before_reading_data(tmp_path, monkeypatch):
    from ganaug.classifier import Cell, run_cell

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _no_download(monkeypatch)
    settings = dict(CFG, arch="resnet18", pretrained="imagenet")
    with pytest.raises(WeightsUnavailable, match="resnet18-f37072fd.pth"):
        run_cell(
            Cell("none", "real", "none", "0", "all", 0),
            real=tmp_path / "missing.npz",  # never opened
            data=tmp_path / "missing.npz",
            synthetic=None,
            settings=settings,
            bootstrap={"n": 10, "level": 0.95, "seed": 0},
            positive_class="PNEUMONIA",
        )


def _xrays(n: int = 16, res: int = 32):
    x = np.concatenate([load_xrays("train", "NORMAL", n // 2, res), load_xrays("train", "PNEUMONIA", n // 2, res)])
    y = np.repeat([0, 1], n // 2)
    return x, y


def test_freeze_backbone_trains_only_the_head(tmp_path, monkeypatch):
    key, marked = _fake_cache(tmp_path, monkeypatch, "resnet18")
    x, y = _xrays()
    cfg = dict(CFG, arch="resnet18", pretrained="imagenet", freeze="backbone")
    model, _ = train_classifier(x, y, x, y, 2, cfg, "cpu", 0, progress=False)
    fresh = build_classifier("resnet18", 2, 1, pretrained="imagenet")
    assert all(not p.requires_grad for p in model.body.parameters())
    assert all(p.requires_grad for p in model.fc.parameters())
    for name, value in fresh.body.state_dict().items():  # weights and BatchNorm statistics unchanged
        torch.testing.assert_close(model.body.state_dict()[name], value, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(model.body.state_dict()[key], marked)
    torch.manual_seed(0)
    assert not torch.equal(model.fc.weight, fresh.fc.weight)
    model.train()
    assert not model.body.training and model.fc.training  # frozen BatchNorm stays in eval mode


def test_lr_backbone_mult_makes_two_parameter_groups():
    model = build_classifier("resnet18", 2, 1)
    (one,) = parameter_groups(model, 1.0e-3)
    assert len(one["params"]) == len(list(model.parameters()))
    head, backbone = parameter_groups(model, 1.0e-3, 0.1)
    assert head["lr"] == 1.0e-3 and backbone["lr"] == pytest.approx(1.0e-4)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.fc.parameters()}
    assert len(head["params"]) + len(backbone["params"]) == len(list(model.parameters()))
    model.freeze_backbone()
    (frozen,) = parameter_groups(model, 1.0e-3, 0.1)
    assert {id(p) for p in frozen["params"]} == {id(p) for p in model.fc.parameters()}


@pytest.mark.parametrize(("arch", "extra"), [("resnet18", {"lr_backbone_mult": 0.1}), ("efficientnet_b0", {})])
def test_one_epoch_on_xrays(arch, extra):
    """A real (tiny) training run of a torchvision arch, scored like every classifier."""
    x, y = _xrays(16)
    cfg = dict(CFG, arch=arch, **extra)
    model, history = train_classifier(x, y, x, y, 2, cfg, "cpu", 0, progress=False)
    assert len(history) == 1 and np.isfinite(history["train_loss"]).all()
    probs = predict_proba(model, x, "cpu")
    assert probs.shape == (16, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)


def test_domain_checkpoint_round_trip_without_download(tmp_path, monkeypatch):
    """A pretrained domain classifier is rebuilt from its checkpoint alone (weights and normalisation)."""
    from ganaug.metrics.domain import load_domain_classifier, save_domain_classifier

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _no_download(monkeypatch)
    model = TorchvisionClassifier("resnet18", 2, 1, pretrained="imagenet", input_size=40, load_weights=False).eval()
    path = tmp_path / "domain.pt"
    save_domain_classifier(
        path, model, arch="resnet18", width=64, num_classes=2, in_channels=1, classes=["a", "b"],
        pretrained="imagenet", input_size=40,
    )  # fmt: skip
    loaded, classes = load_domain_classifier(path)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))
    assert classes == ["a", "b"] and loaded.input_size == 40 and loaded.mean is not None


def test_torchvision_archs_listed():
    assert TORCHVISION_ARCHS == ("resnet18", "resnet50", "resnet152", "vgg11_bn", "efficientnet_b0", "densenet121")


def test_channels_last_is_kept_off_where_onednn_gets_narrow_1x1_strided_convs_wrong():
    """oneDNN's NHWC weight gradient of a 1x1 strided convolution with fewer input channels than its block
    (oneDNN#6035) aborted backward at resnet18_small width < 8 on an AVX2 CPU (torch 2.14.1): such networks train
    contiguous on the CPU; wider ones, torchvision's and any on CUDA keep channels_last."""

    def fmt(width, device="cpu", arch="resnet18_small"):
        return memory_format_for(build_classifier(arch, 2, 1, width), True, device)

    assert fmt(4) == fmt(8) == torch.contiguous_format
    assert fmt(CHANNELS_LAST_MIN_1X1_STRIDED) == fmt(32) == torch.channels_last
    assert fmt(4, "cuda") == torch.channels_last and fmt(64, arch="resnet18") == torch.channels_last
    assert memory_format_for(build_classifier("resnet18_small", 2, 1, 32), False, "cpu") == torch.contiguous_format
    # the narrow network trains (on that CPU this aborted or hung in its first backward) and learns
    x, y = load_xrays("train", "NORMAL", 24, 28), load_xrays("train", "PNEUMONIA", 24, 28)
    images, labels = np.concatenate([x, y]), np.repeat([0, 1], 24)
    model, hist = train_classifier(images, labels, images[:8], labels[:8], 2, dict(CFG, arch="resnet18_small", width=4),
                                   "cpu", seed=0, progress=False)  # fmt: skip
    assert np.isfinite(hist["train_loss"]).all()
    assert next(model.parameters()).is_contiguous()
