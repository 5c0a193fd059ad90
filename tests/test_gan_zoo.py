"""The GAN zoo on real 32 px chest X-rays: every model x mode, resume after a kill, penalties, norms, heads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ganaug.gan import (
    MODELS,
    build_gan,
    diff_augment,
    generate_images,
    gradient_penalty,
    load_generator,
    train_gan,
)
from ganaug.gan.selection import fid_curve, select_step
from ganaug.io import read_json
from helpers import xray_pairs

CLASSES = ["NORMAL", "PNEUMONIA"]
N = 32
CFG = dict(
    model="dcgan", steps=4, batch_size=16, nz=16, ngf=8, ndf=8,
    lr_g=2.0e-4, lr_d=2.0e-4, beta1=0.5, beta2=0.999, sample_every=2, seed=0, ae_steps=4,
)  # fmt: skip
GANS = [m for m, spec in MODELS.items() if spec.kind == "gan"]  # the diffusion model: tests/test_diffusion.py
MODEL_MODES = [(m, mode) for m in GANS for mode in MODELS[m].modes]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def xray32():
    return xray_pairs(N)


def _data(xray32, mode, channels):
    images, labels = xray32
    if mode == "per_class":
        images, labels = images[labels == 0], labels[labels == 0]
    if channels == 3:
        images = np.repeat(images, 3, axis=3)
    return images, labels


def test_registry_matches_config_layer():
    from ganaug.names import CONDITIONAL_ONLY

    assert sorted(m for m, s in MODELS.items() if s.modes == ("conditional",)) == sorted(CONDITIONAL_ONLY)
    assert set(GANS) == {"mlp", "dcgan", "wgan_gp", "sngan", "resgan", "acgan", "bagan"}
    assert [m for m in MODELS if m not in GANS] == ["ddpm"] and MODELS["ddpm"].kind == "diffusion"


@pytest.mark.parametrize(("model", "mode"), MODEL_MODES)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_model_trains_on_xrays(xray32, tmp_path, model, mode, channels):
    images, labels = _data(xray32, mode, channels)
    summary = train_gan(images, labels, 2, {**CFG, "model": model}, tmp_path, "cpu", 0, mode, CLASSES, progress=False)
    assert summary["status"] == "ok" and summary["steps"] == 4
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert losses["step"].tolist() == [1, 2, 3, 4]
    assert np.isfinite(losses.drop(columns="step").to_numpy()).all()
    G, meta = load_generator(tmp_path / "checkpoint.pt", "cpu")
    assert (meta["model"], meta["mode"], meta["channels"]) == (model, mode, channels)
    with torch.no_grad():
        y = torch.tensor([0, 1, 1]) if mode == "conditional" else None
        x = G(torch.randn(3, 16), y)
    assert x.shape == (3, channels, 32, 32) and x.min() >= -1 and x.max() <= 1
    imgs = generate_images(G, meta, 4, 1 if mode == "conditional" else None, seed=0, device="cpu")
    assert imgs.shape == (4, 32, 32, channels) and imgs.dtype == np.uint8
    assert read_json(tmp_path / "status.json")["status"] == "ok"


@pytest.mark.parametrize(("model", "mode"), [("acgan", "per_class"), ("bagan", "per_class")])
def test_inherently_conditional_models_refuse_per_class(model, mode):
    with pytest.raises(ValueError, match=f"'{model}' is inherently conditional"):
        build_gan(model, mode, 1, 32, 2, 16, 8, 8)


def _g_weights(path: Path, key: str = "G") -> dict:
    return torch.load(path / "checkpoint.pt", weights_only=True)[key]


def _max_diff(a: dict, b: dict) -> float:
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _assert_resume_equal(images, labels, cfg, mode, tmp_path):
    """cfg's steps straight (into tmp_path/straight) vs 3 steps, stop, the rest from the saved state (into
    tmp_path/split): the same G, D and G_ema weights and the same losses.csv."""
    train_gan(images, labels, 2, cfg, tmp_path / "straight", "cpu", 0, mode, CLASSES, progress=False)
    first = train_gan(images, labels, 2, cfg, tmp_path / "split", "cpu", 0, mode, CLASSES, progress=False, stop_after=3)
    assert first["status"] == "stopped" and not (tmp_path / "split" / "checkpoint.pt").exists()
    again = train_gan(images, labels, 2, cfg, tmp_path / "split", "cpu", 0, mode, CLASSES, progress=False)
    assert again["resumed_from"] == 3
    for key in ("G", "D", "G_ema"):
        assert _max_diff(_g_weights(tmp_path / "straight", key), _g_weights(tmp_path / "split", key)) <= 1e-6
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "straight" / "losses.csv"), pd.read_csv(tmp_path / "split" / "losses.csv")
    )


@pytest.mark.parametrize("model", GANS)
def test_resume_equals_uninterrupted(xray32, tmp_path, model):
    """2K steps straight vs K steps, stop, K more from the saved state: the same weights and losses."""
    images, labels = xray32
    mode = MODELS[model].modes[-1]
    cfg = {**CFG, "model": model, "steps": 6, "sample_every": 3, "ema": 0.9, "n_critic": 2,
           "diffaugment": ["color", "translation", "cutout"], "log_every": 2}  # fmt: skip
    _assert_resume_equal(images, labels, cfg, mode, tmp_path)


def test_changed_settings_start_over(xray32, tmp_path):
    images, labels = xray32
    train_gan(images, labels, 2, CFG, tmp_path, "cpu", 0, "conditional", CLASSES, progress=False, stop_after=2)
    summary = train_gan(images, labels, 2, {**CFG, "lr_g": 1.0e-4}, tmp_path, "cpu", 0, "conditional", CLASSES,
                        progress=False)  # fmt: skip
    assert summary["resumed_from"] == 0 and summary["steps"] == 4


_KILL_SCRIPT = r"""
import sys, numpy as np, torch
sys.path.insert(0, {tests!r})
from helpers import load_xrays
from ganaug.gan import train_gan
torch.set_num_threads(1)
images = load_xrays("train", "NORMAL", 64, 32)
cfg = dict(model="dcgan", steps=30, batch_size=32, nz=32, ngf=32, ndf=32, lr_g=2e-4, lr_d=2e-4, beta1=0.5,
           beta2=0.999, sample_every=5, seed=0, ema=0.9, diffaugment=["translation"])
