"""`watch_sources()` for real: inotify (or polling) on a temp folder, real builds."""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import SourcesError, WatchEvent, retrieve, watch_sources

from .conftest import DATA

WAIT = 60.0  # generous: a rebuild embeds a few passages, but CI machines are noisy


class Watcher:
    """A watcher thread and the events it reports."""

    def __init__(self, sources: Path, index: Path, embedder) -> None:
        self.events: queue.Queue[WatchEvent] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch_sources,
            args=(sources, index),
            kwargs={
                "quiet_ms": 400,
                "stop_event": self.stop,
                "on_event": self.events.put,
                "embedder": embedder,
            },
            daemon=True,
        )
        self.thread.start()

    def next_event(self) -> WatchEvent:
        return self.events.get(timeout=WAIT)


@pytest.fixture
def watcher(tmp_path: Path, embedder) -> Iterator[tuple[Watcher, Path, Path]]:
    sources, index = tmp_path / "sources", tmp_path / "index"
    sources.mkdir()
    shutil.copy(DATA / "typhoon-relief.txt", sources / "typhoon-relief.txt")
    running = Watcher(sources, index, embedder)
    yield running, sources, index
    running.stop.set()
    running.thread.join(timeout=WAIT)
    assert not running.thread.is_alive()


def _note(title: str, body: str) -> str:
    return f"{title}\n\n{body}\n"


def test_burst_of_changes_is_one_rebuild(watcher: tuple[Watcher, Path, Path]) -> None:
    running, sources, index = watcher
    startup = running.next_event()
    assert startup.trigger == ["startup"]
    assert startup.outcome == "built"

    # five documents and an editor's swap file written in one burst
    for number in range(5):
        body = f"Harbour inspection number {number} found {number + 2} damaged cranes."
        (sources / f"inspection-{number}.txt").write_text(_note(f"Inspection {number}", body))
    (sources / ".inspection-0.txt.swp").write_bytes(b"\x00swap")
    event = running.next_event()
    assert event.outcome == "built"
    assert event.report is not None
    assert sorted(event.report.added) == [f"inspection-{n}.txt" for n in range(5)]
    assert running.events.empty()  # one rebuild for the whole burst

    top = retrieve("Which harbour inspection found 5 damaged cranes?", k=1, index_dir=index)[0]
    assert top.source == "inspection-3.txt"

    # deleting a document removes it from results
    (sources / "inspection-3.txt").unlink()
    event = running.next_event()
    assert event.report is not None
    assert event.report.removed == ["inspection-3.txt"]
    sources_now = {c.source for c in retrieve("damaged cranes", k=10, index_dir=index)}
    assert "inspection-3.txt" not in sources_now


def test_unsupported_files_do_not_trigger_rebuilds(watcher: tuple[Watcher, Path, Path]) -> None:
    running, sources, _ = watcher
    running.next_event()
    (sources / "scan.pdf").write_bytes(b"%PDF-1.7 binary")
    (sources / "notes.txt~").write_text("editor backup")
    with pytest.raises(queue.Empty):
        running.events.get(timeout=2.0)


def test_failed_rebuild_is_reported_and_the_old_index_serves(
    watcher: tuple[Watcher, Path, Path],
) -> None:
    running, sources, index = watcher
    first = running.next_event()
    assert first.report is not None
    # the only document becomes unreadable: nothing to build from
    (sources / "typhoon-relief.txt").write_bytes(b"\xff\xfe\x00 not utf-8 \x00\x81")
    event = running.next_event()
    assert event.outcome == "failed"
    assert event.error is not None
    assert "no readable document" in event.error
    assert "previous index still serving" in event.summary()
    top = retrieve("How many helicopter sorties were flown?", k=1, index_dir=index)[0]
    assert top.generation == first.report.generation
    # fixed again: the watcher carries on
    shutil.copy(DATA / "typhoon-relief.txt", sources / "typhoon-relief.txt")
    recovered = running.next_event()
    assert recovered.outcome in ("built", "up to date")


def test_missing_sources_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="does not exist"):
        watch_sources(tmp_path / "nope", tmp_path / "index")
