"""BM25 over passages (bm25s, Snowball stems). The only module that imports bm25s.

Besides scores it answers "which of the question's terms does the corpus know",
one of the signals that tell an off-topic question from a paraphrase.

A built index is a term-major sparse matrix of precomputed BM25 scores (the one
bm25s computes), stored in a generation as plain `.npy` arrays that a reader
memory-maps: opening it costs a few file opens, whatever the corpus size, and a
query touches only the columns of its terms. Terms are kept sorted by their
UTF-8 bytes, so a term is found by binary search in the mapped term list
instead of a dictionary every process would rebuild.
"""

from __future__ import annotations

import bisect
import functools
import io
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import Stemmer
from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import REBUILD_HINT, IndexCorruptError
from .._words import content_words

__all__ = [
    "LEXICAL_PARTS",
    "TERMS_VERSION",
    "LexicalIndex",
    "LexicalParams",
    "content_terms",
    "stem",
    "top_rows",
]

logger = logging.getLogger("assistant")


def _quiet_bm25s() -> None:
    """bm25s logs "Building index from tokens" at WARNING on every index; silenced
    when the first index is built, not when `assistant` is imported."""
    logging.getLogger("bm25s").setLevel(logging.ERROR)


#: What `content_terms` cuts, as a number recorded in each generation: raised when
#: it changes, so that the next build writes a generation whose BM25 index is cut
#: like the queries are, even if no document changed (2: "U.S." and "2+2" whole;
#: 3: an abbreviation glued to a word leaves the word whole, only digits join by "+").
TERMS_VERSION = 3

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


def stem(word: str) -> str:
    """The Snowball stem of a lower-cased `word`."""
    return str(_stemmer().stemWord(word.lower()))


def content_terms(text: str) -> list[str]:
    """Stemmed terms of `text` without stopwords or question words, in order."""
    stopwords = _stopwords()
    words = [w for w in content_words(text) if w not in stopwords]
    return list(_stemmer().stemWords(words))


def top_rows(scores: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.intp]:
    """The rows of the `count` best positive scores, best first, ties by row.

    The same rows, in the same order, as a stable sort of all `scores` cut at
    `count` (zeros dropped), but partitioned first: linear in the rows that hold
    a question term, not N log N in the corpus.

    Args:
        scores: One score per passage.
        count: How many rows at most.

    Returns:
        Row numbers, best score first; only rows whose score is above zero.
    """
    candidates = np.flatnonzero(scores > 0)
    if count <= 0 or not len(candidates):
        return candidates[:0]
    values = scores[candidates]
    if len(candidates) > count:
        # The count-th best value; every row above it is in, rows equal to it
        # are taken lowest first, as a stable sort would.
        threshold = np.partition(values, len(values) - count)[len(values) - count]
        above = values > threshold
        ties = np.flatnonzero(values == threshold)[: count - int(above.sum())]
        keep = np.sort(np.concatenate([np.flatnonzero(above), ties]))
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((candidates, -values))
    return candidates[order]


# Term lookups remembered per index (a few hundred KB at most).
_MAX_REMEMBERED = 65_536


class LexicalParams(BaseModel):
    """What a stored lexical index says about itself (`<variant>.params.json`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int
    """Passages indexed."""
    terms: int
    """Distinct terms."""
    entries: int
    """(term, passage) pairs with a score."""
    k1: float
    b: float
    method: str


# The arrays of a stored index, by file suffix: name, dtype, and which length.
LEXICAL_PARTS = ("params.json", "terms.npy", "term-offsets.npy", "offsets.npy", "rows.npy",
                 "scores.npy")  # fmt: skip
_ARRAYS: dict[str, tuple[str, type[np.generic]]] = {
    "terms.npy": ("terms", np.uint8),
    "term-offsets.npy": ("term_offsets", np.int64),
    "offsets.npy": ("offsets", np.int64),
    "rows.npy": ("rows", np.int32),
    "scores.npy": ("scores", np.float32),
}


class _SortedTerms(Sequence[bytes]):
    """The index's terms as UTF-8, in byte order, read from one buffer (mapped)."""

    def __init__(self, blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> None:
        self._blob = blob
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        return self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])].tobytes()

    def find(self, term: str) -> int:
        """The term's column, or -1 when no passage holds it."""
        key = term.encode("utf-8")
        column = bisect.bisect_left(self, key)
        return column if column < len(self) and self[column] == key else -1