train_gan(images, np.zeros(64, np.int64), 2, cfg, sys.argv[1], "cpu", 0, "per_class", ["NORMAL", "PNEUMONIA"],
          progress=False)
"""


def test_kill_minus_9_then_rerun_resumes_to_the_same_weights(tmp_path):
    """A training process SIGKILLed mid-run, rerun: resumes from its last checkpoint, ends as an uninterrupted run."""
    script = tmp_path / "train.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    subprocess.run([sys.executable, str(script), str(tmp_path / "straight")], check=True, env=env, timeout=600)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed)], env=env, stderr=subprocess.PIPE)
    state = killed / "train_state" / "state.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if state.exists() and torch.load(state, weights_only=True)["step"] >= 10:
            break
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "checkpoint.pt").exists()  # nothing that looks finished
    saved_step = torch.load(state, weights_only=True)["step"]
    assert 10 <= saved_step < 30

    rerun = subprocess.run([sys.executable, str(script), str(killed)], env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {state} at step {saved_step} of 30" in rerun.stderr
    for key in ("G", "D", "G_ema"):
        assert _max_diff(_g_weights(tmp_path / "straight", key), _g_weights(killed, key)) <= 1e-6
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "straight" / "losses.csv"), pd.read_csv(killed / "losses.csv"))


class _Linear(torch.nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, so the penalty is (||w|| - 1)^2 exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, labels=None):
        return (x * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_gradient_penalty_known_norm(norm):
    w = torch.randn(1, 1, 8, 8)
    w = w / w.norm() * norm
    D = _Linear(w)
    real, fake = torch.randn(5, 1, 8, 8), torch.randn(5, 1, 8, 8)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((norm - 1.0) ** 2, abs=1e-5)
    gp.backward()  # the penalty trains D: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    expected = 2 * (norm - 1.0) * w / norm
    assert torch.allclose(D.w.grad, expected, atol=1e-5)


@pytest.mark.parametrize("model", ["sngan", "resgan"])
@pytest.mark.parametrize("mode", ["per_class", "conditional"])
def test_sngan_every_discriminator_layer_is_spectrally_normalised(model, mode):
    from torch.nn.utils import parametrize

    _, D = build_gan(model, mode, 1, 32, 2, 16, 8, 8)
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    if mode == "conditional":
        assert any(isinstance(m, torch.nn.Embedding) for m in layers)  # the projection


def test_wgan_critic_has_no_batchnorm():
    _, D = build_gan("wgan_gp", "per_class", 1, 32, 2, 16, 8, 8)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())


def test_acgan_aux_head_beats_chance_on_two_distinct_classes(xray32, tmp_path):
    """Real X-rays vs the same X-rays inverted: after a short run D's class head tells them apart."""
    images, _ = xray32
    x = np.concatenate([images, 255 - images])
    y = np.repeat(np.arange(2, dtype=np.int64), len(images))
    cfg = {**CFG, "model": "acgan", "steps": 30, "sample_every": 30}
    train_gan(x[::2], y[::2], 2, cfg, tmp_path, "cpu", 0, "conditional", CLASSES, progress=False)
    _, D = build_gan("acgan", "conditional", 1, 32, 2, 16, 8, 8)
    D.load_state_dict(_g_weights(tmp_path, "D"))
    D.eval()
    held_out = torch.from_numpy(x[1::2]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        pred = D(held_out)[:, 1:].argmax(1).numpy()
    accuracy = float((pred == y[1::2]).mean())
    assert accuracy >= 0.8, f"aux-head accuracy {accuracy:.2f} on held-out images"


def test_bagan_fits_class_gaussians_and_initialises_d_from_the_encoder(xray32, tmp_path):
    images, labels = xray32
    cfg = {**CFG, "model": "bagan", "steps": 1, "sample_every": 1, "ae_steps": 5}
    train_gan(images, labels, 2, cfg, tmp_path, "cpu", 0, "conditional", CLASSES, progress=False)
    G = _g_weights(tmp_path)
    mu, chol = G["class_mu"], G["class_chol"]
    assert mu.shape == (2, 16) and chol.shape == (2, 16, 16)
    assert not torch.equal(mu[0], mu[1]) and mu.abs().sum() > 0  # fitted, not the N(0, I) placeholders
    assert torch.allclose(chol, torch.tril(chol))
    meta = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["meta"]
    assert meta["ae_steps"] == 5 and np.isfinite(meta["ae_loss"])


def test_ema_weights_are_used_for_sampling(xray32, tmp_path):
    images, labels = xray32
    train_gan(images, labels, 2, {**CFG, "ema": 0.5}, tmp_path, "cpu", 0, "conditional", CLASSES, progress=False)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert _max_diff(ckpt["G"], ckpt["G_ema"]) > 0
    G, meta = load_generator(tmp_path / "checkpoint.pt", "cpu")
    assert all(torch.equal(v, ckpt["G_ema"][k]) for k, v in G.state_dict().items())
    snap = torch.load(tmp_path / "snapshots.pt", weights_only=True)
    assert all(torch.equal(snap["weights"]["4"][k], v) for k, v in ckpt["G_ema"].items())


def test_bf16_amp_runs_on_cpu_and_fp16_falls_back(xray32, tmp_path, capfd):
    """amp: bf16 trains under CPU autocast (float32 weights, finite losses, other numbers than
    float32); amp: fp16 is CUDA-only and trains in float32 on the CPU, saying so."""
    images, labels = xray32

    def run(amp):
        out = tmp_path / amp
        train_gan(images, labels, 2, {**CFG, "amp": amp}, out, "cpu", 0, "conditional", CLASSES, progress=False)
        return torch.load(out / "checkpoint.pt", weights_only=True), pd.read_csv(out / "losses.csv")

    (fp32, l32), (bf16, l16), (fp16, l_fp16) = run("none"), run("bf16"), run("fp16")
    assert all(v.dtype == torch.float32 for v in bf16["G"].values() if v.is_floating_point())
    assert np.isfinite(l16.drop(columns="step").to_numpy()).all()
    assert _max_diff(fp32["G"], bf16["G"]) > 0  # autocast was on
    assert _max_diff(fp32["G"], fp16["G"]) == 0 and l32.equals(l_fp16)
    assert "amp: fp16 applies on CUDA only" in capfd.readouterr().err


def test_diffaugment_grayscale_safe_deterministic_differentiable():
    x = (torch.rand(6, 1, 32, 32) * 2 - 1).requires_grad_(True)
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = diff_augment(x, ["color", "translation", "cutout"], gen())
    b = diff_augment(x, ["color", "translation", "cutout"], gen())
    assert a.shape == x.shape and torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    rgb = diff_augment(torch.zeros(2, 3, 32, 32), ["color"], gen())
    assert rgb.shape == (2, 3, 32, 32)


def test_translation_shifts_whole_pixels_and_cutout_zeros_a_square():
    from ganaug.gan.augment import cutout, translation

    x = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) + 1
    for seed in range(10):
        out = translation(x, torch.Generator().manual_seed(seed))
        kept = out[out != 0]
        assert kept.numel() >= 36  # shifted by at most 1 px (1/8 of 8) each way
        assert set(kept.tolist()) <= set(x.flatten().tolist())
    out = cutout(torch.ones(4, 1, 8, 8), torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert ((zeros > 0) & (zeros <= 16)).all()


def test_fid_curve_and_selection(xray32, tmp_path):
    from ganaug.metrics import extract_features, feature_stats

    images, labels = xray32
    train_gan(images, labels, 2, {**CFG, "steps": 4, "sample_every": 2}, tmp_path, "cpu", 0, "conditional",
              CLASSES, progress=False)  # fmt: skip
    stats = {}
    for k, name in enumerate(CLASSES):
        mu, sigma = feature_stats(extract_features(images[labels == k][:8], device="cpu"))
        stats[name] = {"mu": mu, "sigma": sigma}
    curve = fid_curve(tmp_path / "snapshots.pt", stats, n=4, seed=0, device="cpu", progress=False)
    assert sorted(zip(curve["step"], curve["class"])) == [(s, c) for s in (2, 4) for c in CLASSES]
    assert (curve["fid"] > 0).all() and (curve["n"] == 4).all()
    assert select_step(curve, "last") == 4
    fake = pd.DataFrame({"step": [2, 2, 4, 4], "class": CLASSES * 2, "fid": [10.0, 30.0, 25.0, 20.0], "n": 4})
    assert select_step(fake, "best_fid") == 2  # lowest mean over classes: 20 vs 22.5
    with pytest.raises(ValueError, match="select must be one of"):
        select_step(fake, "median")


def test_low_rank_fid_matches_pytorch_fid():
    from ganaug.metrics.features import feature_stats
    from ganaug.metrics.fid import fid_from_stats, fid_from_stats_and_features

    rng = np.random.default_rng(0)
    real = rng.gamma(2.0, 0.5, size=(120, 64))
    fake = rng.gamma(2.5, 0.4, size=(30, 64))
    mu, sigma = feature_stats(real)
    fast = fid_from_stats_and_features(mu, sigma, fake)
    ref = fid_from_stats(mu, sigma, *feature_stats(fake))
    assert fast == pytest.approx(ref, rel=1e-6)
    assert fid_from_stats_and_features(mu, sigma, real) == pytest.approx(fid_from_stats(mu, sigma, mu, sigma), abs=1e-6)


def test_report_marks_a_diverged_cell(xray32, tmp_path):
    """A diverged job's outputs flow through selection into gan_scores with status 'diverged', not a crash."""
    from ganaug import report
    from ganaug.io import write_json

    images, labels = xray32
    part = tmp_path / "bad" / "NORMAL"
    train_gan(images[labels == 0], labels[labels == 0], 2, {**CFG, "steps": 6, "sample_every": 2, "lr_d": 1.0e30,
              "lr_g": 1.0e30, "log_every": 1}, part, "cpu", 0, "per_class", CLASSES, progress=False)  # fmt: skip
    status = read_json(part / "status.json")
    assert status["status"] == "diverged"
    write_json(
        tmp_path / "bad" / "selection.json",
        {
            "NORMAL": {
                "step": status["steps"],
                "select": "last",
                "status": status["status"],
                "message": status["message"],
            }
        },
    )
    write_json(tmp_path / "ok.json", {"PNEUMONIA": {"step": 6, "select": "last", "status": "ok", "message": "ok"}})
    training = report.gan_training_table({"bad": tmp_path / "bad" / "selection.json", "ok": tmp_path / "ok.json"},
                                         CLASSES)  # fmt: skip
    scores = pd.DataFrame({"gan": ["bad", "ok"], "class": ["NORMAL", "PNEUMONIA"], "fid": [400.0, 90.0]})
    merged = report.merge_training_status(scores, training)
    assert merged["status"].tolist() == ["diverged", "ok"]
    assert "diverged at step" in merged.loc[0, "status_message"] and merged.loc[1, "status_message"] == ""
    assert merged.loc[0, "selected_step"] == status["steps"]


@pytest.mark.parametrize("resolution", [28, 32, 64])
def test_resgan_conditional_batchnorm_gives_each_class_its_own_gain(resolution):
    """cBN: the same z with another label gives another image once the class gains differ."""
    from ganaug.gan.resgan import ConditionalBatchNorm2d

    G, D = build_gan("resgan", "conditional", 1, resolution, 2, 16, 8, 8)
    cbn = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert cbn and all(m.gain.num_embeddings == 2 for m in cbn)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and m.affine for m in G.modules())
    G.eval()
    z = torch.randn(2, 16)
    with torch.no_grad():
        same = G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1]))
        assert torch.equal(same[0], same[1])  # gains start equal (1) for every class
        for m in cbn:
            m.gain.weight[1].mul_(2.0)
        x0, x1 = G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1]))
    assert x0.shape == (2, 1, resolution, resolution) and not torch.equal(x0, x1)
    assert D(x0, torch.tensor([0, 1])).shape == (2,)


