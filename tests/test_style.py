"""The code keeps one style: `ruff format` and `ruff check` (configured in pyproject.toml) have nothing to say."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO


@pytest.mark.parametrize("command", [("format", "--check", "--diff"), ("check", "--no-fix")], ids=["format", "check"])
def test_ruff_is_clean(command):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (
        f"`ruff {' '.join(command)}` found something (run `ruff check --fix . && ruff format .`):\n"
        f"{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    )
