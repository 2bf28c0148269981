"""`watch_sources()`: rebuild the index whenever the sources folder changes.

Built on watchfiles (inotify, or polling where there is none). A burst of
changes, such as copying twenty files or an editor's save dance, becomes one
rebuild: changes are gathered until the folder has been quiet for `quiet_ms`
(at most `max_wait_ms`). A failed rebuild is reported and the previous
generation keeps serving; the watcher goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import watchfiles
from pydantic import BaseModel, ConfigDict, Field

from ._embedding import Embedder
from ._errors import AssistantError, BuildInProgressError, SourcesError
from ._indexing import build_index
from ._settings import Settings
from ._sources import SUPPORTED_SUFFIXES
from ._types import BuildReport

__all__ = ["WatchEvent", "watch_sources"]

logger = logging.getLogger("assistant")

# How long a rebuild waits for another process's build (`assistant build` by
# hand) before it reports and waits for the next change instead.
_LOCK_WAIT_SECONDS = 120.0


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
    """Documents the loader reads, plus deletions (a removed folder has no suffix)."""

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        name = os.path.basename(path)
        if name.startswith("."):
            return False
        suffix = os.path.splitext(name)[1].lower()
        return suffix in SUPPORTED_SUFFIXES or (change == watchfiles.Change.deleted and not suffix)


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
        except OSError as exc:  # disk full, permissions: the old generation stays live
            return WatchEvent(
                trigger=trigger, outcome="failed", error=f"{type(exc).__name__}: {exc}"
            )
        outcome: Literal["built", "up to date"] = "up to date" if report.up_to_date else "built"
        return WatchEvent(trigger=trigger, outcome=outcome, report=report)


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

    Args:
        sources_dir: Documents folder (default `./sources` or `ASSISTANT_SOURCES`).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        quiet_ms: A burst ends when the folder has been quiet this long.
        max_wait_ms: Rebuild after this long even if changes keep coming.
        stop_event: Set it to stop watching (checked every `quiet_ms`).
        on_event: Called after every rebuild attempt; default logs its summary.
        embedder: Use this embedder instead of loading the configured model.

    Raises:
        SourcesError: The sources folder does not exist.
    """
    settings = Settings.from_env(sources_dir, index_dir)
    sources = settings.sources_dir
    if not sources.is_dir():
        raise SourcesError(f"sources folder {sources} does not exist: create it or pass --sources")
    report = on_event or (lambda event: logger.warning("%s", event.summary()))
    report(_rebuild(settings, ["startup"], embedder))
    for changes in watchfiles.watch(
        sources,
        watch_filter=_SourceFilter(),
        debounce=max_wait_ms,
        step=quiet_ms,
        stop_event=stop_event,
        rust_timeout=max(quiet_ms, 200),
    ):
        trigger = sorted({_relative(path, sources) for _, path in changes})
        report(_rebuild(settings, trigger, embedder))


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path
