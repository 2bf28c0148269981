"""The sentence(s) of each excerpt to mark: the best match for the question."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from .._arrays import Vectors
from ..indexing.generations import Generation
from ..indexing.lexical import content_terms
from .signals import weighted_share

__all__ = ["highlight_spans", "pick_highlights", "sentence_cosines"]


def pick_highlights(sentence_scores: Sequence[float]) -> list[int]:
    """Indexes of the best-scoring sentence (all of them on a tie), in document order.

    Args:
        sentence_scores: One score per sentence of a passage.

    Returns:
        Sentence indexes; empty for no sentence.
    """
    if not sentence_scores:
        return []
    best = max(sentence_scores)
    return [i for i, score in enumerate(sentence_scores) if score >= best]


def sentence_cosines(
    generation: Generation, chunk_id: int, query: Vectors
) -> npt.NDArray[np.floating]:
    """Cosine between the question and each sentence of a passage (the sentence
    vectors were pooled and stored at build time).

    Args:
        generation: The generation searched.
        chunk_id: The passage.
        query: The question's unit vector.

    Returns:
        One cosine per sentence, in order.
    """
    first = generation.sentence_rows[chunk_id]
    count = len(generation.chunks[chunk_id].sentences)
    return generation.sentence_vectors[first : first + count] @ query


# The same excerpts come back for related questions; their sentences' terms are
# worth remembering (bounded: a few MB at most).
@functools.lru_cache(maxsize=8192)
def _sentence_terms(sentence: str) -> frozenset[str]:
    return frozenset(content_terms(sentence))


def highlight_spans(
    generation: Generation,
    chunk_ids: list[int],
    query: Vectors,
    weights: Mapping[str, float],
    lexical_weight: float,
) -> list[list[tuple[int, int]]]:
    """Best-matching sentence spans of each passage: cosine between the question
    and the sentence, plus `lexical_weight` × the IDF-weighted share of question
    terms the sentence holds.

    Args:
        generation: The generation searched.
        chunk_ids: The chosen passages.
        query: The question's unit vector.
        weights: The question's term weights (`term_weights`).
        lexical_weight: Weight of the term share beside the cosine.

    Returns:
        For each passage, its highlighted `(start, end)` spans (absolute offsets).
    """
    result: list[list[tuple[int, int]]] = []
    for chunk_id in chunk_ids:
        chunk = generation.chunks[chunk_id]
        if len(chunk.sentences) == 1:
            result.append([(chunk.sentences[0].start, chunk.sentences[0].end)])
            continue
        cosines = sentence_cosines(generation, chunk_id, query)
        scores = []
        for sentence, cosine in zip(chunk.sentences, cosines.tolist(), strict=True):
            words = chunk.text[sentence.start - chunk.start : sentence.end - chunk.start]
            share = weighted_share(weights, _sentence_terms(words))
            scores.append(cosine + lexical_weight * share)
        best = pick_highlights(scores)
        result.append([(chunk.sentences[i].start, chunk.sentences[i].end) for i in best])
    return result
