"""Choosing the excerpts: spreading a ranking over documents."""

from __future__ import annotations

from pathlib import Path

from assistant import retrieve
from assistant._settings import Settings
from assistant._types import Chunk
from assistant.search.selection import spread_documents


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


def test_spreading_keeps_ranks_independent_of_k(brief_index: Path) -> None:
    settings = Settings(index_dir=brief_index)
    settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"per_document": 1})}
    )
    question = "Which missiles will the U.S. and Japan co-produce?"
    many = retrieve(question, k=20, settings=settings)
    assert [c.chunk_id for c in retrieve(question, k=3, settings=settings)] == [
        c.chunk_id for c in many[:3]
    ]
