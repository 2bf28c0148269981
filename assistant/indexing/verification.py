"""Checksums verified after a generation opens: a large generation serves at once
(opening it costs O(files), not O(bytes)) while its files are hashed on a thread
pool; the first file that does not match its manifest checksum refuses the
generation for the rest of the process, and the next query falls back to the
previous generation (see `assistant.search.searcher.load_searcher`).

The window is the price: until every file is hashed (≈ 5 s per million passages
on two cores), queries read files not yet verified. Generations below
`Settings.verify_later_mb` are verified before they serve, as always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .._errors import IndexCorruptError
from .._files import sha256_file

__all__ = ["Verification", "refused"]

logger = logging.getLogger("assistant")

_refused_lock = threading.Lock()
# Generation folders found corrupt after they opened, with why.
_refused: dict[Path, IndexCorruptError] = {}


def refused(folder: Path) -> IndexCorruptError | None:
    """Why the generation in `folder` was refused after it opened, if it was.

    Args:
        folder: A generation folder.
    """
    with _refused_lock:
        return _refused.get(folder.resolve())


class Verification:
    """The files of one generation being hashed in the background."""

    def __init__(
        self,
        folder: Path,
        expected: Mapping[str, str],
        threads: int,
        missing: Callable[[Path], IndexCorruptError],
        altered: Callable[[Path], IndexCorruptError],
    ) -> None:
        """Args:
        folder: The generation folder.
        expected: File name → SHA-256, from its manifest.
        threads: Hashing threads.
        missing, altered: The errors a missing and an altered file raise.
        """
        self._folder, self._expected = folder, expected
        self._missing, self._altered = missing, altered
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="assistant-verify")
        self._lock = threading.Lock()
        self._futures: dict[str, Future[str]] = {}
        self._error: IndexCorruptError | None = None

    def submit(self, name: str) -> None:
        """Hash `name` (once) against its expected checksum."""
        with self._lock:
            if name in self._futures:
                return
            future = self._pool.submit(sha256_file, self._folder / name)
            self._futures[name] = future
        future.add_done_callback(lambda done: self._check(name, done))

    def started(self) -> None:
        """Every file is submitted: the threads finish them, then exit."""
        self._pool.shutdown(wait=False)

    def failure(self) -> IndexCorruptError | None:
        """The first mismatch found so far; None while none is (cheap: one read)."""
        return self._error

    def wait(self) -> IndexCorruptError | None:
        """Block until every submitted file is hashed; the first mismatch, if any."""
        with self._lock:
            futures = list(self._futures.items())
        for name, future in futures:
            future.exception()  # waits
            # A future wakes its waiters before it runs its done callbacks, so the
            # callback's `_check` may not have run yet: check here too (the first
            # mismatch recorded wins either way).
            self._check(name, future)
        return self._error

    def _check(self, name: str, done: Future[str]) -> None:
        path = self._folder / name
        failed = done.exception()
        if isinstance(failed, FileNotFoundError):
            error: IndexCorruptError | None = self._missing(path)
        elif failed is not None:
            error = IndexCorruptError(f"index file {path} cannot be read ({failed})")
        else:
            error = self._altered(path) if done.result() != self._expected.get(name) else None
        if error is None:
            return
        with self._lock:
            if self._error is not None:
                return
            self._error = error
        with _refused_lock:
            _refused[self._folder.resolve()] = error
        logger.warning("%s; the generation is refused from now on", error)
