"""The kind of answer a question asks for, and whether a passage can hold one.

Question-answering systems since the TREC QA track match a question's expected
answer type: a "when" question is answered by a passage with a date in it, not by
the passage that repeats most of its words. Here that is one small bonus in
ranking and highlighting; a question with no clear type gets none.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._lexical import stem

__all__ = ["AnswerIndex", "AnswerType", "Expectation", "expected_answer", "holds_answer"]


class AnswerType(enum.Enum):
    DATE = "date"
    NUMBER = "number"
    PERSON = "person"
    CAUSE = "cause"
    PLACE = "place"
    NAMED = "named"  # "which missiles": a proper name of the thing asked about


@dataclass(frozen=True)
class Expectation:
    """An expected answer type; `focus` is the stemmed noun of a "which <noun>"."""

    kind: AnswerType
    focus: str = ""


_MONTH = "january|february|march|april|may|june|july|august|september|october|november|december"
_PATTERNS = {
    # Explicit calendar dates only: "last month" appears in passages about anything.
    AnswerType.DATE: re.compile(
        rf"\b(\d{{1,2}}(st|nd|rd|th)?\s+({_MONTH})|({_MONTH})\s+\d{{1,2}}(st|nd|rd|th)?\b"
        rf"|({_MONTH}),?\s+(1[89]|20)\d\d|(in|since|by|until|from)\s+(1[89]|20)\d\d)\b",
        re.IGNORECASE,
    ),
    AnswerType.NUMBER: re.compile(
        r"\b(\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
        r"|dozens?|hundreds?|thousands?|millions?|billions?)\b",
        re.IGNORECASE,
    ),
    AnswerType.PERSON: re.compile(
        r"\b(Minister|Secretary|President|Admiral|General|Director|Ambassador|Chairman"
        r"|Senator|Commander|Governor|Chancellor|Premier|Spokesperson)\b"
        r"|\b[A-Z][a-z]+\s+[A-Z][a-z]+\b"
    ),
    AnswerType.CAUSE: re.compile(
        r"\b(because|due to|in response to|as a result|owing to|driven by|motivat\w*"
        r"|reasons?|for fear|amid|so that|caused by|result(ing|ed)? from)\b",
        re.IGNORECASE,
    ),
    AnswerType.PLACE: re.compile(r"\b(in|at|near|from|to)\s+(the\s+)?[A-Z][a-z]+"),
}

_QUESTION_TYPES = [
    (re.compile(r"(when|(in |on )?(what|which) (year|date|month|day))\b"), AnswerType.DATE),
    (re.compile(r"how (many|much|long|far|old|often)\b"), AnswerType.NUMBER),
    (re.compile(r"(who|whom|whose)\b"), AnswerType.PERSON),
    (re.compile(r"why\b"), AnswerType.CAUSE),
    (re.compile(r"(where|(in |at )?(what|which) (place|city|country))\b"), AnswerType.PLACE),
]
_WHICH_NOUN = re.compile(r"(?:in |of |for )?(?:which|what) (?:(?:kind|type|sort)s? of )?(\w+)")
# Words after "what" that start a clause, not name the thing asked about.
_NOT_A_FOCUS = frozenset([
    "is", "are", "was", "were", "be", "been", "do", "does", "did", "will", "would", "shall",
    "should", "can", "could", "may", "might", "must", "has", "have", "had", "happened",
    "caused", "made", "makes", "led", "the", "a", "an",
])  # fmt: skip
_CAPITALIZED = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w-]*")


def expected_answer(question: str) -> Expectation | None:
    """The answer type `question` asks for, or None when it is not clear.

    Args:
        question: A cleaned question.

    Returns:
        The expectation, or None for open questions ("What did X say?").
    """
    text = question.strip().lower()
    for pattern, kind in _QUESTION_TYPES:
        if pattern.match(text):
            return Expectation(kind)
    which = _WHICH_NOUN.match(text)
    if which and which.group(1) not in _NOT_A_FOCUS:
        return Expectation(AnswerType.NAMED, stem(which.group(1)))
    return None


def holds_answer(expectation: Expectation, text: str) -> bool:
    """Whether `text` holds something of the expected type.

    A NAMED expectation is met by the focus noun inside a proper name
    ("Air-to-Air Missiles" for "which missiles"), not by the common noun.
    """
    if expectation.kind is AnswerType.NAMED:
        return expectation.focus in _name_stems(text)
    return bool(_PATTERNS[expectation.kind].search(text))


def _name_stems(text: str) -> frozenset[str]:
    return frozenset(stem(part) for word in _CAPITALIZED.findall(text) for part in word.split("-"))


class AnswerIndex:
    """`holds_answer` over a fixed list of passages, each fact worked out once: a
    query asks it of every candidate passage, and the answer never changes.
    Memory stays bounded by passages × answer types (a name's stems, not each
    focus noun ever asked, are what is kept)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = texts
        self._facts: dict[AnswerType, dict[int, bool]] = {kind: {} for kind in AnswerType}
        self._names: dict[int, frozenset[str]] = {}

    def holds(self, expectation: Expectation, passage: int) -> bool:
        """`holds_answer(expectation, texts[passage])`, memoized."""
        if expectation.kind is AnswerType.NAMED:
            names = self._names.get(passage)
            if names is None:
                names = self._names[passage] = _name_stems(self._texts[passage])
            return expectation.focus in names
        facts = self._facts[expectation.kind]
        fact = facts.get(passage)
        if fact is None:
            fact = facts[passage] = holds_answer(expectation, self._texts[passage])
        return fact
