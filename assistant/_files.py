"""Durable file writes (temp file in the same folder, fsync, `os.replace`, fsync
folder) and checksums of files too large to read whole."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "sha256_file", "write_atomic"]


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` so readers see the old or the new file, never a part.

    Args:
        path: Destination; its folder must exist.
        data: Full new content.
    """
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (the ONNX graph is 90 MB).

    Raises:
        FileNotFoundError: `path` does not exist.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
