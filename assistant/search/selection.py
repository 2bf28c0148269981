"""Choosing the excerpts: the best passages that do not repeat a better one."""

from __future__ import annotations

from collections.abc import Sequence

from .._types import Chunk
from .searcher import Searcher

__all__ = ["head_end", "is_near_duplicate", "select_passages", "spread_documents"]


def is_near_duplicate(a: frozenset[str], b: frozenset[str], containment: float) -> bool:
    """True when the smaller word set lies (mostly) inside the larger one, e.g. a
    summary bullet that repeats a sentence of the body.

    Args:
        a, b: Word sets (`word_set`).
        containment: The share of the smaller set that must lie in the other.

    Returns:
        Whether the two count as the same text; False when either is empty.
    """
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= containment


def select_passages(
    searcher: Searcher, ranked: list[tuple[int, float]], k: int, containment: float
) -> tuple[list[tuple[int, float]], dict[int, list[int]]]:
    """The best `k` passages that do not repeat a better one, and for each the
    passages of other documents that repeat it (the same brief as PDF and as text):
    those are named on its citation instead of taking excerpt slots of their own.

    Args:
        searcher: The generation searched.
        ranked: (passage id, score) best first.
        k: Excerpts wanted at most.
        containment: See `is_near_duplicate`.

    Returns:
        The chosen (passage id, score) best first, and chosen id → ids of its
        copies in other documents (one per document).
    """
    chosen: list[tuple[int, float]] = []
    copies: dict[int, list[int]] = {}
    chunks = searcher.generation.chunks
    for chunk_id, score in ranked:
        repeated = _repeated(searcher, chunk_id, [other for other, _ in chosen], containment)
        if repeated is None and len(chosen) < k:
            chosen.append((chunk_id, score))
        elif repeated is not None and chunks[repeated].source != chunks[chunk_id].source:
            sources = {chunks[c].source for c in copies.get(repeated, [])}
            if chunks[chunk_id].source not in sources:
                copies.setdefault(repeated, []).append(chunk_id)
    return chosen, copies


def head_end(
    searcher: Searcher, ranked: list[tuple[int, float]], count: int, containment: float
) -> int:
    """Where the first `count` excerpts of `ranked` end, counted as `select_passages`
    chooses them (a passage repeating a better one is not an excerpt): the position
    after the last of them, or the length of `ranked` when it holds fewer.

    Args:
        searcher: The generation searched.
        ranked: (passage id, score) best first.
        count: Excerpts in the head.
        containment: See `is_near_duplicate`.

    Returns:
        A position in `ranked`.
    """
    chosen: list[int] = []
    for position, (chunk_id, _) in enumerate(ranked):
        if len(chosen) == count:
            return position
        if _repeated(searcher, chunk_id, chosen, containment) is None:
            chosen.append(chunk_id)
    return len(ranked)


def _repeated(
    searcher: Searcher, chunk_id: int, chosen: Sequence[int], containment: float
) -> int | None:
    """The first of the `chosen` passages that `chunk_id` repeats, if any."""
    return next((o for o in chosen if _overlaps(searcher, chunk_id, o, containment)), None)


def _overlaps(searcher: Searcher, a: int, b: int, containment: float) -> bool:
    """Passages `a` and `b` share text: overlapping offsets or near-identical words."""
    first, second = searcher.generation.chunks[a], searcher.generation.chunks[b]
    if first.source == second.source and first.start < second.end and second.start < first.end:
        return True
    return is_near_duplicate(searcher.words[a], searcher.words[b], containment)


def spread_documents(
    ranked: list[tuple[int, float]], chunks: Sequence[Chunk], per_document: int, after: int = 0
) -> list[tuple[int, float]]:
    """`ranked` with its first `after` passages kept in place and, behind them, each
    document's passages after its best `per_document` moved behind every document's
    best ones, order kept within both parts; the result does not depend on how many
    excerpts are wanted.

    Args:
        ranked: (passage id, score) best first.
        chunks: The generation's passages (for their documents).
        per_document: Passages a document keeps in the first part (those in the
            head count).
        after: Passages kept in relevance order before any spreading.

    Returns:
        The reordered list.
    """
    seen: dict[str, int] = {}
    first: list[tuple[int, float]] = []
    later: list[tuple[int, float]] = []
    for position, (chunk_id, score) in enumerate(ranked):
        source = chunks[chunk_id].source
        seen[source] = seen.get(source, 0) + 1
        if position >= after:
            (first if seen[source] <= per_document else later).append((chunk_id, score))
    return ranked[:after] + first + later