def test_balanced_sampler_draws_classes_equally():
    from ganaug.gan.state import BalancedBatchSampler

    labels = torch.tensor([0] * 150 + [1] * 600)
    sampler = BalancedBatchSampler(labels, 64, torch.Generator().manual_seed(0), torch.device("cpu"))
    drawn = torch.cat([sampler.next() for _ in range(200)])
    share = (labels[drawn] == 0).double().mean().item()
    assert share == pytest.approx(0.5, abs=0.02)  # 150 of 750 = 0.2 without balancing
    state = sampler.state_dict()
    a = sampler.next()
    sampler.load_state_dict(state)
    assert torch.equal(a, sampler.next())


def test_balance_classes_changes_only_conditional_training(xray32, tmp_path):
    images, labels = xray32
    cfg = {**CFG, "steps": 3, "sample_every": 3}
    for name, extra in (("plain", {}), ("balanced", {"balance_classes": True})):
        train_gan(images, labels, 2, {**cfg, **extra}, tmp_path / name, "cpu", 0, "conditional", CLASSES,
                  progress=False)  # fmt: skip
    assert _max_diff(_g_weights(tmp_path / "plain"), _g_weights(tmp_path / "balanced")) > 0
    with pytest.raises(ValueError, match="balance_classes must be true or false"):
        train_gan(images, labels, 2, {**cfg, "balance_classes": "yes"}, tmp_path / "bad", "cpu", 0, "conditional",
                  CLASSES, progress=False)  # fmt: skip


