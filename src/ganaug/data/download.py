"""Download a file (https:// or file://) with an md5 check and an atomic rename."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ganaug.io import atomic_path

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SCHEMES = ("https://", "file://")
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")


def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def download(
    url: str,
    dest: str | os.PathLike,
    md5: str,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` to ``dest`` and return ``dest``.

    Only ``https://`` (and ``file://``, for tests and local mirrors) URLs are
    fetched, and only with an ``md5``: the body is streamed to a temporary
    file next to ``dest``, its md5 is checked and only then is it renamed onto
    ``dest``; a mismatching, interrupted or failed download leaves no file
    behind. An existing ``dest`` whose md5 matches is kept without downloading.

    Raises ``ValueError`` for another URL scheme, a missing or malformed md5
    and an md5 mismatch, and ``RuntimeError`` (one line, saying how to fetch
    the file by hand) when the URL cannot be read.
    """
    dest = Path(dest)
    if not isinstance(url, str) or not url.lower().startswith(_SCHEMES):
        raise ValueError(f"download: url {url!r} must start with https:// or file://")
    if not isinstance(md5, str) or not _MD5_RE.match(md5):
        raise ValueError(f"download: md5 {md5!r} for {url} must be 32 hex digits (a download is always checked)")
    expected = md5.lower()
    if dest.is_file():
        actual = md5sum(dest)
        if actual == expected:
            log.info("%s exists with the expected md5; not downloading", dest)
            return dest
        log.warning("%s exists but its md5 is %s, not %s; downloading it again", dest, actual, expected)

    def network_error(reason: object) -> RuntimeError:
        return RuntimeError(
            f"could not download {url} ({_one_line(reason)}); fetch it by hand and save it as {dest} (md5 {md5})"
        )

    log.info("downloading %s -> %s", url, dest)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - https/file URLs only (checked above)
    except urllib.error.URLError as exc:
        raise network_error(exc.reason) from exc
    except (OSError, ValueError) as exc:
        raise network_error(exc) from exc

    with response, atomic_path(dest) as tmp:
        size = response.headers.get("Content-Length")
        total = int(size) if size and size.isdigit() else None
        bar = None
        if progress and total:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name, file=sys.stderr)
        h = hashlib.md5()
        received = 0
        try:
            with open(tmp, "wb") as fh:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (urllib.error.URLError, OSError) as exc:
                        raise network_error(getattr(exc, "reason", exc)) from exc
                    if not chunk:
                        break
                    fh.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and received != total:
            raise network_error(f"connection closed after {received} of {total} bytes")
        actual = h.hexdigest()
        if actual != expected:
            raise ValueError(f"md5 mismatch for {dest} downloaded from {url}: expected {expected}, got {actual}")
    log.info("saved %s (%d bytes, md5 %s)", dest, received, actual)
    return dest
