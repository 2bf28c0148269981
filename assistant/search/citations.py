"""A chosen passage as the `Citation` a caller receives."""

from __future__ import annotations

from collections.abc import Sequence

from .._types import Citation, Copy, Span, page_at, page_span, section_at
from ..indexing.generations import Generation

__all__ = ["cite"]


def cite(
    generation: Generation,
    chunk_id: int,
    score: float,
    rank: int,
    highlights: Sequence[tuple[int, int]],
    copies: Sequence[int],
) -> Citation:
    """The citation of one passage, with its document's metadata.

    Args:
        generation: The generation searched.
        chunk_id: The passage.
        score: Its fused score.
        rank: 1 for the best excerpt.
        highlights: Its highlighted `(start, end)` spans.
        copies: Passages of other documents that repeat it.

    Returns:
        The citation.
    """
    chunk = generation.chunks[chunk_id]
    record = generation.manifest.documents[chunk.source]
    page, page_end = page_span(record.pages, chunk.start, chunk.end)
    return Citation(
        rank=rank,
        score=score,
        source=chunk.source,
        title=record.title,
        date=record.date,
        series=record.series,
        text=chunk.text,
        start=chunk.start,
        end=chunk.end,
        highlights=[Span(start=start, end=end) for start, end in highlights],
        chunk_id=chunk.id,
        generation=generation.manifest.generation,
        kind=record.kind,
        page=page,
        page_end=page_end,
        section=section_at(record.sections, chunk.start),
        also_in=[_copy(generation, other) for other in copies],
    )


def _copy(generation: Generation, chunk_id: int) -> Copy:
    chunk = generation.chunks[chunk_id]
    record = generation.manifest.documents[chunk.source]
    return Copy(
        source=chunk.source,
        title=record.title,
        kind=record.kind,
        start=chunk.start,
        end=chunk.end,
        page=page_at(record.pages, chunk.start),
    )
