"""The index under stress: builds killed at random moments, rebuilds swapped in
under running queries, and random edit/rebuild sequences (hypothesis)."""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from assistant import Citation, IndexMissingError, build_index, retrieve
from assistant._settings import DEFAULT_MODEL
from assistant.embedding.transformer import OnnxExport, load_embedder
from assistant.indexing.generations import GENERATIONS, current_generation, read_generation
from ui.app import serve

from .conftest import BRIEF, DATA, SOURCES, ReusedExport, brief_sources
from .ui.test_app import _free_port

KNOWN_QUESTION = "Who is Japan's defense minister?"
KNOWN_ANSWER = "Defense Minister Kihara Minoru"
# Kill moments are stratified: trial i dies at a random moment inside the i-th of
# KILL_TRIALS equal slices of a build, so a dozen trials cover the whole build
# (start-up, embedding, writing, the pointer swap) as evenly as two dozen
# unstratified ones did, in half the time.
KILL_TRIALS = 12
# Every third trial is a first build into an empty index; their slices are
# spread over the build too.
FIRST_BUILD_EVERY = 3
FIRST_BUILD_TRIALS = range(0, KILL_TRIALS, FIRST_BUILD_EVERY)


def _child_build(sources: str, index: str, export: OnnxExport) -> None:
    """Runs in a forked child: a real build, model load included; a first build
    copies the session's ONNX export (`ReusedExport`) and verifies it."""
    build_index(sources, index, embedder=ReusedExport(load_embedder(DEFAULT_MODEL), export))