@pytest.mark.parametrize("model", ["dcgan", "resgan"])
def test_transfer_starts_from_the_checkpoint_and_freezes_lower_d(xray32, tmp_path, model):
    """init_from copies G and D; freeze_d = 1 leaves D's first stage exactly as it was, the rest trains."""
    from ganaug.gan.transfer import d_stages

    images, labels = xray32
    one = images[labels == 0]
    cfg = {**CFG, "model": model, "steps": 3, "sample_every": 3, "ema": 0.9}
    zeros = np.zeros(len(one), np.int64)
    train_gan(one, zeros, 2, cfg, tmp_path / "base", "cpu", 0, "per_class", CLASSES, progress=False)
    base = torch.load(tmp_path / "base" / "checkpoint.pt", weights_only=True)
    tuned_cfg = {**cfg, "init_from": str(tmp_path / "base" / "checkpoint.pt"), "freeze_d": 1}
    train_gan(one, zeros, 2, tuned_cfg, tmp_path / "tuned", "cpu", 1, "per_class", CLASSES, progress=False)
    tuned = torch.load(tmp_path / "tuned" / "checkpoint.pt", weights_only=True)
    _, D = build_gan(model, "per_class", 1, 32, 2, 16, 8, 8)
    first = {id(p) for p in d_stages(D)[0].parameters()}
    frozen = {name for name, p in D.named_parameters() if id(p) in first}
    trained = {name for name, p in D.named_parameters() if id(p) not in first}
    assert frozen and trained
    assert all(torch.equal(base["D"][k], tuned["D"][k]) for k in frozen)
    assert not all(torch.equal(base["D"][k], tuned["D"][k]) for k in trained)
    assert not all(torch.equal(base["G"][k], tuned["G"][k]) for k in base["G"])
    with pytest.raises(ValueError, match="freeze_d must be in"):
        train_gan(one, zeros, 2, {**tuned_cfg, "freeze_d": 9}, tmp_path / "bad", "cpu", 0, "per_class", CLASSES,
                  progress=False)  # fmt: skip


