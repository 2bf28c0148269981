"""BM25 over passages (bm25s, Snowball stems). The only module that imports bm25s.

Besides scores it answers "which of the question's terms does the corpus know",
one of the signals that tell an off-topic question from a paraphrase.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer

__all__ = ["LexicalIndex", "content_terms", "stem"]


def _quiet_bm25s() -> None:
    """bm25s logs "Building index from tokens" at WARNING on every index; silenced
    when the first index is built, not when `assistant` is imported."""
    logging.getLogger("bm25s").setLevel(logging.ERROR)


# Words that shape a question but never locate its answer.
_QUESTION_WORDS = [
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how",
    "does", "did", "do", "done", "say", "said", "says", "tell", "according",
    "about", "brief", "would", "could", "should", "many", "much", "happened",
]  # fmt: skip


@functools.lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | frozenset(_QUESTION_WORDS)


# bm25s.tokenize's defaults (scikit-learn's pattern on lower-cased text); done
# here because its per-call progress-bar setup costs more than a query's BM25.
_TERM = re.compile(r"(?u)\b\w\w+\b")


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    return [content_terms(text) for text in texts]


def stem(word: str) -> str:
    """The Snowball stem of a lower-cased `word`."""
    return str(_stemmer().stemWord(word.lower()))


def content_terms(text: str) -> list[str]:
    """Stemmed terms of `text` without stopwords or question words, in order."""
    stopwords = _stopwords()
    words = [w for w in _TERM.findall(text.lower()) if w not in stopwords]
    return list(_stemmer().stemWords(words))


class LexicalIndex:
    """BM25 scores and document frequencies over a fixed list of passages."""

    def __init__(self, passages: Sequence[str]) -> None:
        _quiet_bm25s()
        self.count = len(passages)
        tokenized = _tokenize(passages)
        self._document_frequency: dict[str, int] = {}
        for terms in tokenized:
            for term in set(terms):
                self._document_frequency[term] = self._document_frequency.get(term, 0) + 1
        self._bm25 = bm25s.BM25()
        # With no term in any passage (only stopwords or symbols) BM25's average
        # length is 0 and its scores NaN: such an index simply scores nothing.
        self._empty = not any(tokenized)
        if not self._empty:
            self._bm25.index(tokenized, show_progress=False)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; 0 for a term no passage holds."""
        frequency = self._document_frequency.get(term, 0)
        if not frequency:
            return 0.0
        return math.log(1 + (self.count - frequency + 0.5) / (frequency + 0.5))

    @property
    def max_idf(self) -> float:
        """The IDF a term would have if exactly no passage held it: the rarest possible."""
        return math.log(1 + (self.count + 0.5) / 0.5)

    def upper_bound(self, terms: Sequence[str]) -> float:
        """A BM25 score no passage can exceed for `terms`: each known term's IDF ×
        (k1 + 1), the limit of its saturated term frequency."""
        return sum(self.idf(t) for t in self.known_terms(terms)) * (float(self._bm25.k1) + 1)

    def known_terms(self, terms: Sequence[str]) -> list[str]:
        """The terms that occur in at least one passage."""
        return [t for t in terms if t in self._document_frequency]

    def scores(self, terms: Sequence[str]) -> npt.NDArray[np.float32]:
        """BM25 score of every passage for the query `terms` (zeros if none is known)."""
        known = self.known_terms(terms)
        if not known or self._empty:
            return np.zeros(self.count, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
