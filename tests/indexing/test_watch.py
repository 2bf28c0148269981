"""`watch_sources()` for real: inotify (or polling) on a temp folder, real builds."""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import SourcesError, WatchEvent, retrieve, watch_sources
from assistant._errors import IndexMissingError
from assistant.indexing.generations import POINTER, read_generation

from .. import formats_fixtures as ff
from ..conftest import DATA

WAIT = 60.0  # generous: a rebuild embeds a few passages, but CI machines are noisy


class Watcher:
    """A watcher thread and the events it reports."""

    def __init__(self, sources: Path, index: Path, embedder: object) -> None:
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

    def await_index(self, index: Path, documents: set[str]) -> WatchEvent:
        """The rebuild after which the index holds exactly `documents`; fails after
        `WAIT` seconds without one (a replaced folder may first give a failed rebuild)."""
        deadline = time.monotonic() + WAIT
        seen: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            seen.append(event.summary())
            if _indexed(index) == documents:
                return event
        pytest.fail(f"index never held {sorted(documents)}; rebuilds: {seen}")


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


def _indexed(index: Path) -> set[str]:
    try:
        return set(read_generation(index).manifest.documents)
    except IndexMissingError:
        return set()


def _write_folder(folder: Path, notes: dict[str, str]) -> None:
    folder.mkdir()
    for name, body in notes.items():
        (folder / name).write_text(_note(name.split(".")[0].title(), body))


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


@pytest.mark.slow
def test_word_and_web_pages_trigger_rebuilds(watcher: tuple[Watcher, Path, Path]) -> None:
    running, sources, index = watcher
    running.next_event()
    brief = ff.load_brief()
    (sources / "brief.docx").write_bytes(ff.brief_docx(brief))
    (sources / "brief.htm").write_text(ff.brief_web_page(brief), encoding="utf-8")
    event = running.next_event()
    assert event.report is not None
    assert sorted(event.report.added) == ["brief.docx", "brief.htm"]
    assert _indexed(index) == {"brief.docx", "brief.htm", "typhoon-relief.txt"}


@pytest.mark.slow
def test_unsupported_files_do_not_trigger_rebuilds(watcher: tuple[Watcher, Path, Path]) -> None:
    running, sources, _ = watcher
    running.next_event()
    (sources / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n binary")
    (sources / "slides.pptx").write_bytes(b"PK\x03\x04 binary")
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


@pytest.mark.slow
def test_a_folder_replaced_by_rename_is_followed(
    watcher: tuple[Watcher, Path, Path], tmp_path: Path
) -> None:
    running, sources, index = watcher
    assert running.next_event().outcome == "built"
    staged = tmp_path / "sources-new"
    _write_folder(staged, {"cranes.txt": "The harbour inspection found seven damaged cranes."})
    shutil.copy(DATA / "2023-11-02-quad-foreign-ministers.md", staged)

    # a deploy's swap: inotify would go on watching the old folder, now sources-old
    os.rename(sources, tmp_path / "sources-old")
    os.rename(staged, sources)
    event = running.await_index(index, {"cranes.txt", "2023-11-02-quad-foreign-ministers.md"})
    assert event.outcome == "built"

    # and the new folder is the one being watched from now on
    (sources / "tugs.txt").write_text(_note("Tugs", "Three tugboats were repaired in May."))
    running.await_index(index, {"cranes.txt", "tugs.txt", "2023-11-02-quad-foreign-ministers.md"})


@pytest.mark.slow
def test_a_folder_deleted_and_recreated_is_followed(watcher: tuple[Watcher, Path, Path]) -> None:
    running, sources, index = watcher
    assert running.next_event().outcome == "built"
    shutil.rmtree(sources)
    _write_folder(sources, {"cranes.txt": "The harbour inspection found seven damaged cranes."})
    running.await_index(index, {"cranes.txt"})
    top = retrieve("How many damaged cranes?", k=1, index_dir=index)[0]
    assert top.source == "cranes.txt"

    # the recreated folder is the one being watched, not the deleted one
    (sources / "tugs.txt").write_text(_note("Tugs", "Three tugboats were repaired in May."))
    running.await_index(index, {"cranes.txt", "tugs.txt"})


@pytest.mark.slow
def test_a_folder_moved_in_is_indexed(watcher: tuple[Watcher, Path, Path], tmp_path: Path) -> None:
    running, sources, index = watcher
    assert running.next_event().outcome == "built"
    staging = tmp_path / "staging"
    _write_folder(staging, {"cranes.txt": "The harbour inspection found seven damaged cranes."})
    # one event for the folder, none for the document inside it
    os.rename(staging, sources / "harbour")
    event = running.await_index(index, {"typhoon-relief.txt", "harbour/cranes.txt"})
    assert "harbour" in event.trigger

    # and moved out again: the document leaves the index
    os.rename(sources / "harbour", tmp_path / "archived")
    running.await_index(index, {"typhoon-relief.txt"})


def test_an_unexpected_rebuild_error_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_build(*args: object, **kwargs: object) -> None:
        raise ValueError("embedded null byte")  # what a corrupt CURRENT.json once raised

    monkeypatch.setattr("assistant.indexing.watch.build_index", broken_build)
    sources = tmp_path / "sources"
    _write_folder(sources, {"cranes.txt": "Seven damaged cranes."})
    running = Watcher(sources, tmp_path / "index", None)
    try:
        startup = running.next_event()
        assert startup.trigger == ["startup"]
        assert startup.outcome == "failed"
        assert startup.error == "ValueError: embedded null byte"
        (sources / "tugs.txt").write_text(_note("Tugs", "Three tugboats."))
        assert running.next_event().trigger == ["tugs.txt"]  # still watching
    finally:
        running.stop.set()
        running.thread.join(timeout=WAIT)
    assert not running.thread.is_alive()


def test_ctrl_c_during_a_rebuild_still_stops_the_watcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted_build(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("assistant.indexing.watch.build_index", interrupted_build)
    sources = tmp_path / "sources"
    _write_folder(sources, {"cranes.txt": "Seven damaged cranes."})
    with pytest.raises(KeyboardInterrupt):
        watch_sources(sources, tmp_path / "index", quiet_ms=100)


@pytest.mark.slow
def test_a_corrupt_pointer_does_not_kill_the_watcher_at_startup(tmp_path: Path, embedder) -> None:
    sources, index = tmp_path / "sources", tmp_path / "index"
    _write_folder(sources, {"cranes.txt": "Seven damaged cranes."})
    index.mkdir()
    (index / POINTER).write_text('{"generation": "g\\u0000x"}')
    running = Watcher(sources, index, embedder)
    try:
        running.next_event()  # failed or rebuilt, but reported
        assert running.thread.is_alive()
    finally:
        running.stop.set()
        running.thread.join(timeout=WAIT)
    assert not running.thread.is_alive()
