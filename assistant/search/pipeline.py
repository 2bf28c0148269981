"""`retrieve()`: question → cited excerpts, by dense + BM25 search over the live generation."""

from __future__ import annotations

import functools
import numbers
import os
import threading
import unicodedata
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from .._errors import IndexMismatchError, QuestionError
from .._settings import RetrievalSettings, Settings
from .._types import Citation, Copy, Span, document_context, page_at, page_span, section_at
from ..embedding.encoders import query_embedder
from ..embedding.transformer import Embedder
from ..indexing.generations import POINTER, Generation, current_generation, read_generation
from ..indexing.lexical import LexicalIndex, content_terms
from .fusion import fuse_convex, fuse_rrf, is_near_duplicate, pick_highlights, word_set

__all__ = [
    "SearchResult",
    "Signals",
    "clean_question",
    "load_searcher",
    "resolve_settings",
    "retrieve",
    "search",
]


def clean_question(question: object, max_chars: int) -> str:
    """The question with control characters and broken surrogates removed and
    whitespace collapsed.

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


@dataclass(frozen=True)
class Searcher:
    """A generation with the structures built from it on load; shared by threads."""

    generation: Generation
    in_context: list[str]
    """Each passage preceded by its document's title and date."""
    texts: list[str]
    words: list[frozenset[str]]
    _lexical: dict[bool, LexicalIndex] = field(default_factory=dict)
    _lexical_lock: threading.Lock = field(default_factory=threading.Lock)

    def lexical(self, in_context: bool) -> LexicalIndex:
        """BM25 over the passages, with their titles and dates or alone; built on
        first use, so a process builds only the one its settings ask for."""
        with self._lexical_lock:
            if in_context not in self._lexical:
                self._lexical[in_context] = LexicalIndex(
                    self.in_context if in_context else self.texts
                )
            return self._lexical[in_context]


_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int, int] | None, Searcher]] = {}


def _pointer_stamp(index_dir: Path) -> tuple[int, int, int] | None:
    """Identity of `CURRENT.json` as the file system sees it: a rebuild replaces
    the file (new inode), so an unchanged stamp means an unchanged pointer, and
    one stat is cheaper than reading and parsing it on every query."""
    try:
        info = os.stat(index_dir / POINTER)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def load_searcher(index_dir: Path) -> Searcher:
    """The live generation of `index_dir`, loaded once and reloaded when the
    pointer moves (a rebuild in another process is picked up on the next query).
    A query keeps the `Searcher` it started with, so a swap never mixes two
    generations in one answer. A corrupt live generation falls back to the newest
    older one that verifies.

    Raises:
        IndexMissingError, IndexMismatchError, IndexCorruptError: See `read_generation`.
    """
    key = Path(os.path.abspath(index_dir))
    stamp = _pointer_stamp(key)
    entry = _cache.get(key)
    if entry is not None and stamp is not None and entry[0] == stamp:
        return entry[1]
    with _cache_lock:
        entry = _cache.get(key)
        cached = entry[1] if entry is not None else None
        if cached is None or cached.generation.pointer != current_generation(key):
            generation = read_generation(key, fallback=True)
            texts = [chunk.text for chunk in generation.chunks]
            cached = Searcher(
                generation, _with_context(generation), texts, [word_set(t) for t in texts]
            )
        _cache[key] = (stamp, cached)
        return cached


def _with_context(generation: Generation) -> list[str]:
    """Each passage preceded by its document's title and date ("May 25, 2024"), the
    words a question uses to name a report."""
    contexts = {
        source: document_context(record.title, record.date)
        for source, record in generation.manifest.documents.items()
    }
    return [contexts[c.source] + c.text for c in generation.chunks]


def _embedder_for(generation: Generation, settings: Settings) -> Embedder:
    built_with = generation.manifest.model
    if built_with != settings.model:
        raise IndexMismatchError(
            f"index built with model {built_with}, current model {settings.model}: "
            "run `assistant build --force`"
        )
    embedder = query_embedder(generation, settings)
    if embedder.dimension != generation.manifest.dimension:
        raise IndexMismatchError(
            f"index has {generation.manifest.dimension}-d vectors, model {settings.model} "
            f"makes {embedder.dimension}-d: run `assistant build --force`"
        )
    return embedder


