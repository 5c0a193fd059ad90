"""The one exception type of the config package and its message helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """An invalid configuration value; the message is one line naming the key."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _key(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"
