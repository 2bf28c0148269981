"""Pure ranking steps: score fusion, near-duplicate removal, sentence highlights.

No model, no index: plain numbers and strings in, so each step is tested alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = [
    "fuse_convex",
    "fuse_rrf",
    "is_near_duplicate",
    "min_max",
    "pick_highlights",
    "word_set",
]

_WORD = re.compile(r"\w+")


def min_max(scores: Mapping[int, float]) -> dict[int, float]:
    """Scale scores to [0, 1] (all 1.0 when they are equal)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low < 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def fuse_convex(
    dense: Mapping[int, float], lexical: Mapping[int, float], alpha: float
) -> list[tuple[int, float]]:
    """`alpha · dense + (1 − alpha) · lexical` after min-max scaling each, best first.

    A candidate missing from one list gets that list's minimum (0 after scaling).
    """
    dense_scaled, lexical_scaled = min_max(dense), min_max(lexical)
    fused = {
        key: alpha * dense_scaled.get(key, 0.0) + (1 - alpha) * lexical_scaled.get(key, 0.0)
        for key in dense.keys() | lexical.keys()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse_rrf(rankings: Sequence[Sequence[int]], constant: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: `Σ 1 / (constant + rank)` over the rankings, best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (constant + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def word_set(text: str) -> frozenset[str]:
    """Lower-cased words of `text`."""
    return frozenset(_WORD.findall(text.lower()))


def is_near_duplicate(a: frozenset[str], b: frozenset[str], containment: float) -> bool:
    """True when the smaller word set lies (mostly) inside the larger one, e.g. a
    summary bullet that repeats a sentence of the body."""
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= containment


def pick_highlights(sentence_scores: Sequence[float], *, keep_within: float = 0.0) -> list[int]:
    """Indexes of the best sentence and of any other within `keep_within` of it,
    in document order."""
    if not sentence_scores:
        return []
    best = max(sentence_scores)
    return [i for i, score in enumerate(sentence_scores) if score >= best - keep_within]
