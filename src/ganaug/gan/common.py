"""What the GAN architectures share (``models.py``, ``resgan.py``): the DCGAN geometry and the label check.

Below both: ``models`` registers ``resgan``'s builder, so ``resgan`` cannot import ``models``.
"""

from __future__ import annotations

# resolution -> (size of the generator's first map, number of stride-2 stages)
DCGAN_GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}


def geometry(resolution: int) -> tuple[int, int]:
    """``(start, stages)`` of the DCGAN-type networks at ``resolution``; ``ValueError`` naming the allowed ones."""
    if resolution not in DCGAN_GEOMETRY:
        allowed = ", ".join(str(r) for r in DCGAN_GEOMETRY)
        raise ValueError(f"resolution {resolution!r} is not supported; allowed: {allowed}")
    return DCGAN_GEOMETRY[resolution]


def need_labels(labels, who: str):
    """``labels``, or ``ValueError`` when a conditional network (``who``) is called without them."""
    if labels is None:
        raise ValueError(f"conditional {who}: labels are required")
    return labels
