"""The diffusion generator (ddpm): U-Net shapes, cosine schedule, guidance, DDIM, resume, train -> generate, DAG."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from ganaug.gan import MODELS, build_gan, generate_samples, load_generator, train_gan
from ganaug.gan.diffusion import DDPM, UNet, cosine_alpha_bar
from ganaug.gan.selection import fid_curve, select_step
from ganaug.gan.train import resolve_settings
from ganaug.io import read_json
from helpers import REPO, tiny_config, xray_pairs

CLASSES = ["NORMAL", "PNEUMONIA"]
N = 16
#: a tiny ddpm: 8 wide, two levels, 4 DDIM steps
CFG = dict(
    model="ddpm", steps=4, batch_size=8, ngf=8, lr_g=2.0e-4, beta1=0.9, beta2=0.999, sample_every=2, seed=0,
    channel_mult=[1, 2], timesteps=100, sample_steps=4,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def xray32():
    return xray_pairs(N)


def test_registry_entry():
    spec = MODELS["ddpm"]
    assert spec.kind == "diffusion" and spec.modes == ("per_class", "conditional")
    model, D = build_gan("ddpm", "conditional", 1, 32, 2, 0, 8, 0, channel_mult=[1, 2])
    assert isinstance(model, DDPM) and D is None
    with pytest.raises(ValueError, match="unknown ddpm setting"):
        build_gan("ddpm", "per_class", 1, 32, 2, 0, 8, 0, heads=4)
    with pytest.raises(ValueError, match="takes no setting"):
        build_gan("dcgan", "per_class", 1, 32, 2, 16, 8, 8, timesteps=10)
    with pytest.raises(ValueError, match="resolution 28 must be divisible by 2\\*\\*3"):
        build_gan("ddpm", "per_class", 1, 28, 2, 0, 8, 0, channel_mult=[1, 2, 2, 2])


@pytest.mark.parametrize("resolution", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [None, 2])
def test_unet_output_shapes(resolution, channels, num_classes):
    net = UNet(channels, 8, (1, 2, 2), res_blocks=1, num_classes=num_classes)
    x = torch.randn(3, channels, resolution, resolution)
    labels = torch.tensor([0, 1, 2]) if num_classes else None  # 2 = the null class
    out = net(x, torch.tensor([1, 50, 1000]), labels)
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # zero-initialised output conv: the untrained net predicts no noise


def test_cosine_schedule_known_values():
    T, s = 1000, 0.008
    a = cosine_alpha_bar(T)
    assert a.shape == (T + 1,) and a[0] == 1.0
    assert (a[1:] < a[:-1]).all()  # strictly decreasing
    assert a[T] < 1e-8 and a[1] > 0.9999
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731 - the paper's f(t)
    assert a[T // 2].item() == pytest.approx(f(T / 2) / f(0), rel=1e-9)  # = 0.4938 (no beta clipping there)
    betas = 1 - a[1:] / a[:-1]
    assert betas.max().item() == pytest.approx(0.999)  # clipped at the last step only


def _conditional_model() -> DDPM:
    torch.manual_seed(0)
    model = DDPM(1, 32, 8, num_classes=2, channel_mult=(1, 2), timesteps=100, sample_steps=4).eval()
    with torch.no_grad():  # non-zero output layers, so the label matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_guidance_zero_is_unconditional_one_is_conditional():
    model = _conditional_model()
    x, t, y = torch.randn(4, 1, 32, 32), torch.tensor([10, 40, 70, 100]), torch.tensor([0, 1, 0, 1])
    null = torch.full_like(y, 2)
    with torch.no_grad():
        cond, uncond = model.unet(x, t, y), model.unet(x, t, null)
        assert not torch.allclose(cond, uncond)
        torch.testing.assert_close(model.eps(x, t, y, 0.0), uncond)
        torch.testing.assert_close(model.eps(x, t, y, 1.0), cond)
        torch.testing.assert_close(model.eps(x, t, y, 3.0), uncond + 3.0 * (cond - uncond), rtol=1e-4, atol=1e-5)


def test_ddim_is_deterministic_and_in_range():
    model = _conditional_model()
    y = torch.tensor([0, 1, 1])
    with torch.no_grad():
        z = torch.randn(3, 32 * 32, generator=torch.Generator().manual_seed(5))
        a, b = model(z, y), model(z.clone(), y)
        c = model(torch.randn(3, 32 * 32, generator=torch.Generator().manual_seed(6)), y)
    assert a.shape == (3, 1, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    assert model.ddim_steps() == [100, 75, 50, 25, 0]


class _Oracle(torch.nn.Module):
    """The exact noise predictor for a data set of one image ``target``: eps = (x_t - sqrt(a_t) x0) / sqrt(1 - a_t)."""

    def __init__(self, target: torch.Tensor, alpha_bar: torch.Tensor):
        super().__init__()
        self.target, self.alpha_bar = target, alpha_bar

    def forward(self, x, t, labels=None):
        a = self.alpha_bar[t].reshape(-1, 1, 1, 1)
        return (x - a.sqrt() * self.target) / (1 - a).sqrt()


def test_ddim_with_the_exact_noise_lands_on_the_data_and_the_loss_is_zero():
    """With a perfect noise predictor the schedule, the noising and the DDIM update agree: every start lands on
    the one training image, and the training loss is 0."""
    model = DDPM(1, 32, 8, channel_mult=(1, 2), timesteps=100, sample_steps=7)
    target = torch.rand(1, 1, 32, 32) * 1.8 - 0.9
    model.unet = _Oracle(target, model.alpha_bar)
    out = model(torch.randn(4, 32 * 32, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(out, target.expand(4, -1, -1, -1), atol=1e-4, rtol=0)
    loss = model.loss(target.expand(8, -1, -1, -1), None, torch.Generator().manual_seed(0), 0.0)
    assert loss.item() < 1e-8


def test_settings_are_checked():
    assert resolve_settings(CFG)["ema"] == 0.999  # EMA on by default for diffusion
    with pytest.raises(ValueError, match="sample_steps \\(200\\) exceeds timesteps \\(100\\)"):
        resolve_settings({**CFG, "sample_steps": 200})
    with pytest.raises(ValueError, match="p_uncond must be in"):
        resolve_settings({**CFG, "p_uncond": 1.0})
    with pytest.raises(ValueError, match="apply to diffusion models only"):
        resolve_settings({**CFG, "model": "dcgan", "nz": 8, "ndf": 8, "lr_d": 2.0e-4})


def _weights(path, key="G"):
    return torch.load(path / "checkpoint.pt", weights_only=True)[key]


def test_resume_equals_uninterrupted(xray32, tmp_path):
    """6 steps straight vs 3, stop, 3 more from the saved state: bit-identical weights, EMA and losses."""
    images, labels = xray32
    cfg = {**CFG, "steps": 6, "sample_every": 3, "log_every": 2, "sample_steps": 2}
    train_gan(images, labels, 2, cfg, tmp_path / "straight", "cpu", 0, "conditional", CLASSES, progress=False)
    first = train_gan(images, labels, 2, cfg, tmp_path / "split", "cpu", 0, "conditional", CLASSES, progress=False,
                      stop_after=3)  # fmt: skip
    assert first["status"] == "stopped"
    again = train_gan(images, labels, 2, cfg, tmp_path / "split", "cpu", 0, "conditional", CLASSES, progress=False)
    assert again["resumed_from"] == 3
    for key in ("G", "G_ema"):
        a, b = _weights(tmp_path / "straight", key), _weights(tmp_path / "split", key)
        assert all(torch.equal(a[k], b[k]) for k in a), key
    assert _weights(tmp_path / "split", "D") is None
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "straight" / "losses.csv"), pd.read_csv(tmp_path / "split" / "losses.csv")
    )


def test_train_then_generate_per_class(xray32, tmp_path):
    """train_gan -> snapshots, grids, losses.csv (step, loss) -> FID curve -> generate_samples, as the DAG does."""
    from ganaug.metrics import extract_features, feature_stats

    images, labels = xray32
    keep = labels == 0
    summary = train_gan(images[keep], labels[keep], 2, CFG, tmp_path, "cpu", 0, "per_class", CLASSES, progress=False)
    assert summary["status"] == "ok" and summary["steps"] == 4
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert list(losses.columns) == ["step", "loss"] and losses["step"].tolist() == [1, 2, 3, 4]
    assert np.isfinite(losses["loss"]).all()
    assert read_json(tmp_path / "status.json")["status"] == "ok"
    assert all((tmp_path / f).exists() for f in ("grid.png", "grid_step000002.png", "grid_step000004.png"))

    G, meta = load_generator(tmp_path / "snapshots.pt", "cpu", step=2)
    assert isinstance(G, DDPM) and meta["nz"] == 32 * 32 and meta["arch"]["sample_steps"] == 4
    mu, sigma = feature_stats(extract_features(images[keep][:8], device="cpu"))
    curve = fid_curve(tmp_path / "snapshots.pt", {"NORMAL": {"mu": mu, "sigma": sigma}}, n=4, seed=0, device="cpu",
                      progress=False)  # fmt: skip
    assert curve["step"].tolist() == [2, 4] and (curve["fid"] > 0).all()
    step = select_step(curve, "best_fid")
    ckpt = {"NORMAL": tmp_path / "snapshots.pt"}
    out, out_labels = generate_samples(ckpt, "per_class", CLASSES, 5, seed=3, device="cpu", steps={"NORMAL": step})
    again, _ = generate_samples(ckpt, "per_class", CLASSES, 5, seed=3, device="cpu", steps={"NORMAL": step})
    assert out.shape == (5, 32, 32, 1) and out.dtype == np.uint8 and (out_labels == 0).all()
    assert np.array_equal(out, again)  # the DDIM noise comes from generate's seed


def test_a_diffusion_model_is_no_transfer_start_or_target(xray32, tmp_path):
    """train_gan refuses init_from with a ddpm on either side (the config check refuses a ddpm cell's
    transfer block; this is a direct call) in one line naming the checkpoint, before it writes anything."""
    images, labels = xray32
    gan_cfg = dict(
        model="dcgan", steps=2, batch_size=8, nz=16, ngf=8, ndf=8, lr_g=2.0e-4, lr_d=2.0e-4, beta1=0.5, beta2=0.999,
        sample_every=2,
    )  # fmt: skip
    for name, cfg in (("ddpm", CFG), ("dcgan", gan_cfg)):
        train_gan(images, labels, 2, cfg, tmp_path / name, "cpu", 0, "conditional", CLASSES, progress=False)
    ddpm_ckpt, gan_ckpt = (str(tmp_path / name / "checkpoint.pt") for name in ("ddpm", "dcgan"))
    for cfg, ckpt, what in (
        (gan_cfg, ddpm_ckpt, "it holds the diffusion model 'ddpm'"),  # a GAN started from a ddpm
        (CFG, gan_ckpt, "this run's model 'ddpm' is a diffusion model"),  # a ddpm started from a GAN
        (CFG, ddpm_ckpt, "this run's model 'ddpm' is a diffusion model"),
    ):
        with pytest.raises(ValueError) as err:
            train_gan(images, labels, 2, {**cfg, "init_from": ckpt}, tmp_path / "bad", "cpu", 0, "conditional",
                      CLASSES, progress=False)  # fmt: skip
        assert str(err.value) == (
            f"GAN setting init_from = {ckpt}: {what}; diffusion models cannot be transfer starts or targets "
            "(FreezeD transfer fine-tunes a GAN's discriminator)"
        )
    assert not (tmp_path / "bad").exists()


def test_ddpm_cell_in_a_dry_run(tmp_path):
    """The tiny config plus a conditional ddpm cell: Snakemake schedules its training, FID curve, generation,
    metrics and classifiers like any GAN cell's."""
    cfg = tiny_config()
    cfg["gans"]["ddpm"] = {"model": "ddpm", "mode": "conditional", "ngf": 8}
    (tmp_path / "ddpm.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable, "-m", "snakemake", "all", "-n", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(tmp_path / "ddpm.yaml"), "--cores", "2",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for path in (
        "results/gan/ddpm/rep0/conditional/checkpoint.pt",
        "results/gan/ddpm/rep0/conditional/fid_curve.csv",
        "results/gan/ddpm/rep0/samples.npz",
        "results/metrics/gan/ddpm/rep0/NORMAL.json",
    ):
        assert path in proc.stdout, path
    assert "results/classifier/none/ddpm/" in proc.stdout


