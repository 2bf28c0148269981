"""`watch_sources()`: rebuild the index whenever the sources folder changes.

Built on watchfiles (inotify, or polling where there is none). A burst of
changes, such as copying twenty files or an editor's save dance, becomes one
rebuild: changes are gathered until the folder has been quiet for `quiet_ms`
(at most `max_wait_ms`). A failed rebuild is reported and the previous
generation keeps serving; the watcher goes on.

The folder is watched by what it is, not by its name: when it is replaced
(`mv sources old && mv new sources`) or deleted and recreated, the watcher
notices, waits for it to exist again, watches the new one and rescans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Literal

import watchfiles
from pydantic import BaseModel, ConfigDict, Field

from .._errors import AssistantError, BuildInProgressError, SourcesError
from .._settings import Settings
from .._types import BuildReport
from ..embedding.transformer import Embedder
from ..ingest.sources import SUPPORTED_SUFFIXES
from .build import build_index

__all__ = ["WatchEvent", "watch_sources"]

logger = logging.getLogger("assistant")

# How long a rebuild waits for another process's build (`assistant build` by
# hand) before it reports and waits for the next change instead.
_LOCK_WAIT_SECONDS = 120.0

_REPLACED = "sources folder replaced"


class WatchEvent(BaseModel):
    """One rebuild attempt of the watcher."""

    model_config = ConfigDict(extra="forbid")

    trigger: list[str] = Field(description="Changed paths (relative), or ['startup'].")
    outcome: Literal["built", "up to date", "failed"]
    report: BuildReport | None = None
    error: str | None = Field(default=None, description="Why the rebuild failed.")

    def summary(self) -> str:
        """One line for a terminal or log."""
        what = ", ".join(self.trigger[:5]) + (" …" if len(self.trigger) > 5 else "")
        if self.outcome == "failed":
            return f"[{what}] rebuild failed, previous index still serving: {self.error}"
        assert self.report is not None
        return f"[{what}] {self.report.summary()}"


class _SourceFilter(watchfiles.DefaultFilter):
    """Documents the loader reads, plus folders added or removed: a folder moved in or
    out arrives as one event, with none for the documents inside it."""

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        name = os.path.basename(path)
        if name.startswith("."):
            return False
        suffix = os.path.splitext(name)[1].lower()
        if suffix in SUPPORTED_SUFFIXES:
            return True
        if change == watchfiles.Change.deleted:
            return not suffix  # gone, so we cannot tell; a name without suffix is likely a folder
        # Not a modified folder: its time stamp changes with every entry (polling reports
        # that), and the entries have events of their own.
        return change == watchfiles.Change.added and os.path.isdir(path)


def _rebuild(settings: Settings, trigger: list[str], embedder: Embedder | None) -> WatchEvent:
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            report = build_index(settings.sources_dir, settings.index_dir, embedder=embedder)
        except BuildInProgressError as exc:
            if time.monotonic() > deadline:
                return WatchEvent(trigger=trigger, outcome="failed", error=str(exc))
            time.sleep(0.5)
            continue
        except AssistantError as exc:
            return WatchEvent(trigger=trigger, outcome="failed", error=str(exc))
        except Exception as exc:
            # Disk full, permissions, or a bug (a corrupt pointer once raised ValueError):
            # the old generation stays live and the watcher must outlive it. Ctrl+C is a
            # BaseException and still stops it.
            if not isinstance(exc, OSError):
                logger.error("unexpected error while rebuilding the index", exc_info=True)
            return WatchEvent(
                trigger=trigger, outcome="failed", error=f"{type(exc).__name__}: {exc}"
            )
        outcome: Literal["built", "up to date"] = "up to date" if report.up_to_date else "built"
        return WatchEvent(trigger=trigger, outcome=outcome, report=report)


class _Folder:
    """The sources folder as it was when watching began.

    inotify watches an inode, not a name, so a replaced folder must be spotted by
    its (device, inode). The open handle keeps that inode allocated: a folder
    deleted and recreated at once cannot get the same number back and pass for
    the old one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        with contextlib.suppress(OSError):  # Windows cannot open a folder: a stat must do
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        info = os.stat(path) if self._fd is None else os.fstat(self._fd)
        if not stat.S_ISDIR(info.st_mode):
            self.close()
            raise NotADirectoryError(f"{path} is not a folder")
        self._identity = (info.st_dev, info.st_ino)

    def replaced(self) -> bool:
        """Whether the name now leads to another folder, or nowhere."""
        try:
            info = os.stat(self.path)
        except OSError:
            return True
        return (info.st_dev, info.st_ino) != self._identity or not stat.S_ISDIR(info.st_mode)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _stopped(stop_event: threading.Event | None) -> bool:
    return stop_event is not None and stop_event.is_set()


