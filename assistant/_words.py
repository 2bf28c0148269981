"""The two word tokenizers the package shares, each defined once.

- Content words: what BM25 indexes (`indexing.lexical.content_terms` stems them),
  what near-duplicate passages and repeated answer sentences are compared by.
- Phrase tokens: words kept whole the way a reader writes them ("U.S.", "J-Alert",
  "China's") and the punctuation that separates clauses, for reading a question's
  structure (`answer.followups`).
"""

from __future__ import annotations

import re

__all__ = ["CONTENT_WORD", "PHRASE_TOKEN", "content_words", "phrase_tokens", "word_set"]

#: bm25s.tokenize's default (scikit-learn's pattern): runs of two or more word
#: characters, since a single letter (the "s" of "China's") locates nothing; but
#: also a dotted abbreviation ("U.S.", "U.N.", read without its dots) and digits
#: joined by plus signs ("2+2"), which that pattern cuts into single characters and
#: so drops. An abbreviation glued to a word ("S.Korea", "U.S.Navy") leaves the
#: word whole, and "Tokyo+Seoul" stays two words. Matched here rather than through
#: bm25s.tokenize, whose per-call progress-bar setup costs more than a query's BM25.
CONTENT_WORD = re.compile(r"(?u)\b[A-Z](?:\.[A-Z])+\.?(?!\w)|\b\d+(?:\+\d+)+\b|\b\w\w+\b")

#: A word with its inner apostrophes, dots, plus and hyphens ("U.S.", "2+2",
#: "J-Alert", "China's"), or one of the punctuation marks that end a clause.
PHRASE_TOKEN = re.compile(r"\w+(?:['’.+-]\w+)*\.?|[,;:?!]")


def content_words(text: str) -> list[str]:
    """The lower-cased content words of `text`, in order.

    Args:
        text: Any text.

    Returns:
        Every match of `CONTENT_WORD`, lower-cased, dots dropped ("U.S." is "us").
    """
    return [word.replace(".", "").lower() for word in CONTENT_WORD.findall(text)]


def word_set(text: str) -> frozenset[str]:
    """The distinct lower-cased content words of `text`.

    Args:
        text: Any text.

    Returns:
        The set of `content_words(text)`.
    """
    return frozenset(content_words(text))


def phrase_tokens(text: str) -> list[str]:
    """The words and clause punctuation of `text`, in order, case kept.

    Args:
        text: A question or a sentence.

    Returns:
        Every match of `PHRASE_TOKEN`.
    """
    return PHRASE_TOKEN.findall(text)
