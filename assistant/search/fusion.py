"""Score fusion: a dense and a BM25 ranking made one.

No model, no index: plain numbers in, so each rule is tested alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["add_rankings", "fuse_convex", "fuse_fixed", "fuse_rrf", "min_max"]


def min_max(scores: Mapping[int, float]) -> dict[int, float]:
    """Scale scores to [0, 1] (all 1.0 when they are equal).

    Args:
        scores: Passage id → score.

    Returns:
        Passage id → scaled score.
    """
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

    Args:
        dense: Passage id → cosine, for the dense candidates.
        lexical: Passage id → BM25 score, for the lexical candidates.
        alpha: The dense weight, in [0, 1].

    Returns:
        (passage id, fused score) best first, ties by id.
    """
    dense_scaled, lexical_scaled = min_max(dense), min_max(lexical)
    fused = {
        key: alpha * dense_scaled.get(key, 0.0) + (1 - alpha) * lexical_scaled.get(key, 0.0)
        for key in dense.keys() | lexical.keys()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse_fixed(
    dense: Mapping[int, float],
    lexical: Mapping[int, float],
    lexical_scores: npt.NDArray[np.float32],
    lexical_bound: float,
    alpha: float,
) -> list[tuple[int, float]]:
    """`alpha · cosine + (1 − alpha) · BM25 / bound` over the union of both pools.

    A lexical candidate outside the dense pool gets the pool's lowest cosine (its
    own is at most that); every passage has its exact BM25 score.

    Args:
        dense: Passage id → cosine, for the dense candidates.
        lexical: The lexical candidates (their ids are what counts).
        lexical_scores: Every passage's BM25 score, by id.
        lexical_bound: A BM25 score no passage can exceed (0: none is known).
        alpha: The dense weight, in [0, 1].

    Returns:
        (passage id, fused score) best first, ties by id.
    """
    floor = min(dense.values(), default=0.0)
    bound = lexical_bound or 1.0
    candidates = set(dense) | set(lexical)
    fused = {
        i: alpha * dense.get(i, floor) + (1 - alpha) * float(lexical_scores[i]) / bound
        for i in candidates
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse_rrf(rankings: Sequence[Sequence[int]], constant: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: `Σ 1 / (constant + rank)` over the rankings, best first.

    Args:
        rankings: Passage ids, each ranking best first.
        constant: Damps the weight of the first ranks.

    Returns:
        (passage id, fused score) best first, ties by id.
    """
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (constant + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def add_rankings(
    first: Sequence[tuple[int, float]], second: Sequence[tuple[int, float]], weight: float
) -> list[tuple[int, float]]:
    """`first`'s score plus `weight` × `second`'s, over both (a passage missing from
    one counts 0 there), best first.

    Args:
        first, second: (passage id, score) rankings on the same scale.
        weight: The second ranking's weight.

    Returns:
        (passage id, summed score) best first, ties by id.
    """
    summed = dict(first)
    for key, score in second:
        summed[key] = summed.get(key, 0.0) + weight * score
    return sorted(summed.items(), key=lambda item: (-item[1], item[0]))
