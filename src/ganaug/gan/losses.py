"""GAN losses, one object per objective, reached through :data:`LOSSES`.

Each loss provides

* ``d_loss(D, real, real_labels, fake, fake_labels) -> (loss, d_real, d_fake)``
* ``g_loss(D, fake, fake_labels) -> loss``

and gets D itself (a callable ``D(x, labels)``), not logits, so objectives that
need more than one forward pass (the WGAN-GP penalty) fit the same loop.
``d_real`` / ``d_fake`` are logged diagnostics: the mean probability D gives
real / fake images for the classification-style losses (bce, acgan, bagan:
the example's ``D(x)`` and ``D(G(z))``), the mean raw score for wgan_gp and
hinge.

``label_smoothing`` (bce and acgan): one-sided, the real target becomes
``1 - s`` in D's loss (Salimans et al. 2016); fake targets stay 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class NonSaturatingLoss:
    """BCE-with-logits GAN loss; G minimises -log D(G(z)) (the non-saturating form)."""

    def __init__(self, label_smoothing: float = 0.0, **_):
        self.real_target = 1.0 - float(label_smoothing)

    def d_loss(self, D, real, real_labels, fake, fake_labels):
        out_real = D(real, real_labels)
        out_fake = D(fake, fake_labels)
        loss = F.binary_cross_entropy_with_logits(
            out_real, torch.full_like(out_real, self.real_target)
        ) + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
        with torch.no_grad():
            return loss, torch.sigmoid(out_real).mean(), torch.sigmoid(out_fake).mean()

    def g_loss(self, D, fake, fake_labels):
        out = D(fake, fake_labels)
        return F.binary_cross_entropy_with_logits(out, torch.ones_like(out))


def gradient_penalty(D, real, fake, labels=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` on random interpolates.

    ``x_hat = eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per
    sample, drawn from ``generator``. The graph is kept so the penalty trains D.
    """
    eps = torch.rand(real.size(0), 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat, labels)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


class WassersteinGPLoss:
    """WGAN-GP (Gulrajani et al. 2017): critic maximises D(real) - D(fake), minus lambda * penalty.

    The penalty's interpolates pair each real image with the fake of the same
    index; conditional critics see the real batch's labels (the fake batch is
    generated for the same labels, see ``steps.py``).
    """

    def __init__(self, gp_lambda: float = 10.0, generator: torch.Generator | None = None, **_):
        self.gp_lambda, self.generator = float(gp_lambda), generator

    def d_loss(self, D, real, real_labels, fake, fake_labels):
        out_real = D(real, real_labels)
        out_fake = D(fake, fake_labels)
        gp = gradient_penalty(D, real, fake, real_labels, self.generator)
        loss = out_fake.mean() - out_real.mean() + self.gp_lambda * gp
        return loss, out_real.detach().mean(), out_fake.detach().mean()

    def g_loss(self, D, fake, fake_labels):
        return -D(fake, fake_labels).mean()


class HingeLoss:
    """Hinge loss (SNGAN, Miyato et al. 2018): D: relu(1 - D(real)) + relu(1 + D(fake)); G: -D(fake)."""

    def __init__(self, **_):
        pass

    def d_loss(self, D, real, real_labels, fake, fake_labels):
        out_real = D(real, real_labels)
        out_fake = D(fake, fake_labels)
        loss = F.relu(1.0 - out_real).mean() + F.relu(1.0 + out_fake).mean()
        return loss, out_real.detach().mean(), out_fake.detach().mean()

    def g_loss(self, D, fake, fake_labels):
        return -D(fake, fake_labels).mean()


class AuxClassifierLoss:
    """ACGAN (Odena et al. 2017): D's outputs are (adversarial logit, K class logits).

    D minimises BCE(real/fake) + CE(class of real) + CE(class of fake);
    G minimises BCE(fake judged real) + CE(class of fake).
    """

    def __init__(self, label_smoothing: float = 0.0, **_):
        self.real_target = 1.0 - float(label_smoothing)

    def d_loss(self, D, real, real_labels, fake, fake_labels):
        out_real = D(real, None)
        out_fake = D(fake, None)
        adv = F.binary_cross_entropy_with_logits(
            out_real[:, 0], torch.full_like(out_real[:, 0], self.real_target)
        ) + F.binary_cross_entropy_with_logits(out_fake[:, 0], torch.zeros_like(out_fake[:, 0]))
        loss = adv + F.cross_entropy(out_real[:, 1:], real_labels) + F.cross_entropy(out_fake[:, 1:], fake_labels)
        with torch.no_grad():
            return loss, torch.sigmoid(out_real[:, 0]).mean(), torch.sigmoid(out_fake[:, 0]).mean()

    def g_loss(self, D, fake, fake_labels):
        out = D(fake, None)
        return F.binary_cross_entropy_with_logits(out[:, 0], torch.ones_like(out[:, 0])) + F.cross_entropy(
            out[:, 1:], fake_labels
        )


class BalancingLoss:
    """BAGAN (Mariani et al. 2018): D classifies into the K classes plus "fake" (index K).

    D minimises CE(real -> its class) + CE(fake -> fake); G minimises CE(fake ->
    the class it was generated for). ``d_real`` / ``d_fake``: mean probability
    of "not fake" D gives real / fake images.
    """

    def __init__(self, **_):
        pass

    def d_loss(self, D, real, real_labels, fake, fake_labels):
        out_real = D(real, None)
        out_fake = D(fake, None)
        k = out_real.size(1) - 1
        loss = F.cross_entropy(out_real, real_labels) + F.cross_entropy(out_fake, torch.full_like(fake_labels, k))
        with torch.no_grad():
            not_fake_real = 1.0 - torch.softmax(out_real, 1)[:, k]
            not_fake_fake = 1.0 - torch.softmax(out_fake, 1)[:, k]
            return loss, not_fake_real.mean(), not_fake_fake.mean()

    def g_loss(self, D, fake, fake_labels):
        return F.cross_entropy(D(fake, None), fake_labels)


#: loss name -> class; instances provide d_loss and g_loss as above
LOSSES = {
    "bce": NonSaturatingLoss,
    "wgan_gp": WassersteinGPLoss,
    "hinge": HingeLoss,
    "acgan": AuxClassifierLoss,
    "bagan": BalancingLoss,
}
