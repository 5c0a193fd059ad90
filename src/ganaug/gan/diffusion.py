"""A small denoising diffusion model (DDPM) behind the generators' interface.

Training (Ho et al. 2020): an image ``x0`` in [-1, 1] is noised to
``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps`` for a random step ``t`` in 1..T and
noise ``eps`` ~ N(0, I); a U-Net predicts ``eps`` from ``(x_t, t)`` and the
loss is the mean squared error (:meth:`DDPM.loss`). ``a_t`` ("alpha bar") is
the cosine schedule of Nichol & Dhariwal (2021), :func:`cosine_alpha_bar`.

Sampling: deterministic DDIM (Song et al. 2021, eta = 0) in ``sample_steps``
steps from T down to 0. The only randomness is the starting noise ``x_T``, so
:class:`DDPM` is called like a GAN generator, ``G(z, labels) -> images``,
with ``z`` the flattened starting noise (``nz = channels * R * R``):
``generate_images`` draws ``z`` from its seed and everything downstream
(sample grids, the FID curve, ``generate``) works unchanged.

Conditional mode: a class embedding is added to the time embedding, and
classifier-free guidance (Ho & Salimans 2022): during training the label is
replaced by a null class (index ``num_classes``) with probability
``p_uncond``; at sampling ``eps = eps_null + guidance * (eps_y - eps_null)``,
so guidance 0 is the unconditional model, 1 the conditional one, > 1 trades
diversity for fidelity to the class.

The U-Net (after the DDPM one, much smaller): a 3x3 stem, then per level
``res_blocks`` residual blocks (GroupNorm, SiLU, 3x3 conv; the time embedding
added between the convs) of width ``base * channel_mult[level]`` and a
stride-2 conv down; a middle of residual block, self-attention, residual
block at the lowest resolution (the only attention); the mirror image up with
skip connections and nearest-neighbour upsampling; GroupNorm, SiLU, 3x3 conv
out. The last conv of each block and of the output starts at zero, so the
untrained network predicts zero noise.

    32 px, channel_mult [1, 2, 2]:  32 -> 16 -> 8 (attention at 8 x 8)
    28 px, channel_mult [1, 2, 2]:  28 -> 14 -> 7 (attention at 7 x 7)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: settings of the model itself (stored in the checkpoint's ``meta['arch']``) and their defaults
ARCH_DEFAULTS = {"channel_mult": (1, 2, 2), "res_blocks": 1, "timesteps": 1000, "sample_steps": 50, "guidance": 1.0}


def cosine_alpha_bar(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """``alpha_bar(t)`` for t = 0..T (float64, length T + 1), Nichol & Dhariwal (2021), eq. 17.

    ``f(t) = cos((t / T + s) / (1 + s) * pi / 2) ** 2``, ``alpha_bar(t) = f(t) / f(0)``, with the
    per-step ``beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1)`` clipped at ``max_beta`` (0.999, as
    in the paper) so the last steps are not singular; ``alpha_bar(0) = 1``.
    """
    t = torch.arange(timesteps + 1, dtype=torch.float64)
    f = torch.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (integer) steps ``t`` (N,) -> (N, dim), as in the Transformer and DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)  # 32 groups, fewer for narrow layers


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv; + embedding; GroupNorm, SiLU, conv (zero-init); + the (1x1-projected) input."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, residual (output projection zero-init)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(-1, -2).unbind(1)  # (n, hw, c) each
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """Noise predictor ``eps(x_t, t, y)``: (N, C, R, R), steps (N,), labels (N,) or None -> (N, C, R, R).

    ``num_classes``: conditional; the label embedding has ``num_classes + 1`` rows, the last one
    being the null class of classifier-free guidance.
    """

    def __init__(self, channels: int, base: int, channel_mult=(1, 2, 2), res_blocks: int = 1, num_classes=None):
        super().__init__()
        self.base, emb_dim = base, 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(channels, base, 3, padding=1)

        widths = [base * m for m in channel_mult]
        self.down, skips, c = nn.ModuleList(), [base], base
        for level, width in enumerate(widths):
            for _ in range(res_blocks):
                self.down.append(ResBlock(c, width, emb_dim))
                c = width
                skips.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid1, self.attn, self.mid2 = ResBlock(c, c, emb_dim), SelfAttention(c), ResBlock(c, c, emb_dim)
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(c + skips.pop(), width, emb_dim))
                c = width
            if level > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1))
                )
        self.out = nn.Sequential(_norm(c), nn.SiLU(), _zero(nn.Conv2d(c, channels, 3, padding=1)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.base))
        if self.label_emb is not None:
            if labels is None:
                raise ValueError("conditional U-Net: labels are required (the null class for unconditional)")
            emb = emb + self.label_emb(labels)
        h = self.stem(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for layer in self.up:
            h = layer(torch.cat([h, hs.pop()], 1), emb) if isinstance(layer, ResBlock) else layer(h)
        return self.out(h)


class DDPM(nn.Module):
    """A U-Net with its noise schedule and DDIM sampler; ``forward(z, labels)`` samples like a GAN generator.

    ``z``: (N, C * R * R) or (N, C, R, R) starting noise; returns (N, C, R, R) images in [-1, 1].
    """

    def __init__(
        self, channels: int, resolution: int, base: int, num_classes: int | None = None,
        channel_mult=ARCH_DEFAULTS["channel_mult"], res_blocks: int = 1, timesteps: int = 1000,
        sample_steps: int = 50, guidance: float = 1.0,
    ):  # fmt: skip
        super().__init__()
        channel_mult = tuple(int(m) for m in channel_mult)
        if not channel_mult or min(channel_mult) < 1:
            raise ValueError(f"ddpm channel_mult must be a non-empty list of positive integers, got {channel_mult!r}")
        if resolution % 2 ** (len(channel_mult) - 1):
            raise ValueError(
                f"ddpm channel_mult {list(channel_mult)} has {len(channel_mult)} levels: resolution {resolution} "
                f"must be divisible by 2**{len(channel_mult) - 1}"
            )
        for name, value in (("ngf", base), ("res_blocks", res_blocks), ("timesteps", timesteps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ddpm {name} must be a positive integer, got {value!r}")
        if not 1 <= int(sample_steps) <= timesteps:
            raise ValueError(f"ddpm sample_steps must be in [1, timesteps={timesteps}], got {sample_steps!r}")
        if base % 2:
            raise ValueError(f"ddpm ngf (base width) must be even (sinusoidal embedding), got {base}")
        self.shape = (channels, resolution, resolution)
        self.num_classes = int(num_classes or 0)
        self.timesteps, self.sample_steps, self.guidance = int(timesteps), int(sample_steps), float(guidance)
        self.unet = UNet(channels, base, channel_mult, res_blocks, num_classes or None)
        self.register_buffer("alpha_bar", cosine_alpha_bar(self.timesteps).float(), persistent=False)

    def _a(self, t: torch.Tensor) -> torch.Tensor:
        return self.alpha_bar[t].reshape(-1, 1, 1, 1)

    def loss(self, x0: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator, p_uncond: float):
        """Noise-prediction MSE on a batch ``x0`` in [-1, 1]; draws t, the noise, then the label dropout."""
        n, device = x0.size(0), x0.device
        t = torch.randint(1, self.timesteps + 1, (n,), generator=generator, device=device)
        noise = torch.randn(x0.shape, generator=generator, device=device, dtype=torch.float32)
        a = self._a(t)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        if self.num_classes:
            drop = torch.rand(n, generator=generator, device=device) < p_uncond
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return F.mse_loss(self.unet(x_t, t, labels).float(), noise)

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None, guidance: float) -> torch.Tensor:
        """Guided noise prediction ``eps_null + guidance * (eps_y - eps_null)`` (unconditional model: ``eps``)."""
        if not self.num_classes:
            return self.unet(x, t)
        if labels is None:
            raise ValueError("conditional generator: labels are required")
        null = torch.full_like(labels, self.num_classes)
        if guidance == 1.0:
            return self.unet(x, t, labels)
        if guidance == 0.0:
            return self.unet(x, t, null)
        cond, uncond = self.unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).chunk(2)
        return uncond + guidance * (cond - uncond)

    def ddim_steps(self, steps: int | None = None) -> list[int]:
        """The steps DDIM visits, T down to 0 evenly spaced ("trailing": starts from pure noise at T)."""
        steps = self.sample_steps if steps is None else int(steps)
        return [round(self.timesteps * (1 - i / steps)) for i in range(steps + 1)]

    @torch.no_grad()
    def sample(self, x: torch.Tensor, labels=None, steps: int | None = None, guidance: float | None = None):
        """Deterministic DDIM (eta 0) from ``x`` = x_T; the predicted x0 is clipped to [-1, 1] each step."""
        guidance = self.guidance if guidance is None else float(guidance)
        ts = self.ddim_steps(steps)
        for t, t_prev in zip(ts[:-1], ts[1:]):
            t_batch = torch.full((x.size(0),), t, device=x.device, dtype=torch.long)
            a, a_prev = self.alpha_bar[t], self.alpha_bar[t_prev]
            eps = self.eps(x, t_batch, labels, guidance).float()
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()  # the noise consistent with the clipped x0
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        return x.clamp(-1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = z.reshape(z.size(0), *self.shape).float()
        return self.sample(x, labels)


def build_ddpm(mode, channels, resolution, num_classes, nz, ngf, ndf, **arch):
    """``(DDPM, None)``: a diffusion model has no discriminator; ``nz`` and ``ndf`` are unused."""
    unknown = sorted(set(arch) - set(ARCH_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown ddpm setting(s) {', '.join(unknown)}; allowed: {', '.join(ARCH_DEFAULTS)}")
    arch = {**ARCH_DEFAULTS, **arch}
    cond = num_classes if mode == "conditional" else None
    return DDPM(channels, resolution, ngf, cond, **arch), None