def _conditional_from_unconditional(model: str, images: np.ndarray):
    """An unconditional ``model`` G0, D0 and its conditional G1, D1 started from them by as_conditional (the shared
    G's per-class BatchNorm rows, where it has them, moved off their initial ones / zeros so that the copy is
    tested), all in eval mode, with six noise vectors and six real images to compare them on."""
    from ganaug.gan.transfer import as_conditional

    G0, D0 = build_gan(model, "per_class", 1, 32, 2, 16, 8, 8)
    G1, D1 = build_gan(model, "conditional", 1, 32, 2, 16, 8, 8)
    with torch.no_grad():
        for name, p in G0.named_parameters():
            if name.endswith(("gain.weight", "bias.weight")):
                p.add_(torch.randn_like(p) * 0.1)
    g_state, g_changed = as_conditional(G0.state_dict(), G1)
    d_state, d_changed = as_conditional(D0.state_dict(), D1)
    assert g_changed and d_changed
    G1.load_state_dict(g_state)
    D1.load_state_dict(d_state)
    for m in (G0, D0, G1, D1):
        m.eval()
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(0))
    x = torch.from_numpy(images[:6]).permute(0, 3, 1, 2).float() / 127.5 - 1
    return G0, D0, G1, D1, z, x


def test_conditional_gan_starts_from_an_unconditional_one(xray32, tmp_path):
    """A conditional DCGAN started from an unconditional one computes, at step 0, exactly what the
    unconditional G and D computed, for every label; then it trains its label parts; freeze_d > 0 is refused."""
    from ganaug.gan.transfer import as_conditional

    images, labels = xray32
    G0, D0, G1, D1, z, x = _conditional_from_unconditional("dcgan", images)
    with torch.no_grad():
        for y in (0, 1):
            ys = torch.full((6,), y)
            assert torch.allclose(G1(z, ys), G0(z), atol=1e-6)
            assert torch.allclose(D1(x, ys), D0(x), atol=1e-5)
    # the same network: nothing to change
    assert as_conditional(G1.state_dict(), G1)[1] is False

    cfg = {**CFG, "steps": 3, "sample_every": 3}
    one = images[labels == 0]
    train_gan(one, np.zeros(len(one), np.int64), 2, cfg, tmp_path / "base", "cpu", 0, "per_class", CLASSES,
              progress=False)  # fmt: skip
    start = {**cfg, "init_from": str(tmp_path / "base" / "checkpoint.pt"), "freeze_d": 0}
    train_gan(images, labels, 2, start, tmp_path / "cond", "cpu", 0, "conditional", CLASSES, progress=False)
    tuned = torch.load(tmp_path / "cond" / "checkpoint.pt", weights_only=True)
    assert not torch.equal(tuned["G"]["label_emb.weight"], torch.ones_like(tuned["G"]["label_emb.weight"]))
    first = next(k for k in tuned["D"] if k.startswith("body.") and k.endswith("weight") and tuned["D"][k].dim() == 4)
    assert tuned["D"][first][:, -1].abs().sum() > 0  # the label channel's weights left zero
    with pytest.raises(ValueError, match="freeze_d = 1: a conditional GAN started from the unconditional"):
        train_gan(images, labels, 2, {**start, "freeze_d": 1}, tmp_path / "bad", "cpu", 0, "conditional", CLASSES,
                  progress=False)  # fmt: skip
    from ganaug.gan.transfer import load_init

    with pytest.raises(ValueError, match="its networks do not match"):  # a resgan cannot start from a dcgan
        load_init(tmp_path / "base" / "checkpoint.pt", *build_gan("resgan", "conditional", 1, 32, 2, 16, 8, 8), None)


