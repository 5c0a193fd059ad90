"""Model-specific initialisation before the adversarial loop: BAGAN's autoencoder pre-training.

:func:`pretrain` is called once, at step 0 (not again on resume from a later
step); a model that needs its own initialisation adds it here.
"""

from __future__ import annotations

import math

import torch

from .models import Encoder
from .state import BatchSampler
from .steps import scale_batch


def pretrain(model: str, G, D, data, label_t, cfg, device, seed, memory_format) -> dict:
    """Initialise ``G`` and ``D`` in place as ``model`` requires; returns entries for the run's ``meta``."""
    if model == "bagan" and int(cfg["ae_steps"]) > 0:
        return pretrain_bagan(G, D, data, label_t, cfg, device, seed, memory_format)
    return {}


def pretrain_bagan(G, D, data, label_t, cfg, device, seed, memory_format, log=print) -> dict:
    """BAGAN initialisation (Mariani et al. 2018), in place on ``G`` and ``D``.

    1. Train an autoencoder (encoder = D's body + a linear code layer; decoder =
       G's DCGAN decoder) on all training images for ``ae_steps`` steps (MSE).
    2. Fit one Gaussian per class to the encoder's codes (mean, Cholesky factor
       of the covariance + 1e-4 I) and give them to G's latent sampler.
    3. Copy the encoder's body into D's body.
    """
    n, c, r, _ = data.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) + 1)
        E = Encoder(int(cfg["nz"]), int(cfg["ndf"]), c, r)
    E.to(device, memory_format=memory_format).train()
    decoder = G.decoder
    opt = torch.optim.Adam(
        [*E.parameters(), *decoder.parameters()], lr=float(cfg["ae_lr"]), betas=(0.5, 0.999), foreach=True
    )
    gen = torch.Generator().manual_seed(int(seed) + 2)
    sampler = BatchSampler(n, int(cfg["batch_size"]), gen, device)
    loss = torch.zeros((), device=device)
    for _ in range(int(cfg["ae_steps"])):
        idx = sampler.next()
        x = scale_batch(data[idx], memory_format)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(decoder(E(x)), x)
        loss.backward()
        opt.step()
    ae_loss = float(loss.detach())
    if not math.isfinite(ae_loss):
        raise FloatingPointError(f"BAGAN autoencoder pre-training diverged (reconstruction loss {ae_loss})")
    E.eval()
    codes = []
    with torch.no_grad():
        for start in range(0, n, 256):
            x = scale_batch(data[start : start + 256], memory_format)
            codes.append(E(x).double())
    codes = torch.cat(codes)
    k = G.class_mu.size(0)
    nz = codes.size(1)
    mu = torch.zeros(k, nz, dtype=torch.float64, device=device)
    chol = torch.eye(nz, dtype=torch.float64, device=device).repeat(k, 1, 1)
    for label in range(k):
        sel = codes[label_t == label]
        if len(sel) == 0:
            continue
        mu[label] = sel.mean(0)
        if len(sel) > 1:
            cov = torch.cov(sel.T) + 1e-4 * torch.eye(nz, dtype=torch.float64, device=device)
            chol[label] = torch.linalg.cholesky(cov)
    G.set_class_gaussians(mu.float(), chol.float())
    D.body.load_state_dict(E.body.state_dict())
    log(f"BAGAN autoencoder: {cfg['ae_steps']} steps, final reconstruction MSE {ae_loss:.4f}")
    return {"ae_steps": int(cfg["ae_steps"]), "ae_loss": ae_loss}