def _await_folder(path: Path, quiet_ms: int, stop_event: threading.Event | None) -> _Folder | None:
    """The folder once it exists (again), or None if stopped first."""
    while not _stopped(stop_event):
        try:
            return _Folder(path)
        except OSError:
            pass  # not (yet) back: moves and re-creations take a moment
        if stop_event is None:
            time.sleep(quiet_ms / 1000)
        else:
            stop_event.wait(quiet_ms / 1000)
    return None


def _bursts(
    folder: _Folder, quiet_ms: int, max_wait_ms: int, stop_event: threading.Event | None
) -> Generator[list[str], None, None]:
    """The changed paths of each burst, or [] every `quiet_ms` of quiet (the first
    once the watch is in place), until stopped or the folder is replaced."""
    batches = watchfiles.watch(
        folder.path,
        watch_filter=_SourceFilter(),
        debounce=max_wait_ms,
        step=quiet_ms,
        stop_event=stop_event,
        rust_timeout=max(quiet_ms, 200),
        yield_on_timeout=True,  # the quiet ticks are when a replaced folder is noticed
    )
    try:
        for changes in batches:
            if folder.replaced():
                return  # what the old folder did no longer matters: the caller rescans
            yield sorted({_relative(path, folder.path) for _, path in changes})
    except OSError:
        if not folder.replaced():
            raise  # the folder is there but cannot be watched (e.g. inotify's watch limit)
    finally:
        batches.close()


def watch_sources(
    sources_dir: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    *,
    quiet_ms: int = 500,
    max_wait_ms: int = 5000,
    stop_event: threading.Event | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    embedder: Embedder | None = None,
) -> None:
    """Build once, then rebuild incrementally after each burst of source changes,
    until `stop_event` is set (or Ctrl+C in the main thread).

    The first build runs as soon as the folder is watched, so no change can slip
    in between. If the folder is replaced, or deleted and recreated, the watcher
    waits for it to exist again, then watches and rebuilds from the new one.

    Args:
        sources_dir: Documents folder (default `./sources` or `ASSISTANT_SOURCES`).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        quiet_ms: A burst ends when the folder has been quiet this long.
        max_wait_ms: Rebuild after this long even if changes keep coming.
        stop_event: Set it to stop watching (checked every `quiet_ms`); set before the
            watch is in place, nothing is built.
        on_event: Called after every rebuild attempt; default logs its summary.
        embedder: Use this embedder instead of loading the configured model.

    Raises:
        SourcesError: The sources folder does not exist.
        OSError: The folder cannot be watched (after one build is reported).
    """
    settings = Settings.from_env(sources_dir, index_dir)
    sources = settings.sources_dir
    if not sources.is_dir():
        raise SourcesError(f"sources folder {sources} does not exist: create it or pass --sources")
    report = on_event or (lambda event: logger.warning("%s", event.summary()))
    pending = ["startup"]  # what to rebuild for once the watch is in place
    while (folder := _await_folder(sources, quiet_ms, stop_event)) is not None:
        try:
            with contextlib.closing(_bursts(folder, quiet_ms, max_wait_ms, stop_event)) as bursts:
                for changed in bursts:
                    if trigger := pending + changed:
                        pending = []
                        report(_rebuild(settings, trigger, embedder))
        except OSError:
            if pending:  # the watch failed before the first build: answer whoever waits for it
                report(_rebuild(settings, pending, embedder))
            raise
        finally:
            folder.close()
        if not _stopped(stop_event):  # otherwise a vanished folder would be silence
            logger.warning("%s was replaced or removed: waiting for it to watch again", sources)
        pending = pending or [_REPLACED]


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path
