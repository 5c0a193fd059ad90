"""GANs for augmentation: models (registry ``MODELS``), training, generation, sample grids.

The name stays although ``ddpm`` (``diffusion.py``) is a diffusion model, not a GAN: it is built,
trained, checkpointed and sampled through the same registry, training loop and ``G(z, labels)``
interface as the seven GANs, and renaming the package would change every importer and the docs
for no change in behaviour.
"""

from .augment import diff_augment
from .generate import class_seed, generate_images, generate_samples, load_generator, to_uint8
from .grid import make_class_grid, make_grid_image
from .losses import LOSSES, gradient_penalty
from .models import MODELS, MODES, Discriminator, Generator, build_gan, check_model_mode
from .train import resolve_settings, train_gan

__all__ = [
    "LOSSES",
    "MODELS",
    "MODES",
    "Discriminator",
    "Generator",
    "build_gan",
    "check_model_mode",
    "diff_augment",
    "gradient_penalty",
    "resolve_settings",
    "class_seed",
    "generate_images",
    "generate_samples",
    "load_generator",
    "make_class_grid",
    "make_grid_image",
    "to_uint8",
    "train_gan",
]