def test_conditional_resgan_starts_from_an_unconditional_one(xray32, tmp_path):
    """A conditional ResGAN from an unconditional one: G computes exactly the shared G for every label (each
    conditional BatchNorm's rows copies of the shared pair); D is the shared D plus only its projection term; then
    fine-tuning trains the per-class rows apart."""
    from ganaug.gan.transfer import as_conditional

    images, labels = xray32
    G0, D0, G1, D1, z, x = _conditional_from_unconditional("resgan", images)
    with torch.no_grad():
        h = F.relu(D1.blocks(x)).sum(dim=(2, 3))
        for y in (0, 1):
            ys = torch.full((6,), y)
            assert torch.allclose(G1(z, ys), G0(z), atol=1e-6)
            assert torch.allclose(D1(x, ys) - (D1.embed(ys) * h).sum(1), D0(x), atol=1e-5)
    assert as_conditional(G1.state_dict(), G1)[1] is False

    cfg = {**CFG, "model": "resgan", "steps": 3, "sample_every": 3}
    one = images[labels == 0]
    train_gan(one, np.zeros(len(one), np.int64), 2, cfg, tmp_path / "base", "cpu", 0, "per_class", CLASSES,
              progress=False)  # fmt: skip
    start = {**cfg, "init_from": str(tmp_path / "base" / "checkpoint.pt"), "freeze_d": 0}
    train_gan(images, labels, 2, start, tmp_path / "cond", "cpu", 0, "conditional", CLASSES, progress=False)
    base = torch.load(tmp_path / "base" / "checkpoint.pt", weights_only=True)["G"]
    tuned = torch.load(tmp_path / "cond" / "checkpoint.pt", weights_only=True)["G"]
    gain = next(k for k in tuned if k.endswith("gain.weight"))
    assert base[gain].shape[0] == 1 and tuned[gain].shape[0] == 2
    assert not torch.equal(tuned[gain][0], tuned[gain][1])  # each class learnt its own statistics


def test_class_norm_dcgan_starts_from_an_unconditional_one_trains_resumes_and_loads(xray32, tmp_path):
    """class_norm: G's BatchNorms take per-class offsets and D is a projection D. From an unconditional DCGAN it
    computes exactly the shared G and D for every label; with D's first stage frozen (it reads no label) it
    fine-tunes each class's offsets apart, resumes to the same weights as an uninterrupted run, and
    load_generator rebuilds its G from the checkpoint's meta; per_class or sngan with class_norm is refused."""
    from ganaug.gan.models import ClassBatchNorm2d
    from ganaug.gan.transfer import as_conditional

    images, labels = xray32
    G0, D0 = build_gan("dcgan", "per_class", 1, 32, 2, 16, 8, 8)
    G1, D1 = build_gan("dcgan", "conditional", 1, 32, 2, 16, 8, 8, class_norm=True)
    assert D1.label_map is None and G1.label_emb is None  # the label enters only through the norms and the head
    for net0, net1 in ((G0, G1), (D0, D1)):
        state, changed = as_conditional(net0.state_dict(), net1)
        assert changed
        net1.load_state_dict(state)
    for m in (G0, D0, G1, D1):
        m.eval()
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(0))
    x = torch.from_numpy(images[:6]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        for y in (0, 1):
            ys = torch.full((6,), y)
            assert torch.allclose(G1(z, ys), G0(z), atol=1e-6)
            assert torch.allclose(D1(x, ys), D0(x), atol=1e-6)
    # a ClassBatchNorm2d in training mode normalises and tracks statistics as nn.BatchNorm2d does
    bn, plain = ClassBatchNorm2d(3, 2), torch.nn.BatchNorm2d(3)
    plain.load_state_dict({k: v for k, v in bn.state_dict().items() if not k.startswith("class_")})
    h = torch.randn(5, 3, 4, 4)
    assert torch.allclose(bn(h, torch.zeros(5, dtype=torch.long)), plain(h), atol=1e-6)
    assert torch.allclose(bn.running_var, plain.running_var) and int(bn.num_batches_tracked) == 1

    cfg = {**CFG, "steps": 6, "sample_every": 3, "ema": 0.9, "log_every": 2}
    one = images[labels == 0]
    train_gan(one, np.zeros(len(one), np.int64), 2, cfg, tmp_path / "base", "cpu", 0, "per_class", CLASSES,
              progress=False)  # fmt: skip
    start = {**cfg, "class_norm": True, "init_from": str(tmp_path / "base" / "checkpoint.pt"), "freeze_d": 1}
    _assert_resume_equal(images, labels, start, "conditional", tmp_path)
    base = torch.load(tmp_path / "base" / "checkpoint.pt", weights_only=True)["D"]
    tuned = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    gain = next(k for k in tuned["G"] if k.endswith("class_gain.weight"))
    assert not torch.equal(tuned["G"][gain][0], tuned["G"][gain][1])  # each class learnt its own offsets
    assert tuned["D"]["proj.weight"].abs().sum() > 0
    assert torch.equal(tuned["D"]["body.main.0.weight"], base["body.main.0.weight"])  # frozen first stage
    G, meta = load_generator(tmp_path / "straight" / "checkpoint.pt", "cpu")
    assert meta["arch"] == {"class_norm": True}
    a, b = (generate_images(G, meta, 4, y, 0, "cpu") for y in (0, 1))
    assert a.shape == (4, 32, 32, 1) and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="class_norm applies to conditional dcgan, wgan_gp, not per_class 'dcgan'"):
        build_gan("dcgan", "per_class", 1, 32, 2, 16, 8, 8, class_norm=True)
    with pytest.raises(ValueError, match="not conditional 'sngan'"):
        build_gan("sngan", "conditional", 1, 32, 2, 16, 8, 8, class_norm=True)