class Signals(BaseModel):
    """Evidence of whether the sources cover the question at all (for abstention)."""

    model_config = ConfigDict(extra="forbid")

    dense_top: float = Field(description="Best cosine similarity of any passage.")
    coverage: float = Field(description="IDF-weighted share of question terms the corpus knows.")
    retrieved_coverage: float = Field(
        description="IDF-weighted share of question terms found in the top excerpts "
        "(with their titles and dates); unlike `coverage` it does not grow with the corpus."
    )
    terms: int = Field(description="Content terms in the question.")


class SearchResult(BaseModel):
    """Citations plus the signals computed on the way."""

    model_config = ConfigDict(extra="forbid")

    question: str
    citations: list[Citation]
    signals: Signals


def _term_weights(terms: list[str], lexical: LexicalIndex) -> dict[str, float]:
    """IDF of each distinct question term; a term no passage holds weighs as much
    as the rarest possible term."""
    return {t: lexical.idf(t) or lexical.max_idf for t in terms}


def _weighted_share(weights: dict[str, float], present: AbstractSet[str]) -> float:
    """The share of the question's term weight found in `present`."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


# Excerpts whose words count towards `retrieved_coverage`: an answer may need a
# few neighbouring passages, and a reader sees the first few.
_COVERAGE_DEPTH = 3


def search(question: str, k: int, settings: Settings) -> SearchResult:
    """Rank passages for `question` and shape the best `k` into citations.

    Raises:
        QuestionError, IndexMissingError, IndexMismatchError, IndexCorruptError
    """
    text = clean_question(question, settings.max_question_chars)
    k = min(check_k(k), settings.retrieval.max_results)
    searcher = load_searcher(settings.index_dir)
    generation = searcher.generation
    embedder = _embedder_for(generation, settings)
    query = embedder.encode_query(text)
    terms = content_terms(text)
    options = settings.retrieval
    # One pool whatever k is, so a passage's rank does not depend on how many
    # were asked for (k is already capped at max_results).
    pool = min(generation.index.count, max(options.candidates, k))
    lexical_index = searcher.lexical(options.lexical_context)

    dense = dict(generation.index.search(query, pool))
    lexical_scores = lexical_index.scores(terms)
    top_lexical = np.argsort(-lexical_scores, kind="stable")[:pool]
    lexical_hits = {int(i): float(lexical_scores[i]) for i in top_lexical if lexical_scores[i] > 0}
    if options.fusion == "dense" or (options.fusion != "lexical" and not lexical_hits):
        ranked = sorted(dense.items(), key=lambda item: -item[1])
    elif options.fusion == "lexical":
        ranked = sorted(lexical_hits.items(), key=lambda item: -item[1])
    elif options.fusion == "rrf":
        ranked = fuse_rrf([list(dense), list(lexical_hits)])
    else:
        if options.normalization == "fixed":
            bound = lexical_index.upper_bound(terms)
            fused = _fuse_fixed(dense, lexical_hits, lexical_scores, bound, options)
        else:
            fused = fuse_convex(dense, lexical_hits, options.alpha)
        ranked = _with_evidence(fused, generation, query, options)

    chosen, copies = _select(searcher, ranked, k, options.duplicate_containment)

    weights = _term_weights(terms, lexical_index)
    known = set(lexical_index.known_terms(terms))
    retrieved_terms = {
        term
        for chunk_id, _ in chosen[:_COVERAGE_DEPTH]
        for term in content_terms(searcher.in_context[chunk_id])
    }
    signals = Signals(
        dense_top=max(dense.values(), default=0.0),
        coverage=_weighted_share(weights, known),
        retrieved_coverage=_weighted_share(weights, retrieved_terms),
        terms=len(terms),
    )
    highlights = _highlights(generation, [i for i, _ in chosen], query, weights, options)
    citations = [
        _cite(generation, chunk_id, score, rank, spans, copies.get(chunk_id, []))
        for rank, ((chunk_id, score), spans) in enumerate(zip(chosen, highlights, strict=True), 1)
    ]
    return SearchResult(question=text, citations=citations, signals=signals)


def _fuse_fixed(
    dense: dict[int, float],
    lexical_hits: dict[int, float],
    lexical_scores: npt.NDArray[np.float32],
    lexical_bound: float,
    options: RetrievalSettings,
) -> list[tuple[int, float]]:
    """`alpha · cosine + (1 − alpha) · BM25 / bound` over the union of both pools.

    A lexical candidate outside the dense pool gets the pool's lowest cosine (its
    own is at most that); every passage has its exact BM25 score.
    """
    floor = min(dense.values(), default=0.0)
    bound = lexical_bound or 1.0
    candidates = set(dense) | set(lexical_hits)
    fused = {
        i: options.alpha * dense.get(i, floor)
        + (1 - options.alpha) * float(lexical_scores[i]) / bound
        for i in candidates
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def _with_evidence(
    ranked: list[tuple[int, float]],
    generation: Generation,
    query: npt.NDArray[np.float32],
    options: RetrievalSettings,
) -> list[tuple[int, float]]:
    """Add document-level evidence (the best fused score among the document's
    candidates) and sentence-level evidence (the passage's best sentence cosine)."""
    if not options.document_weight and not options.sentence_weight:
        return ranked
    chunks = generation.chunks
    best_of_document: dict[str, float] = {}
    for chunk_id, score in ranked:
        source = chunks[chunk_id].source
        best_of_document[source] = max(score, best_of_document.get(source, score))
    scored = []
    for chunk_id, score in ranked:
        score += options.document_weight * best_of_document[chunks[chunk_id].source]
        if options.sentence_weight:
            first = generation.sentence_rows[chunk_id]
            rows = generation.sentence_vectors[first : first + len(chunks[chunk_id].sentences)]
            score += options.sentence_weight * float(np.max(rows @ query))
        scored.append((chunk_id, score))
    return sorted(scored, key=lambda item: (-item[1], item[0]))


def _select(
    searcher: Searcher, ranked: list[tuple[int, float]], k: int, containment: float
) -> tuple[list[tuple[int, float]], dict[int, list[int]]]:
    """The best `k` passages that do not repeat a better one, and for each the
    passages of other documents that repeat it (the same brief as PDF and as text):
    those are named on its citation instead of taking excerpt slots of their own."""
    chosen: list[tuple[int, float]] = []
    copies: dict[int, list[int]] = {}
    chunks = searcher.generation.chunks
    for chunk_id, score in ranked:
        repeated = next(
            (other for other, _ in chosen if _overlaps(searcher, chunk_id, other, containment)),
            None,
        )
        if repeated is None and len(chosen) < k:
            chosen.append((chunk_id, score))
        elif repeated is not None and chunks[repeated].source != chunks[chunk_id].source:
            sources = {chunks[c].source for c in copies.get(repeated, [])}
            if chunks[chunk_id].source not in sources:
                copies.setdefault(repeated, []).append(chunk_id)
    return chosen, copies


def _overlaps(searcher: Searcher, a: int, b: int, containment: float) -> bool:
    """Passages `a` and `b` share text: overlapping offsets or near-identical words."""
    first, second = searcher.generation.chunks[a], searcher.generation.chunks[b]
    if first.source == second.source and first.start < second.end and second.start < first.end:
        return True
    return is_near_duplicate(searcher.words[a], searcher.words[b], containment)


# The same excerpts come back for related questions; their sentences' terms are
# worth remembering (bounded: a few MB at most).
@functools.lru_cache(maxsize=8192)
def _sentence_terms(sentence: str) -> frozenset[str]:
    return frozenset(content_terms(sentence))


def _highlights(
    generation: Generation,
    chunk_ids: list[int],
    query: np.ndarray,
    weights: dict[str, float],
    options: RetrievalSettings,
) -> list[list[tuple[int, int]]]:
    """Best-matching sentence spans of each chunk: cosine between the question and
    the sentence's vector (pooled at build time), plus the IDF-weighted share of
    question terms the sentence holds."""
    result: list[list[tuple[int, int]]] = []
    for chunk_id in chunk_ids:
        chunk = generation.chunks[chunk_id]
        if len(chunk.sentences) == 1:
            result.append([(chunk.sentences[0].start, chunk.sentences[0].end)])
            continue
        first = generation.sentence_rows[chunk_id]
        cosines = generation.sentence_vectors[first : first + len(chunk.sentences)] @ query
        scores = []
        for sentence, cosine in zip(chunk.sentences, cosines.tolist(), strict=True):
            words = chunk.text[sentence.start - chunk.start : sentence.end - chunk.start]
            share = _weighted_share(weights, _sentence_terms(words))
            scores.append(cosine + options.highlight_lexical_weight * share)
        best = pick_highlights(scores)
        result.append([(chunk.sentences[i].start, chunk.sentences[i].end) for i in best])
    return result


def _cite(
    generation: Generation,
    chunk_id: int,
    score: float,
    rank: int,
    highlights: list[tuple[int, int]],
    copies: list[int],
) -> Citation:
    chunk = generation.chunks[chunk_id]
    record = generation.manifest.documents[chunk.source]
    page, page_end = page_span(record.pages, chunk.start, chunk.end)
    return Citation(
        rank=rank,
        score=score,
        source=chunk.source,
        title=record.title,
        date=record.date,
        series=record.series,
        text=chunk.text,
        start=chunk.start,
        end=chunk.end,
        highlights=[Span(start=start, end=end) for start, end in highlights],
        chunk_id=chunk.id,
        generation=generation.manifest.generation,
        kind=record.kind,
        page=page,
        page_end=page_end,
        section=section_at(record.sections, chunk.start),
        also_in=[_copy(generation, other) for other in copies],
    )


def _copy(generation: Generation, chunk_id: int) -> Copy:
    chunk = generation.chunks[chunk_id]
    record = generation.manifest.documents[chunk.source]
    return Copy(
        source=chunk.source,
        title=record.title,
        kind=record.kind,
        start=chunk.start,
        end=chunk.end,
        page=page_at(record.pages, chunk.start),
    )


def resolve_settings(
    settings: Settings | None, index_dir: str | os.PathLike[str] | None
) -> Settings:
    """The settings a query runs with: `settings` when given, else `Settings.from_env()`;
    an `index_dir` argument overrides the folder in either case."""
    if settings is None:
        return Settings.from_env(index_dir=index_dir)
    if index_dir is not None:
        return settings.model_copy(update={"index_dir": Path(index_dir)})
    return settings


def retrieve(
    question: str,
    k: int = 5,
    *,
    index_dir: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> list[Citation]:
    """The `k` passages that best answer `question`, as cited excerpts.

    Dense (FAISS) and BM25 rankings are fused, near-duplicate passages dropped,
    and each excerpt's best-matching sentence marked in `highlights`.

    Args:
        question: A question in natural language.
        k: How many excerpts at most (fewer if the index holds fewer passages;
            never more than 100).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`); when
            given together with `settings`, it wins over `settings.index_dir`.
        settings: Use these settings instead of `Settings.from_env()` (no
            `ASSISTANT_*` variable is read then), e.g. another `retrieval.fusion`.

    Returns:
        Excerpts best first, each with source, title, date, text and offsets such
        that `source_text[start:end] == text`.

    Raises:
        QuestionError: Empty or overlong question, or `k` below 1.
        IndexMissingError: Nothing built yet.
        IndexMismatchError: The index was built with another model.
        IndexCorruptError: An index file fails its checksum.
    """
    return search(question, k, resolve_settings(settings, index_dir)).citations
