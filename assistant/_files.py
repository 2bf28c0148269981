"""Durable file writes (temp file in the same folder, fsync, `os.replace`, fsync
folder), checksums of files too large to read whole, and reads confined to a
folder (no symlink, no `..`, no special file)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from pathlib import Path, PurePosixPath

__all__ = [
    "fsync_dir",
    "is_safe_relative",
    "read_failure",
    "read_inside",
    "sha256_file",
    "write_atomic",
    "write_durable",
    "write_hashed",
]

# Absent on Windows; there the listing's own checks are all there is.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# Opening a FIFO for reading blocks until a writer comes: never wait for one.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def read_failure(exc: OSError | ValueError) -> str:
    """Why a file could not be read, in one line: the OS's own words for an
    `OSError` ("Permission denied"), else the refusal's message (see `read_inside`)."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write `data` to `path` and fsync it, with the same permissions as any file
    the process creates (0666 less the umask): `tempfile.mkstemp` would make it
    owner-only, and a server run by another account could not read it.

    Args:
        path: Destination.
        data: Full content.
        exclusive: Fail if `path` exists.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` so readers see the old or the new file, never a part.

    Args:
        path: Destination; its folder must exist.
        data: Full new content.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        write_durable(temp, data, exclusive=True)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)


def write_hashed(path: Path, data: bytes) -> str:
    """`write_atomic`, for a file a checksum will be checked against: a retried
    task replaces a dead one's file whole.

    Returns:
        The SHA-256 of `data`, as hex.
    """
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


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


def is_safe_relative(name: str) -> bool:
    """True for a relative POSIX path that stays inside its folder: not empty, not
    absolute, no `..` or `.` part, no empty part, no NUL, no backslash."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    return bool(parts) and "/".join(parts) == name and not ({"..", "."} & set(parts))


def read_inside(
    root: Path,
    relative: str,
    *,
    max_bytes: int,
    expected: os.stat_result | None = None,
) -> bytes:
    """The bytes of the regular file `root/relative`, opened one folder at a time
    without following any symlink, so a link swapped in after the listing cannot
    lead outside `root`.

    Args:
        root: The folder the user named.
        relative: POSIX path inside it (see `is_safe_relative`).
        max_bytes: Larger files are refused.
        expected: The entry as listed; a different file found at open is refused.

    Returns:
        The file's content.

    Raises:
        ValueError: The path is unsafe, not a regular file, a symlink, too large,
            or not the listed file.
        OSError: It cannot be opened or read.
    """
    if not is_safe_relative(relative):
        raise ValueError(f"unsafe path {relative!r}")
    *folders, name = relative.split("/")
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    try:
        for folder in folders:
            inner = _open_no_follow(folder, os.O_RDONLY | _DIRECTORY, fd)
            os.close(fd)
            fd = inner
        file_fd = _open_no_follow(name, os.O_RDONLY | _NONBLOCK, fd)
    finally:
        os.close(fd)
    with os.fdopen(file_fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if expected is not None and (info.st_dev, info.st_ino) != (
            expected.st_dev,
            expected.st_ino,
        ):
            raise ValueError("replaced while the folder was being read")
        if info.st_size > max_bytes:
            raise ValueError(_too_large(info.st_size, max_bytes))
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since fstat
        raise ValueError(_too_large(len(data), max_bytes))
    return data


def _too_large(size: int, limit: int) -> str:
    return (
        f"file of {size / 1e6:.1f} MB exceeds the {limit / 1e6:.1f} MB limit "
        "(ASSISTANT_MAX_FILE_MB)"
    )


def _open_no_follow(name: str, flags: int, dir_fd: int) -> int:
    try:
        return os.open(name, flags | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        # O_NOFOLLOW reports a symlink as ELOOP (ENOTDIR with O_DIRECTORY): say so.
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(name, dir_fd):
            raise ValueError("symbolic link (not followed)") from None
        raise


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