# ------------------------------------------------------------------ levers against narrow or repeated samples


@pytest.mark.parametrize("norm", [0.5, 2.0])
def test_r1_penalty_known_norm_and_gradient(norm):
    """D(x) = <w, x>: grad_x D = w for every image, so R1 = ||w||^2 and d/dw R1 = 2 w (zero-centred, unlike GP)."""
    from ganaug.gan.steps import r1_penalty

    w = torch.randn(1, 1, 8, 8)
    w = w / w.norm() * norm
    D = _Linear(w)
    r1 = r1_penalty(D, torch.randn(5, 1, 8, 8), None)
    assert r1.item() == pytest.approx(norm**2, rel=1e-5)
    r1.backward()
    assert torch.allclose(D.w.grad, 2 * w, atol=1e-5)


def test_minibatch_std_map_by_hand():
    """Groups of 4 (image i with i + M, M = N / 4): the appended map is each group's feature std (biased, over its
    images), averaged over features and positions; identical images give ~0, and N = 6 falls back to groups of 3."""
    from ganaug.gan.models import MinibatchStd

    x = torch.randn(8, 3, 2, 2)
    out = MinibatchStd()(x)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    groups = x.reshape(4, 2, 3, 2, 2)
    expected = groups.std(0, unbiased=False).mean(dim=(1, 2, 3))  # one value per group position m = 0, 1
    for i in range(8):
        assert torch.allclose(out[i, 3], torch.full((2, 2), expected[i % 2].item()), atol=1e-4)
    same = MinibatchStd()(x[:1].expand(8, 3, 2, 2).contiguous())
    assert same[:, 3].abs().max() < 1e-3
    assert MinibatchStd()(torch.randn(6, 2, 1, 1)).shape == (6, 3, 1, 1)


@pytest.mark.parametrize("mode", ["per_class", "conditional"])
def test_r1_and_minibatch_std_train_resume_and_transfer(xray32, tmp_path, mode):
    """The levers join the zoo's guarantees: training with them resumes to the same weights and losses as an
    uninterrupted run, their D has the extra head input, a fine-tuning starts from such a base, generation
    needs only G; and they change training (the weights differ from the plain recipe's)."""
    images, labels = _data(xray32, mode, 1)
    cfg = {**CFG, "steps": 6, "sample_every": 3, "ema": 0.9, "diffaugment": ["translation"], "log_every": 2,
           "r1_gamma": 1.0, "r1_every": 2, "minibatch_std": True}  # fmt: skip
    _assert_resume_equal(images, labels, cfg, mode, tmp_path)
    D = _g_weights(tmp_path / "straight", "D")
    _, plain_d = build_gan("dcgan", mode, 1, 32, 2, 16, 8, 8)
    assert D["head.weight"].shape[1] == plain_d.head.weight.shape[1] + 1  # the std map is one input more
    plain = {k: v for k, v in cfg.items() if k not in ("r1_gamma", "minibatch_std")}
    train_gan(images, labels, 2, plain, tmp_path / "plain", "cpu", 0, mode, CLASSES, progress=False)
    assert _max_diff(_g_weights(tmp_path / "straight"), _g_weights(tmp_path / "plain")) > 0
    no_r1 = {**cfg, "r1_gamma": 0.0}
    train_gan(images, labels, 2, no_r1, tmp_path / "no_r1", "cpu", 0, mode, CLASSES, progress=False)
    assert _max_diff(_g_weights(tmp_path / "straight"), _g_weights(tmp_path / "no_r1")) > 0
    if mode == "per_class":
        tuned = {**cfg, "init_from": str(tmp_path / "straight" / "checkpoint.pt"), "freeze_d": 1}
        out = train_gan(images, labels, 2, tuned, tmp_path / "tuned", "cpu", 1, mode, CLASSES, progress=False)
        assert out["status"] == "ok"
    G, meta = load_generator(tmp_path / "straight" / "checkpoint.pt", "cpu")  # G only: D's extra map is not needed
    label = None if mode == "per_class" else 1
    assert generate_images(G, meta, 4, label, 0, "cpu").shape == (4, 32, 32, 1)


