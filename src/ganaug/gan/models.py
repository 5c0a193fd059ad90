"""Generator architectures (GANs and one diffusion model), reached through one registry: ``MODELS[name] -> ModelSpec``.

Every model is built by :func:`build_gan` as a pair ``(G, D)`` with one calling
convention, so one training loop (``train.py``) serves all of them:

* ``G(z, labels=None) -> images (N, C, R, R)`` in [-1, 1];
* ``D(x, labels=None) -> scores``: ``(N,)`` logits for most models; ACGAN's D
  returns ``(N, 1 + K)`` (adversarial logit, then K class logits) and BAGAN's
  ``(N, K + 1)`` (K real classes, then "fake"). The loss named in the model's
  spec (``losses.py``) knows how to read them.

Unconditional networks ignore ``labels``; conditional ones require them.

=========  ======================  =====================  ==========  =======================
model      generator               discriminator          loss        modes
=========  ======================  =====================  ==========  =======================
mlp        fully connected         fully connected        bce         per_class, conditional
dcgan      DCGAN                   DCGAN (BatchNorm)      bce         per_class, conditional
wgan_gp    DCGAN                   critic, no norm        wgan_gp     per_class, conditional
sngan      DCGAN                   spectral norm          hinge       per_class, conditional
resgan     ResNet (cond. BN)       ResNet, spectral norm  hinge       per_class, conditional
acgan      DCGAN, conditional      DCGAN + class head     acgan       conditional only
bagan      decoder of an AE        encoder + K+1 head     bagan       conditional only
ddpm       U-Net + DDIM sampler    none                   eps_mse     per_class, conditional
=========  ======================  =====================  ==========  =======================

``ddpm`` is a diffusion model (``ModelSpec.kind == 'diffusion'``, see
``diffusion.py``): its builder returns ``(model, None)`` and the model,
called as ``G(z, labels)`` with ``z`` the flattened starting noise
(``nz = channels * R * R``), samples with DDIM; the training loop trains it
with its own step (``steps.diffusion_step``), not through a GAN loss.

DCGAN (Radford et al., 2016) is written after PyTorch's DCGAN example
(github.com/pytorch/examples, ``dcgan/main.py``): transposed convolutions with
BatchNorm and ReLU and a Tanh output for G; strided convolutions with
LeakyReLU(0.2) and BatchNorm (none on the first layer) for D; weights from
N(0, 0.02). The example is written for 64 px; here the number of stride-2
stages follows the resolution:

    resolution  start  stages   generator maps
        28        7      2      7 -> 14 -> 28
        32        4      3      4 -> 8 -> 16 -> 32
        64        4      4      4 -> 8 -> 16 -> 32 -> 64
       128        4      5      4 -> 8 -> 16 -> 32 -> 64 -> 128

Widths halve on the way up (G's first map has ``ngf * 2**(stages-1)`` channels)
and double on the way down (D's last map has ``ndf * 2**(stages-1)``).

Conditioning:

* DCGAN / WGAN-GP / MLP (``conditional``): G multiplies ``z`` by a learned
  class embedding (MLP: concatenates a one-hot); D sees the label as one extra
  R x R input channel (MLP: a concatenated one-hot).
* SNGAN (``conditional``): a projection discriminator (Miyato & Koyama 2018):
  ``D(x, y) = psi(phi(x)) + <embed(y), sum_pool(phi(x))>``.
* DCGAN / WGAN-GP with ``class_norm`` (``conditional`` only): the label enters every
  layer of G instead of scaling ``z`` — each BatchNorm's gain and bias get a per-class
  offset (:class:`ClassBatchNorm2d`, conditional BatchNorm as in Miyato & Koyama 2018 and
  BigGAN) — and D is a projection discriminator on its unchanged body (no label channel).
  Both offsets start at zero, so the network starts as the unconditional one for every
  label (what a transfer from the all-classes GAN needs: ``transfer.as_conditional``).
* ACGAN (Odena et al. 2017): G as conditional DCGAN; D gets no label and
  predicts it with an auxiliary head.
* BAGAN (Mariani et al. 2018): G is the decoder of an autoencoder and is
  conditioned only through its latent: ``z`` ~ N(0, I) is mapped to
  ``mu_y + L_y z``, a Gaussian fitted per class on the encoder's codes
  (buffers ``class_mu`` / ``class_chol``, set after autoencoder pre-training).
  D starts from the encoder and classifies into K classes + "fake".

WGAN-GP's critic has no normalisation (Gulrajani et al. 2017: batch norm
breaks the per-sample gradient penalty). SNGAN wraps every convolution,
linear layer and embedding of D in
``torch.nn.utils.parametrizations.spectral_norm``.

To add a model, write a builder with the signature of :func:`build_dcgan` and
register a :class:`ModelSpec` in :data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganaug.names import (
    CLASS_NORM_MODELS,
    CONDITIONAL_ONLY,
    DIFFUSION_MODELS,
    GAN_MODELS,
    MINIBATCH_STD_MODELS,
    check_registry,
)
from ganaug.names import GAN_MODES as MODES

from .common import geometry, need_labels
from .diffusion import build_ddpm
from .resgan import build_resgan

CHANNELS = (1, 3)


def weights_init(m: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- generators


class ClassBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose gain and bias get a per-class offset: ``x_hat * (w + dw[y]) + (b + db[y])``.

    ``w``, ``b`` and the running statistics are an ordinary ``nn.BatchNorm2d``'s (same state-dict
    keys), ``dw`` and ``db`` are ``nn.Embedding(num_classes, channels)`` rows that start at zero.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__(channels)
        self.class_gain = nn.Embedding(num_classes, channels)
        self.class_bias = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.class_gain.weight)
        nn.init.zeros_(self.class_bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.training:
            self.num_batches_tracked.add_(1)
        h = F.batch_norm(x, self.running_mean, self.running_var, None, None, self.training, self.momentum, self.eps)
        gain = (self.weight + self.class_gain(labels))[:, :, None, None].to(h.dtype)
        return h * gain + (self.bias + self.class_bias(labels))[:, :, None, None].to(h.dtype)


class Generator(nn.Module):
    """DCGAN generator: z (N, nz) -> image (N, channels, R, R) in [-1, 1].

    Conditional (``num_classes``): ``z`` is multiplied by a class embedding, or, with
    ``class_norm``, every BatchNorm is a :class:`ClassBatchNorm2d` and ``z`` is left alone.
    """

    def __init__(
        self, nz: int, ngf: int, channels: int, resolution: int, num_classes: int | None = None,
        class_norm: bool = False,
    ):  # fmt: skip
        super().__init__()
        start, stages = geometry(resolution)
        self.nz = nz
        self.class_norm = bool(class_norm and num_classes)
        self.label_emb = nn.Embedding(num_classes, nz) if num_classes and not self.class_norm else None

        def norm(width: int) -> nn.Module:
            return ClassBatchNorm2d(width, num_classes) if self.class_norm else nn.BatchNorm2d(width)

        width = ngf * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, width, start, 1, 0, bias=False),  # z as a 1x1 map -> start x start
            norm(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):  # each stage doubles the size and halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                norm(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_emb is not None:
            z = z * self.label_emb(need_labels(labels, "generator"))
        h = z.reshape(z.size(0), self.nz, 1, 1)
        if not self.class_norm:
            return self.main(h)
        labels = need_labels(labels, "generator")
        for layer in self.main:
            h = layer(h, labels) if isinstance(layer, ClassBatchNorm2d) else layer(h)
        return h


class MLPGenerator(nn.Module):
    """Fully connected generator: widths ngf*8, ngf*16, ngf*32, LeakyReLU(0.2), Tanh output."""

    def __init__(self, nz: int, ngf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        self.shape = (channels, resolution, resolution)
        self.num_classes = num_classes or 0
        widths = [nz + self.num_classes, ngf * 8, ngf * 16, ngf * 32]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Linear(widths[-1], channels * resolution * resolution), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, F.one_hot(need_labels(labels, "generator"), self.num_classes).to(z.dtype)], 1)
        return self.main(z).reshape(z.size(0), *self.shape)


class LatentGaussianGenerator(nn.Module):
    """BAGAN generator: a DCGAN decoder fed ``mu_y + L_y z`` (class-conditional Gaussian latents).

    ``class_mu`` (K, nz) and ``class_chol`` (K, nz, nz) are buffers, so they
    travel in the state dict; until :meth:`set_class_gaussians` is called they
    are 0 and the identity (the latent is plain N(0, I)).
    """

    def __init__(self, nz: int, ngf: int, channels: int, resolution: int, num_classes: int):
        super().__init__()
        self.decoder = Generator(nz, ngf, channels, resolution, None)
        self.register_buffer("class_mu", torch.zeros(num_classes, nz))
        self.register_buffer("class_chol", torch.eye(nz).repeat(num_classes, 1, 1))

    @torch.no_grad()
    def set_class_gaussians(self, mu: torch.Tensor, chol: torch.Tensor) -> None:
        self.class_mu.copy_(mu)
        self.class_chol.copy_(chol)

    def latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.class_mu[labels] + torch.bmm(self.class_chol[labels], z.unsqueeze(-1)).squeeze(-1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.latent(z, need_labels(labels, "generator")))


# ------------------------------------------------------------------------ discriminators


class ConvBody(nn.Module):
    """DCGAN discriminator body: image (N, C, R, R) -> features (N, width, start, start).

    ``norm``: 'batch' (DCGAN: BatchNorm after every conv but the first),
    'none' (WGAN-GP critic) or 'spectral' (SNGAN: every conv spectrally
    normalised, no BatchNorm).
    """

    def __init__(self, ndf: int, in_channels: int, resolution: int, norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "none", "spectral"):
            raise ValueError(f"unknown discriminator norm {norm!r}")
        start, stages = geometry(resolution)
        spectral = norm == "spectral"

        def conv(a: int, b: int) -> nn.Module:
            layer = nn.Conv2d(a, b, 4, 2, 1, bias=norm != "batch")
            weights_init(layer)  # before any parametrization, which would hide the raw weight
            return spectral_norm(layer) if spectral else layer

        width = ndf
        layers: list[nn.Module] = [conv(in_channels, width), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):  # each stage halves the size and doubles the width
            layers.append(conv(width, width * 2))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width * 2))
                weights_init(layers[-1])
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        self.main = nn.Sequential(*layers)
        self.width, self.start = width, start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN section 3): one feature map more.

    The batch is split into groups of ``group`` images (the largest divisor of N up to it; image
    i is grouped with i + M, i + 2M, ... for M = N / group); per group, the standard deviation
    of every feature over its images, averaged over features and positions, becomes a constant
    map appended to each of its images. D can then see a batch whose images are all alike - the
    repeated layouts of a collapsing G - which it cannot from one image at a time.
    """

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = int(group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = next(k for k in range(min(self.group, n), 0, -1) if n % k == 0)
        y = x.float().reshape(g, n // g, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (N / g,)
        y = y.reshape(1, n // g, 1, 1, 1).expand(g, n // g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)


class Discriminator(nn.Module):
    """DCGAN-style discriminator / critic: image (N, C, R, R) -> logits (N,).

    Conditional (``num_classes``): the label becomes one extra R x R input
    channel (an ``nn.Embedding(num_classes, R*R)`` row), so the first
    convolution sees the class at every pixel; with ``projection``, the body takes the image
    alone and the label adds ``<proj(y), sum_pool(h)>`` to the logit (Miyato & Koyama 2018;
    ``proj`` starts at zero). ``minibatch_std``: a :class:`MinibatchStd` map joins the last
    features before the head.
    """

    def __init__(
        self, ndf: int, channels: int, resolution: int, num_classes: int | None = None, norm: str = "batch",
        minibatch_std: bool = False, projection: bool = False,
    ):  # fmt: skip
        super().__init__()
        self.resolution = resolution
        channel = bool(num_classes) and not projection
        self.label_map = nn.Embedding(num_classes, resolution * resolution) if channel else None
        self.body = ConvBody(ndf, channels + (1 if channel else 0), resolution, norm)
        self.proj = nn.Embedding(num_classes, self.body.width) if num_classes and projection else None
        if self.proj is not None:
            nn.init.zeros_(self.proj.weight)
        self.mbstd = MinibatchStd() if minibatch_std else None
        width = self.body.width + (1 if minibatch_std else 0)
        self.head = nn.Conv2d(width, 1, self.body.start, 1, 0, bias=False)  # start x start -> 1x1
        weights_init(self.head)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_map is not None:
            r = self.resolution
            maps = self.label_map(need_labels(labels, "discriminator")).reshape(-1, 1, r, r).to(x.dtype)
            x = torch.cat([x, maps], dim=1)
        h = self.body(x)
        out = self.head(h if self.mbstd is None else self.mbstd(h)).reshape(-1)
        if self.proj is not None:
            out = out + (self.proj(need_labels(labels, "discriminator")) * h.sum(dim=(2, 3))).sum(1)
        return out


class SNDiscriminator(nn.Module):
    """SNGAN discriminator: every layer spectrally normalised; conditional form is a projection D."""

    def __init__(self, ndf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        self.body = ConvBody(ndf, channels, resolution, norm="spectral")
        head = nn.Conv2d(self.body.width, 1, self.body.start, 1, 0)
        weights_init(head)
        self.head = spectral_norm(head)
        self.embed = spectral_norm(nn.Embedding(num_classes, self.body.width)) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        out = self.head(h).reshape(-1)
        if self.embed is not None:
            pooled = h.sum(dim=(2, 3))  # (N, width)
            out = out + (self.embed(need_labels(labels, "discriminator")) * pooled).sum(1)
        return out


class MLPDiscriminator(nn.Module):
    """Fully connected discriminator: widths ndf*32, ndf*16, ndf*8, LeakyReLU(0.2) -> logits (N,)."""

    def __init__(self, ndf: int, channels: int, resolution: int, num_classes: int | None = None):
        super().__init__()
        self.num_classes = num_classes or 0
        widths = [channels * resolution * resolution + self.num_classes, ndf * 32, ndf * 16, ndf * 8]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Linear(widths[-1], 1))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = x.reshape(x.size(0), -1)
        if self.num_classes:
            x = torch.cat([x, F.one_hot(need_labels(labels, "discriminator"), self.num_classes).to(x.dtype)], 1)
        return self.main(x).reshape(-1)


class ClassifierDiscriminator(nn.Module):
    """DCGAN body with linear heads on the flattened features; takes no label.

    ACGAN: ``outputs = 1 + K`` (adversarial logit, then class logits).
    BAGAN: ``outputs = K + 1`` (class logits, the last one meaning "fake").
    """

    def __init__(self, ndf: int, channels: int, resolution: int, outputs: int):
        super().__init__()
        self.body = ConvBody(ndf, channels, resolution, norm="batch")
        self.head = nn.Linear(self.body.width * self.body.start**2, outputs)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


class Encoder(nn.Module):
    """BAGAN encoder: the discriminator's body and a linear map to a latent code (N, nz)."""

    def __init__(self, nz: int, ndf: int, channels: int, resolution: int):
        super().__init__()
        self.body = ConvBody(ndf, channels, resolution, norm="batch")
        self.head = nn.Linear(self.body.width * self.body.start**2, nz)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


# ------------------------------------------------------------------------------ builders


def build_dcgan(mode, channels, resolution, num_classes, nz, ngf, ndf, minibatch_std=False, class_norm=False):
    cond = num_classes if mode == "conditional" else None
    D = Discriminator(ndf, channels, resolution, cond, minibatch_std=minibatch_std, projection=class_norm)
    return Generator(nz, ngf, channels, resolution, cond, class_norm), D


def build_mlp(mode, channels, resolution, num_classes, nz, ngf, ndf):
    cond = num_classes if mode == "conditional" else None
    return MLPGenerator(nz, ngf, channels, resolution, cond), MLPDiscriminator(ndf, channels, resolution, cond)


def build_wgan_gp(mode, channels, resolution, num_classes, nz, ngf, ndf, minibatch_std=False, class_norm=False):
    cond = num_classes if mode == "conditional" else None
    D = Discriminator(ndf, channels, resolution, cond, norm="none", minibatch_std=minibatch_std, projection=class_norm)
    return Generator(nz, ngf, channels, resolution, cond, class_norm), D


def build_sngan(mode, channels, resolution, num_classes, nz, ngf, ndf):
    cond = num_classes if mode == "conditional" else None
    return Generator(nz, ngf, channels, resolution, cond), SNDiscriminator(ndf, channels, resolution, cond)


def build_acgan(mode, channels, resolution, num_classes, nz, ngf, ndf):
    return (
        Generator(nz, ngf, channels, resolution, num_classes),
        ClassifierDiscriminator(ndf, channels, resolution, 1 + num_classes),
    )


def build_bagan(mode, channels, resolution, num_classes, nz, ngf, ndf):
    return (
        LatentGaussianGenerator(nz, ngf, channels, resolution, num_classes),
        ClassifierDiscriminator(ndf, channels, resolution, num_classes + 1),
    )


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[..., tuple[nn.Module, nn.Module | None]]
    loss: str
    modes: tuple[str, ...] = MODES
    description: str = ""
    kind: str = "gan"  # 'gan': (G, D) trained adversarially; 'diffusion': (model, None), see diffusion.py


#: model name -> spec (builder(mode, channels, resolution, num_classes, nz, ngf, ndf), loss, modes)
MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(build_mlp, "bce", description="fully connected GAN (the fuzzy-image baseline)"),
    "dcgan": ModelSpec(build_dcgan, "bce", description="DCGAN; conditional form = cDCGAN"),
    "wgan_gp": ModelSpec(build_wgan_gp, "wgan_gp", description="WGAN-GP: critic without norm, gradient penalty"),
    "sngan": ModelSpec(build_sngan, "hinge", description="spectral-norm D, hinge loss; conditional = projection D"),
    "resgan": ModelSpec(build_resgan, "hinge", description="SNGAN ResNet G/D; conditional = cBN in G + projection D"),
    "acgan": ModelSpec(build_acgan, "acgan", ("conditional",), "auxiliary-classifier GAN (inherently conditional)"),
    "bagan": ModelSpec(build_bagan, "bagan", ("conditional",), "balancing GAN with AE init (inherently conditional)"),
    "ddpm": ModelSpec(build_ddpm, "eps_mse", description="diffusion: U-Net, cosine schedule, DDIM", kind="diffusion"),
}
check_registry("GAN model", MODELS, GAN_MODELS)
check_registry(
    "conditional-only GAN model", (m for m, s in MODELS.items() if s.modes == ("conditional",)), CONDITIONAL_ONLY
)
check_registry("diffusion model", (m for m, s in MODELS.items() if s.kind == "diffusion"), DIFFUSION_MODELS)


def check_model_mode(model: str, mode: str) -> None:
    """Raise ``ValueError`` if ``model`` is unknown or cannot run in ``mode``."""
    if model not in MODELS:
        raise ValueError(f"unknown GAN model {model!r}; allowed: {', '.join(MODELS)}")
    if mode not in MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; allowed: {', '.join(MODES)}")
    if mode not in MODELS[model].modes:
        raise ValueError(f"GAN model {model!r} is inherently conditional: mode must be 'conditional', not {mode!r}")


def build_gan(
    model: str, mode: str, channels: int, resolution: int, num_classes: int, nz: int, ngf: int, ndf: int,
    minibatch_std: bool = False, class_norm: bool = False, **arch,
) -> tuple[nn.Module, nn.Module | None]:  # fmt: skip
    """Build ``(G, D)`` for ``model`` in ``mode`` ('per_class' or 'conditional'); ``(model, None)`` for ddpm.

    ``minibatch_std``: D appends a :class:`MinibatchStd` map (:data:`MINIBATCH_STD_MODELS` only).
    ``class_norm``: conditional BatchNorm in G and a projection D (:data:`CLASS_NORM_MODELS`, conditional only).
    ``arch``: a diffusion model's own settings (``diffusion.ARCH_DEFAULTS``); GANs take none.
    Raises ``ValueError`` naming the offending value and the allowed ones.
    """
    if minibatch_std and model not in MINIBATCH_STD_MODELS:
        raise ValueError(f"GAN setting minibatch_std applies to {', '.join(MINIBATCH_STD_MODELS)}, not {model!r}")
    if class_norm and (model not in CLASS_NORM_MODELS or mode != "conditional"):
        raise ValueError(
            f"GAN setting class_norm applies to conditional {', '.join(CLASS_NORM_MODELS)}, not {mode} {model!r}"
        )
    check_model_mode(model, mode)
    if channels not in CHANNELS:
        raise ValueError(f"channels {channels!r} not supported; allowed: {', '.join(map(str, CHANNELS))}")
    if mode == "conditional" and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"conditional GAN needs num_classes >= 1, got {num_classes!r}")
    if MODELS[model].kind == "diffusion":
        return MODELS[model].build(mode, channels, resolution, num_classes, nz, ngf, ndf, **arch)
    if arch:
        raise ValueError(f"GAN model {model!r} takes no setting(s) {', '.join(sorted(arch))} (diffusion only)")
    geometry(resolution)
    for name, value in (("nz", nz), ("ngf", ngf), ("ndf", ndf)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    extra = {"minibatch_std": True} if minibatch_std else {}
    if class_norm:
        extra["class_norm"] = True
    return MODELS[model].build(mode, channels, resolution, num_classes, nz, ngf, ndf, **extra)