@pytest.fixture(scope="module")
def forkserver() -> multiprocessing.context.ForkServerContext:
    """Children forked from a server that imported the heavy modules once, so each
    trial starts in about a second instead of re-importing torch."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["assistant.indexing.build", "sentence_transformers"])
    return context


def _started() -> None:
    """A child that does nothing: starting it starts the fork server."""


def _sources_version(folder: Path, with_typhoon: bool) -> set[str]:
    """Switch the folder between two known versions; returns its document names."""
    shutil.copy(SOURCES / BRIEF, folder / BRIEF)
    typhoon = folder / "typhoon-relief.txt"
    if with_typhoon:
        shutil.copy(DATA / "typhoon-relief.txt", typhoon)
    elif typhoon.exists():
        typhoon.unlink()
    return {p.name for p in folder.iterdir()}


def _check_live_index(index: Path, allowed: list[set[str]], texts: dict[str, str]) -> str | None:
    """The live generation verifies, holds one of the allowed document sets, and
    answers the known question with offsets that round-trip; None if nothing is live."""
    try:
        generation = read_generation(index, with_vectors=True)
    except IndexMissingError:
        return None
    assert set(generation.manifest.documents) in allowed
    citations = retrieve(KNOWN_QUESTION, k=3, index_dir=index)
    assert KNOWN_ANSWER in citations[0].text
    for citation in citations:
        assert citation.generation == generation.manifest.generation
        assert texts[citation.source][citation.start : citation.end] == citation.text
    return generation.manifest.generation


@pytest.mark.slow
def test_builds_killed_at_random_moments_leave_a_complete_generation(
    forkserver: multiprocessing.context.ForkServerContext,
    tmp_path: Path,
    embedder: ReusedExport,
) -> None:
    texts = {
        BRIEF: (SOURCES / BRIEF).read_text(encoding="utf-8"),
        "typhoon-relief.txt": (DATA / "typhoon-relief.txt").read_text(encoding="utf-8"),
    }
    rng = random.Random(20241124)
    # How long an unkilled child build takes here: kills are spread over it.
    sources = tmp_path / "sources"
    sources.mkdir()
    _sources_version(sources, with_typhoon=False)
    starter = forkserver.Process(target=_started)  # the fork server imports, once
    starter.start()
    starter.join(timeout=300)
    assert starter.exitcode == 0
    started = time.monotonic()
    child = forkserver.Process(
        target=_child_build, args=(str(sources), str(tmp_path / "probe"), embedder.export)
    )
    child.start()
    child.join(timeout=300)
    assert child.exitcode == 0
    duration = time.monotonic() - started

    shared_index = tmp_path / "index"
    outcomes = {"old": 0, "new": 0, "none": 0}
    slice_seconds = duration * 1.1 / KILL_TRIALS

    def killed_build(index: Path, delay: float) -> tuple[str, set[str]]:
        """Start a build that changes what is live, kill it after `delay` seconds;
        what is live then ("old", "new" or "none") and the documents it built."""
        before = current_generation(index) if index.exists() else None
        old_docs = {p for p in (read_generation(index).manifest.documents if before else {})}
        # every build changes what is live: the typhoon note comes and goes
        new_docs = _sources_version(sources, with_typhoon="typhoon-relief.txt" not in old_docs)
        child = forkserver.Process(
            target=_child_build, args=(str(sources), str(index), embedder.export)
        )
        child.start()
        child.join(timeout=delay)  # returns early if the build is done
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=60)
        allowed = [new_docs] + ([old_docs] if before else [])
        live = _check_live_index(index, allowed, texts)
        if live is None:
            assert before is None  # only a killed first build leaves nothing live
            return "none", new_docs
        return ("old" if live == before else "new"), new_docs

    for trial in range(KILL_TRIALS):
        index = tmp_path / f"first-{trial}" if trial in FIRST_BUILD_TRIALS else shared_index
        outcome, new_docs = killed_build(index, slice_seconds * (trial + rng.random()))
        outcomes[outcome] += 1
    # On a loaded machine the probe build can misjudge how long the others take, and
    # every kill lands on one side of the switch: widen (or close) the window, a
    # bounded number of times, until both sides have been hit.
    for extra in range(4):
        if outcomes["new"] == 0:
            outcome, new_docs = killed_build(shared_index, duration * 2 ** (extra + 1))
        elif outcomes["old"] + outcomes["none"] == 0:
            outcome, new_docs = killed_build(shared_index, 0.0)
        else:
            break
        outcomes[outcome] += 1

    # Every index recovers with an ordinary build: the lock was released, the
    # temp folders of killed builds are cleared, and answers come back.
    for index in [shared_index, *(tmp_path / f"first-{t}" for t in FIRST_BUILD_TRIALS)]:
        build_index(sources, index, embedder=embedder)
        assert not [p for p in (index / GENERATIONS).iterdir() if p.name.startswith(".tmp-")]
        assert _check_live_index(index, [new_docs], texts) is not None
    # the kills landed both before and after the switch
    assert outcomes["old"] + outcomes["none"] > 0, outcomes
    assert outcomes["new"] > 0, outcomes


@pytest.mark.slow
def test_queries_and_chat_during_repeated_rebuilds_see_whole_generations(
    tmp_path: Path, embedder
) -> None:
    sources = brief_sources(tmp_path)
    index = tmp_path / "index"
    # every version of every document the readers may be cited from, by SHA-256
    versions: dict[str, str] = {}
    generation_docs: dict[str, dict[str, str]] = {}

    def record(report_generation: str) -> None:
        manifest = read_generation(index).manifest
        generation_docs[report_generation] = {
            source: record.sha256 for source, record in manifest.documents.items()
        }

    def remember(path: Path) -> None:
        import hashlib

        data = path.read_bytes()
        versions[hashlib.sha256(data).hexdigest()] = data.decode("utf-8")

    remember(sources / BRIEF)
    record(build_index(sources, index, embedder=embedder).generation)

    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list = []

    def reader(question: str) -> None:
        while not stop.is_set():
            try:
                seen.extend(retrieve(question, k=4, index_dir=index))
            except BaseException as exc:
                errors.append(exc)
                return

    app, url = serve(index, sources, port=_free_port(), block=False)

    def chat_reader() -> None:
        client = Client(url, verbose=False)
        while not stop.is_set():
            try:
                _, _, turns = client.predict(
                    "How many flights landed in Okinawa?", [], 3, [], api_name="/ask"
                )
                seen.extend(Citation.model_validate(c) for c in turns[-1]["answer"]["citations"])
                chat_replies.append(turns[-1]["answer"]["text"])
            except BaseException as exc:
                errors.append(exc)
                return

    chat_replies: list[str] = []
    questions = [KNOWN_QUESTION, "Where do relief flights land?", "What did the update say?"]
    threads = [threading.Thread(target=reader, args=(q,)) for q in questions]
    threads.append(threading.Thread(target=chat_reader))
    for thread in threads:
        thread.start()
    for round_number in range(6):
        note = sources / "update.txt"
        note.write_text(
            f"Update {round_number}\n\nRelief flight update {round_number}: "
            f"{round_number + 3} flights landed in Okinawa, the update said.\n",
            encoding="utf-8",
        )
        remember(note)
        if round_number == 3:
            shutil.copy(DATA / "typhoon-relief.txt", sources / "typhoon-relief.txt")
            remember(sources / "typhoon-relief.txt")
        if round_number == 5:
            (sources / "typhoon-relief.txt").unlink()
        record(build_index(sources, index, embedder=embedder).generation)
        time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    app.close()

    assert not errors, errors
    assert len(seen) > 50
    assert len(chat_replies) >= 5
    assert any("flights landed in Okinawa" in reply for reply in chat_replies)
    generations = {c.generation for c in seen}
    assert len(generations) >= 3  # the readers really crossed swaps
    for citation in seen:
        digest = generation_docs[citation.generation][citation.source]
        assert versions[digest][citation.start : citation.end] == citation.text
