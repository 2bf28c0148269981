"""Choosing the excerpts: spreading a ranking over documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import build_index, retrieve
from assistant._settings import Settings
from assistant._types import Chunk
from assistant.search.selection import head_end, spread_documents

from ..conftest import BRIEF, ReusedExport, brief_and_notes


def _chunks(sources: str) -> list[Chunk]:
    """One passage per letter; the letter names its document."""
    return [
        Chunk(id=i, source=f"{s}.txt", start=0, end=1, text="x", sentences=[], tokens=1)
        for i, s in enumerate(sources)
    ]


def test_a_documents_later_passages_follow_every_documents_best() -> None:
    chunks = _chunks("aaabbc")
    ranked = [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6), (4, 0.5), (5, 0.4)]
    assert spread_documents(ranked, chunks, 1) == [
        (0, 0.9), (3, 0.6), (5, 0.4), (1, 0.8), (2, 0.7), (4, 0.5),
    ]  # fmt: skip
    assert spread_documents(ranked, chunks, 2) == [
        (0, 0.9), (1, 0.8), (3, 0.6), (4, 0.5), (5, 0.4), (2, 0.7),
    ]  # fmt: skip
    assert spread_documents(ranked, chunks, 3) == ranked


def test_the_head_stays_in_relevance_order_and_counts_for_its_documents() -> None:
    chunks = _chunks("aabacb")
    ranked = [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6), (4, 0.5), (5, 0.4)]
    # a and b have their best passage in the head, so only c's comes first after it
    assert spread_documents(ranked, chunks, 1, after=3) == [
        (0, 0.9), (1, 0.8), (2, 0.7), (4, 0.5), (3, 0.6), (5, 0.4),
    ]  # fmt: skip
    assert spread_documents(ranked, chunks, 1, after=6) == ranked


def _index(root: Path, embedder: ReusedExport, *, brief_copy: bool = False) -> Path:
    """An index of the brief and the two small fixture documents (and a second copy
    of the brief, whose passages repeat the brief's)."""
    sources = brief_and_notes(root)
    if brief_copy:
        shutil.copy(sources / BRIEF, sources / "brief-copy.txt")
    build_index(sources, root / "index", embedder=embedder)
    return root / "index"


@pytest.fixture(scope="module")
def three_documents(tmp_path_factory: pytest.TempPathFactory, embedder: ReusedExport) -> Path:
    return _index(tmp_path_factory.mktemp("three-documents"), embedder)


def _settings(index_dir: Path, **retrieval: int) -> Settings:
    settings = Settings(index_dir=index_dir)
    return settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update=retrieval)}
    )


QUESTION = "How do Japan and its partners respond to disasters in the region?"


def test_spreading_keeps_ranks_independent_of_k(three_documents: Path) -> None:
    settings = _settings(three_documents, per_document=1, spread_after=0)
    many = retrieve(QUESTION, k=20, settings=settings)
    assert [c.chunk_id for c in retrieve(QUESTION, k=3, settings=settings)] == [
        c.chunk_id for c in many[:3]
    ]
    assert len({c.source for c in many[:3]}) == 3  # every document's best first


def test_by_default_the_first_ten_keep_relevance_order(three_documents: Path) -> None:
    unspread = retrieve(QUESTION, k=20, settings=_settings(three_documents, per_document=0))
    assert len({c.source for c in unspread[:3]}) < 3  # spreading from the first would change it
    default = retrieve(QUESTION, k=20, settings=Settings(index_dir=three_documents))
    assert [c.chunk_id for c in default[:10]] == [c.chunk_id for c in unspread[:10]]
    assert [c.chunk_id for c in retrieve(QUESTION, k=10, index_dir=three_documents)] == [
        c.chunk_id for c in default[:10]
    ]
    # past the head, every document's best passage before any document's second
    head_sources = {c.source for c in default[:10]}
    tail = [c.source for c in default[10:]]
    newcomers = [s for s in dict.fromkeys(tail) if s not in head_sources]
    assert len(newcomers) == 2  # the two short notes, found only past the brief's passages
    assert tail[:2] == newcomers
    assert [c.source for c in unspread[10:12]] != newcomers


def test_repeated_passages_count_once_in_the_head(tmp_path: Path, embedder: ReusedExport) -> None:
    """With a copy of the brief, every brief passage comes twice in the ranking; the
    head is the first ten excerpts as selection chooses them, copies skipped."""
    index_dir = _index(tmp_path, embedder, brief_copy=True)
    unspread = retrieve(QUESTION, k=20, settings=_settings(index_dir, per_document=0))
    default = retrieve(QUESTION, k=20, settings=Settings(index_dir=index_dir))
    assert all(c.also_in for c in unspread[:10])  # each excerpt names its copy
    assert [(c.chunk_id, c.also_in) for c in default[:10]] == [
        (c.chunk_id, c.also_in) for c in unspread[:10]
    ]
    assert {c.source for c in default[10:12]} == {
        "typhoon-relief.txt",
        "2023-11-02-quad-foreign-ministers.md",
    }
    # the copies an excerpt names do not depend on k either
    assert [c.also_in for c in retrieve(QUESTION, k=5, index_dir=index_dir)] == [
        c.also_in for c in default[:5]
    ]


def test_the_head_ends_after_its_last_excerpt(three_documents: Path) -> None:
    from assistant.search.searcher import load_searcher

    searcher = load_searcher(three_documents)
    chunks = searcher.generation.chunks
    first = [(i, 1.0) for i in range(len(chunks))]
    assert head_end(searcher, first, 0, 0.8) == 0
    assert head_end(searcher, first, 3, 0.8) == 3  # distinct passages: one slot each
    repeated = [first[0], first[0], first[1]]  # a passage repeating itself overlaps it
    assert head_end(searcher, repeated, 2, 0.8) == 3
    assert head_end(searcher, repeated, 5, 0.8) == 3  # fewer excerpts than asked