def test_nan_loss_stops_and_keeps_last_good_checkpoint(xray32, tmp_path, monkeypatch):
    real_loss = DDPM.loss

    def loss(self, *args, calls=[0]):  # noqa: B006 - call counter
        calls[0] += 1
        value = real_loss(self, *args)
        return value * float("nan") if calls[0] == 3 else value

    monkeypatch.setattr(DDPM, "loss", loss)
    images, labels = xray32
    cfg = {**CFG, "steps": 6, "log_every": 1, "sample_steps": 2}
    summary = train_gan(images, labels, 2, cfg, tmp_path, "cpu", 0, "conditional", CLASSES, progress=False)
    assert summary["status"] == "diverged" and summary["steps"] == 2
    status = read_json(tmp_path / "status.json")
    assert status["diverged"]["step"] == 3 and "loss=nan" in status["message"]
    assert pd.read_csv(tmp_path / "losses.csv")["step"].tolist() == [1, 2, 3]
    G, meta = load_generator(tmp_path / "snapshots.pt", "cpu")
    assert meta["step"] == 2


def test_bf16_autocast_trains(xray32, tmp_path):
    images, labels = xray32
    summary = train_gan(images, labels, 2, {**CFG, "steps": 2, "amp": "bf16", "sample_steps": 2}, tmp_path, "cpu", 0,
                        "conditional", CLASSES, progress=False)  # fmt: skip
    assert summary["status"] == "ok" and math.isfinite(summary["loss"])