class LexicalIndex:
    """BM25 scores and document frequencies over a fixed list of passages."""

    def __init__(self, passages: Sequence[str]) -> None:
        """Index `passages` in memory (a generation's stored index is `load`ed instead).

        Args:
            passages: The texts to index, one per passage id.
        """
        self._set(_build([content_terms(text) for text in passages], len(passages)))

    @classmethod
    def from_terms(cls, terms: Sequence[Sequence[str]]) -> LexicalIndex:
        """Index passages already cut into `content_terms` (one list per passage).

        Args:
            terms: Each passage's content terms, in order.

        Returns:
            The index.
        """
        index = cls.__new__(cls)
        index._set(_build(terms, len(terms)))
        return index

    @classmethod
    def load(cls, path_of: Callable[[str], Path]) -> LexicalIndex:
        """Open a stored index, its arrays memory-mapped (checksums are the caller's).

        Args:
            path_of: The file holding each part (see `LEXICAL_PARTS`).

        Returns:
            The index; nothing is read but its parameters until a query needs it.

        Raises:
            IndexCorruptError: A part is missing, of the wrong type or shape.
        """
        parameters_path = path_of("params.json")
        try:
            parameters = LexicalParams.model_validate_json(parameters_path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise _corrupt(parameters_path, str(exc).splitlines()[0]) from None
        arrays: dict[str, npt.NDArray[np.generic]] = {}
        for part, (name, dtype) in _ARRAYS.items():
            path = path_of(part)
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise _corrupt(path, str(exc)) from None
            if array.dtype != dtype or array.ndim != 1:
                raise _corrupt(path, f"{array.dtype} array of shape {array.shape}")
            arrays[name] = array
        expected = {
            "term-offsets.npy": parameters.terms + 1,
            "offsets.npy": parameters.terms + 1,
            "rows.npy": parameters.entries,
            "scores.npy": parameters.entries,
        }
        for part, length in expected.items():
            found = len(arrays[_ARRAYS[part][0]])
            if found != length:
                raise _corrupt(path_of(part), f"{found} entries, expected {length}")
        index = cls.__new__(cls)
        index._set(_Arrays(parameters=parameters, **arrays))
        return index

    def to_files(self) -> dict[str, bytes]:
        """The stored form: file suffix (see `LEXICAL_PARTS`) → content.

        Returns:
            The parameters as JSON and each array as `.npy`.
        """
        files = {"params.json": self._params.model_dump_json(indent=2).encode()}
        for part, (name, dtype) in _ARRAYS.items():
            buffer = io.BytesIO()
            array = np.ascontiguousarray(getattr(self, f"_{name}"), dtype=dtype)
            np.save(buffer, array, allow_pickle=False)
            files[part] = buffer.getvalue()
        return files

    def restrict(self, first: int, last: int) -> LexicalIndex:
        """The scores of passages `first` to `last - 1` only, as rows 0 … last − first − 1:
        one shard's part of the matrix, its BM25 statistics still the whole corpus's
        (so a shard's scores are the global scores of its passages, bit for bit).

        Only `scores` of the result is meaningful; term statistics (`idf`,
        `known_terms`) stay with the whole index.

        Args:
            first: The shard's first passage id.
            last: One past its last passage id.

        Returns:
            An in-memory index over the shard's rows.
        """
        rows = np.asarray(self._rows)
        inside = (rows >= first) & (rows < last)
        kept = np.concatenate([[0], np.cumsum(inside, dtype=np.int64)])
        offsets = kept[np.asarray(self._offsets)]
        index = LexicalIndex.__new__(LexicalIndex)
        index._set(
            _Arrays(
                parameters=self._params.model_copy(
                    update={"count": last - first, "entries": int(offsets[-1])}
                ),
                terms=self._terms,
                term_offsets=self._term_offsets,
                offsets=offsets,
                rows=(rows[inside] - first).astype(np.int32),
                scores=np.asarray(self._scores)[inside],
            )
        )
        return index

    def _set(self, arrays: _Arrays) -> None:
        self._params = arrays.parameters
        self.count = arrays.parameters.count
        self._terms = arrays.terms
        self._term_offsets = arrays.term_offsets
        self._offsets = arrays.offsets
        self._rows = arrays.rows
        self._scores = arrays.scores
        self._lookup = _SortedTerms(arrays.terms, arrays.term_offsets)
        self._columns: dict[str, int] = {}

    def _column(self, term: str) -> int:
        """The term's column (-1: unknown); remembered, as questions repeat terms."""
        column = self._columns.get(term)
        if column is None:
            column = self._lookup.find(term)
            if len(self._columns) < _MAX_REMEMBERED:
                self._columns[term] = column
        return column

    def _frequency(self, column: int) -> int:
        return int(self._offsets[column + 1] - self._offsets[column]) if column >= 0 else 0

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; 0 for a term no passage holds."""
        frequency = self._frequency(self._column(term))
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
        return sum(self.idf(t) for t in self.known_terms(terms)) * (self._params.k1 + 1)

    def known_terms(self, terms: Sequence[str]) -> list[str]:
        """The terms that occur in at least one passage."""
        return [t for t in terms if self._frequency(self._column(t))]

    def scores(self, terms: Sequence[str]) -> npt.NDArray[np.float32]:
        """BM25 score of every passage for the query `terms` (zeros if none is known)."""
        scores = np.zeros(self.count, dtype=np.float32)
        # Term by term, in the question's order (a repeated term counts again), in
        # float32: the sums bm25s's own `get_scores` makes, bit for bit.
        for term in terms:
            column = self._column(term)
            if column < 0:
                continue
            first, last = int(self._offsets[column]), int(self._offsets[column + 1])
            # A passage appears once per term, so plain fancy-index addition is exact.
            scores[self._rows[first:last]] += self._scores[first:last]
        return scores


class _Arrays(BaseModel):
    """A lexical index's parts (built, or mapped from a generation)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    parameters: LexicalParams
    terms: np.ndarray
    term_offsets: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray
    scores: np.ndarray


def _build(terms: Sequence[Sequence[str]], count: int) -> _Arrays:
    """bm25s's score matrix over `terms`, its columns reordered by term bytes."""
    import bm25s  # only a build needs it; a reader maps the stored arrays

    _quiet_bm25s()
    model = bm25s.BM25()
    parameters = {"k1": float(model.k1), "b": float(model.b), "method": str(model.method)}
    # With no term in any passage (only stopwords or symbols) BM25's average
    # length is 0 and its scores NaN: such an index simply scores nothing.
    if not any(terms):
        return _Arrays(
            parameters=LexicalParams(count=count, terms=0, entries=0, **parameters),
            terms=np.zeros(0, np.uint8),
            term_offsets=np.zeros(1, np.int64),
            offsets=np.zeros(1, np.int64),
            rows=np.zeros(0, np.int32),
            scores=np.zeros(0, np.float32),
        )
    model.index([list(t) for t in terms], show_progress=False)
    vocabulary: dict[str, int] = {t: c for t, c in model.vocab_dict.items() if t}
    indptr = np.asarray(model.scores["indptr"], dtype=np.int64)
    names = sorted(vocabulary, key=lambda t: t.encode("utf-8"))
    encoded = [t.encode("utf-8") for t in names]
    columns = np.fromiter((vocabulary[t] for t in names), dtype=np.int64, count=len(names))
    lengths = indptr[columns + 1] - indptr[columns]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    # Entry j of new column i is entry j of old column columns[i].
    take = np.repeat(indptr[columns] - offsets[:-1], lengths) + np.arange(offsets[-1])
    term_offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    return _Arrays(
        parameters=LexicalParams(
            count=count, terms=len(names), entries=int(offsets[-1]), **parameters
        ),
        terms=np.frombuffer(b"".join(encoded), dtype=np.uint8),
        term_offsets=term_offsets,
        offsets=offsets,
        rows=np.asarray(model.scores["indices"], dtype=np.int32)[take],
        scores=np.asarray(model.scores["data"], dtype=np.float32)[take],
    )


def _corrupt(path: Path, reason: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"lexical index file {path} is invalid ({reason}): {REBUILD_HINT}",
        path=str(path),
    )
