"""ganaug: does GAN augmentation help classifiers on imbalanced medical images?

All pipeline logic lives in this package; the Snakemake scripts in
``workflow/scripts`` only read the ``snakemake`` object and call into it.
"""

__version__ = "0.1.0"
