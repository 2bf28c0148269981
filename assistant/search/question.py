"""The question and `k` a search is asked with, checked and cleaned."""

from __future__ import annotations

import numbers
import unicodedata

from .._errors import QuestionError

__all__ = ["check_k", "clean_question"]


def clean_question(question: object, max_chars: int) -> str:
    """The question with control characters and broken surrogates removed and
    whitespace collapsed.

    Args:
        question: What the caller passed as the question.
        max_chars: The longest question accepted, after cleaning.

    Returns:
        The cleaned question.

    Raises:
        QuestionError: Not a string, empty, or longer than `max_chars`.
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    # Lone surrogates cannot be encoded, tokenized or printed: drop them.
    text = question.encode("utf-8", "ignore").decode("utf-8")
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the sources")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,}: "
            "shorten it to the point you want answered"
        )
    return text


def check_k(k: object) -> int:
    """`k` as a positive int.

    Args:
        k: How many excerpts the caller asked for.

    Returns:
        `k` as an `int`.

    Raises:
        QuestionError: `k` is not a whole number of at least 1.
    """
    # Any integral type (numpy's int64 from a data frame) is a whole number.
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise QuestionError(f"k must be a whole number, not {k!r}")
    k = int(k)
    if k < 1:
        raise QuestionError(f"k must be at least 1, got {k}")
    return k
