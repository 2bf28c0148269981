"""Checking an answer against its excerpts: a sentence stays only when it stands
verbatim in the excerpt its `[n]` marker cites, and "(also reported in [m])" only
names excerpts that do report the same fact."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .._types import Citation
from ..indexing.lexical import content_terms

__all__ = ["also_reported", "reports_same", "verify"]

_MARKED = re.compile(r"\s*(.+?)\s*\[(\d+)\](?:\s*\(also reported in ((?:\[\d+\](?:,\s*)?)+)\))?")
_NUMBER = re.compile(r"\[(\d+)\]")
# Share of a sentence's content terms another document's excerpt must hold for it
# to count as reporting the same fact ("also reported in [n]"), and the fewest
# terms that make a fact (a four-word sentence matches too much by chance).
_SAME_REPORT = 0.7
_FACT_TERMS = 5


def reports_same(sentence: str, source: str, other: Citation) -> bool:
    """True when `other`, an excerpt of another document, holds most of the
    sentence's content terms: the same fact as reported elsewhere.

    Args:
        sentence: A sentence of the answer.
        source: The document the sentence was cited from.
        other: Another excerpt.

    Returns:
        Whether `other` reports the sentence's fact.
    """
    terms = set(content_terms(sentence))
    if other.source == source or len(terms) < _FACT_TERMS:
        return False
    return len(terms & set(content_terms(other.text))) / len(terms) >= _SAME_REPORT


def _also(numbers: Sequence[int]) -> str:
    return f" (also reported in {', '.join(f'[{n}]' for n in numbers)})" if numbers else ""


def also_reported(sentence: str, cited: Citation, citations: Sequence[Citation]) -> str:
    """The suffix ` (also reported in [3], [4])` naming the lower-ranked excerpts of
    other documents that report the sentence's fact: the answer cites the best-ranked
    report and groups the rest.

    Args:
        sentence: A sentence of `cited`.
        cited: The excerpt the sentence is cited from.
        citations: Every excerpt of the answer.

    Returns:
        The suffix, or "" when no other excerpt reports the fact.
    """
    return _also(
        [
            c.rank
            for c in citations
            if c.rank > cited.rank and reports_same(sentence, cited.source, c)
        ]
    )


def verify(text: str, citations: Sequence[Citation]) -> str:
    """Keep only the `sentence [n]` parts whose sentence is verbatim in excerpt n, and
    of their "(also reported in [m])" only the excerpts that do report the fact.

    Args:
        text: The answer as a `Generator` wrote it.
        citations: The excerpts its markers number, best first.

    Returns:
        The verified answer; "" when no part survives.
    """
    kept = []
    for match in _MARKED.finditer(text):
        sentence, number = match.group(1), int(match.group(2))
        if not (1 <= number <= len(citations) and sentence in citations[number - 1].text):
            continue
        cited = citations[number - 1]
        also = [
            int(n)
            for n in _NUMBER.findall(match.group(3) or "")
            if 1 <= int(n) <= len(citations)
            and reports_same(sentence, cited.source, citations[int(n) - 1])
        ]
        kept.append(f"{sentence} [{number}]{_also(also)}")
    return " ".join(kept)
