"""Shared pytest fixtures: the location of the real data under ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (read-only real datasets); fails loudly when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"real test data not found at {SHARED_DATA}: the tests need ../shared/data next to the project "
            "(chest_xray/, ham10000/, breastmnist.npz; see its README.md)",
            pytrace=False,
        )
    return SHARED_DATA
