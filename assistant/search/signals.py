"""Evidence of whether the sources cover a question at all, for abstention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from pydantic import BaseModel, ConfigDict, Field

from ..indexing.lexical import LexicalIndex, content_terms

__all__ = [
    "COVERAGE_DEPTH",
    "Signals",
    "abstention_signals",
    "term_weights",
    "weighted_share",
]

#: Excerpts whose words count towards `retrieved_coverage`: an answer may need a
#: few neighbouring passages, and a reader sees the first few.
COVERAGE_DEPTH = 3


class Signals(BaseModel):
    """Evidence of whether the sources cover the question at all (for abstention)."""

    model_config = ConfigDict(extra="forbid")

    dense_top: float = Field(description="Best cosine similarity of any passage.")
    coverage: float = Field(description="IDF-weighted share of question terms the corpus knows.")
    retrieved_coverage: float = Field(
        description="IDF-weighted share of question terms found in the top excerpts "
        "(with their titles and dates); unlike `coverage` it does not grow with the corpus."
    )


def term_weights(terms: Iterable[str], lexical: LexicalIndex) -> dict[str, float]:
    """IDF of each distinct question term; a term no passage holds weighs as much
    as the rarest possible term.

    Args:
        terms: The question's content terms (`content_terms`).
        lexical: The corpus's lexical index.

    Returns:
        Term → weight.
    """
    return {t: lexical.idf(t) or lexical.max_idf for t in terms}


def weighted_share(weights: Mapping[str, float], present: AbstractSet[str]) -> float:
    """The share of the question's term weight found in `present`.

    Args:
        weights: Term → weight (`term_weights`).
        present: The terms found.

    Returns:
        A share in [0, 1]; 0 for a question without terms.
    """
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def abstention_signals(
    dense_top: float,
    weights: Mapping[str, float],
    known: Iterable[str],
    retrieved: Sequence[str],
) -> Signals:
    """The signals of one search.

    Args:
        dense_top: The best cosine of any passage.
        weights: The question's term weights (`term_weights`).
        known: The question terms at least one passage holds.
        retrieved: The excerpts best first, each with its title and date; the
            first `COVERAGE_DEPTH` count.

    Returns:
        The signals.
    """
    retrieved_terms = {term for text in retrieved[:COVERAGE_DEPTH] for term in content_terms(text)}
    return Signals(
        dense_top=dense_top,
        coverage=weighted_share(weights, set(known)),
        retrieved_coverage=weighted_share(weights, retrieved_terms),
    )