def test_mode_seeking_loss_by_hand():
    """Each image paired with the next of its label (every consecutive pair unconditionally): 1 / (mean of
    mean|x_i - x_j| / mean|z_i - z_j| + 1e-5); images twice as far apart halve it; no same-label pair gives 0."""
    from ganaug.gan.steps import mode_seeking_loss

    x, z = torch.randn(6, 3, 4, 4, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1, 0, 2])

    def by_hand(pairs, scale=1.0):
        ratios = [(scale * (x[i] - x[j])).abs().mean() / (z[i] - z[j]).abs().mean() for i, j in pairs]
        return 1.0 / (sum(ratios) / len(ratios) + 1e-5)

    assert mode_seeking_loss(x, z, labels).item() == pytest.approx(by_hand([(0, 2), (2, 4), (1, 3)]).item())
    assert mode_seeking_loss(x, z, None).item() == pytest.approx(by_hand([(i, i + 1) for i in range(5)]).item())
    assert mode_seeking_loss(2 * x, z, None).item() == pytest.approx(
        by_hand([(i, i + 1) for i in range(5)], 2.0).item()
    )
    assert mode_seeking_loss(x, z, torch.arange(6)).item() == 0.0
    assert mode_seeking_loss(x[:1].expand(6, 3, 4, 4), z, None).item() == pytest.approx(1e5)  # collapsed: 1 / eps
    fake = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: mode_seeking_loss(f, z, labels), (fake,))


@pytest.mark.parametrize("mode", ["per_class", "conditional"])
def test_mode_seeking_trains_resumes_and_changes_training(xray32, tmp_path, mode):
    """mode_seeking joins the zoo's guarantees: an interrupted run resumes to the same weights and losses, a
    fine-tuning starts from it, it changes G's training (weights differ from mode_seeking 0) but not what
    losses.csv calls loss_g's first value (the adversarial loss of the same first batch), and < 0 is refused."""
    images, labels = _data(xray32, mode, 1)
    cfg = {**CFG, "steps": 6, "sample_every": 3, "ema": 0.9, "diffaugment": ["translation"], "log_every": 1,
           "mode_seeking": 1.0}  # fmt: skip
    _assert_resume_equal(images, labels, cfg, mode, tmp_path)
    off = {**cfg, "mode_seeking": 0.0}
    train_gan(images, labels, 2, off, tmp_path / "off", "cpu", 0, mode, CLASSES, progress=False)
    assert _max_diff(_g_weights(tmp_path / "straight"), _g_weights(tmp_path / "off")) > 0
    on_losses, off_losses = (pd.read_csv(tmp_path / d / "losses.csv") for d in ("straight", "off"))
    assert on_losses["loss_g"].iloc[0] == pytest.approx(off_losses["loss_g"].iloc[0], rel=1e-6)
    if mode == "per_class":
        tuned = {**cfg, "init_from": str(tmp_path / "straight" / "checkpoint.pt"), "freeze_d": 1}
        assert (
            train_gan(images, labels, 2, tuned, tmp_path / "tuned", "cpu", 1, mode, CLASSES, progress=False)["status"]
            == "ok"
        )
    with pytest.raises(ValueError, match="mode_seeking must be >= 0"):
        train_gan(images, labels, 2, {**cfg, "mode_seeking": -1.0}, tmp_path / "bad", "cpu", 0, mode, CLASSES,
                  progress=False)  # fmt: skip


def test_minibatch_std_is_refused_where_d_has_no_such_head():
    with pytest.raises(ValueError, match="minibatch_std applies to dcgan, wgan_gp, not 'sngan'"):
        build_gan("sngan", "per_class", 1, 32, 2, 16, 8, 8, minibatch_std=True)
    with pytest.raises(ValueError, match="r1_gamma must be >= 0"):
        train_gan(np.zeros((4, 32, 32, 1), np.uint8), np.zeros(4, np.int64), 2, {**CFG, "r1_gamma": -1.0}, "/tmp/x",
                  "cpu", 0, "per_class", CLASSES, progress=False)  # fmt: skip
