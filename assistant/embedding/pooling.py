"""Sentence vectors from a passage's token vectors: one forward pass per passage
gives both the passage vector and, by mean-pooling each sentence's tokens, a
vector per sentence (seen in its passage's context). Stored at build time, they
let a query pick highlight sentences by dot products instead of encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .._arrays import Spans, TokenVectors, Vectors

__all__ = ["SpanEncoder", "encode_with_spans", "pool_spans"]


class SpanEncoder(Protocol):
    """An embedder that also returns contextual vectors of character spans."""

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, progress: bool = False
    ) -> tuple[Vectors, Vectors]:
        """Passage vectors `(len(texts), dim)` and span vectors, one row per span in
        `spans` order (all spans of text 0, then of text 1, ...), unit length."""
        ...


class _PassageEncoder(Protocol):
    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors: ...


def pool_spans(
    tokens: TokenVectors,
    offsets: Spans,
    spans: Spans,
    fallback: Vectors,
) -> Vectors:
    """Unit-length mean of the token vectors inside each span.

    Args:
        tokens: One vector per token, `(n_tokens, dim)`; padding rows may follow.
        offsets: Character range of each token in the text; `(0, 0)` marks a
            special token, which belongs to no span.
        spans: Character ranges `[start, end)` in the same text.
        fallback: The vector for a span with no token of its own (cut off by the
            model's length limit): the passage's.

    Returns:
        `(len(spans), dim)` float32.
    """
    starts = np.fromiter((s for s, _ in offsets), dtype=np.int64, count=len(offsets))
    ends = np.fromiter((e for _, e in offsets), dtype=np.int64, count=len(offsets))
    real = ends > starts
    result = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        if not inside.any():
            result[row] = fallback
            continue
        mean = tokens[: len(offsets)][inside].astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        result[row] = mean / norm if norm > 0 else fallback
    return result


def encode_with_spans(
    embedder: _PassageEncoder, texts: Sequence[str], spans: Sequence[Spans], *, progress: bool
) -> tuple[Vectors, Vectors]:
    """Passage and span vectors from `embedder`: pooled from one forward pass when it
    can (`SpanEncoder`), else each span encoded on its own."""
    if hasattr(embedder, "encode_with_spans"):
        span_encoder: SpanEncoder = embedder  # type: ignore[assignment]
        return span_encoder.encode_with_spans(texts, spans, progress=progress)
    passages = embedder.encode_passages(texts, progress=progress)
    pieces = [text[s:e] for text, own in zip(texts, spans, strict=True) for s, e in own]
    return passages, embedder.encode_passages(pieces)
