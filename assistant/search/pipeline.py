"""`retrieve()`: question → cited excerpts, by dense + BM25 search over the live
generation, in four steps: candidates → fuse → select → cite."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from .._arrays import Vectors
from .._settings import AbstentionRule, RetrievalSettings, Settings
from .._types import Citation
from ..indexing.generations import Generation
from ..indexing.lexical import LexicalIndex, content_terms, top_rows
from .citations import cite
from .fusion import add_rankings, fuse_convex, fuse_fixed, fuse_rrf
from .highlights import highlight_spans, sentence_cosines
from .question import check_k, clean_question
from .searcher import Searcher, embedder_for, load_searcher
from .selection import head_end, select_passages, spread_documents
from .signals import Signals, abstention_signals, term_weights

__all__ = ["SearchResult", "resolve_settings", "retrieve", "search"]


class SearchResult(BaseModel):
    """Citations plus the signals computed on the way."""

    model_config = ConfigDict(extra="forbid")

    question: str
    citations: list[Citation]
    signals: Signals
    abstention: AbstentionRule | None = None
    """The abstention rule the generation searched was built with."""


@dataclass(frozen=True)
class _Candidates:
    """The passages each ranking proposes for one question."""

    terms: list[str]
    """The question's content terms."""
    lexical: LexicalIndex
    dense: dict[int, float]
    """Passage id → cosine, best first."""
    lexical_scores: npt.NDArray[np.float32]
    """Every passage's BM25 score."""
    lexical_hits: dict[int, float]
    """Passage id → BM25 score of the best-scoring passages that hold a term."""


# The candidate step: the local one below, or a caller's (the Ray shards of
# assistant.cluster.shards), which must propose what the local one would.
CandidateStep = Callable[["Searcher", str, Vectors, int, RetrievalSettings], _Candidates]


def search(
    question: str,
    k: int,
    settings: Settings,
    *,
    candidates: CandidateStep | None = None,
    turn: str | None = None,
) -> SearchResult:
    """Rank passages for `question` and shape the best `k` into citations.

    Args:
        question: A question in natural language (for a chat follow-up, the turn
            followed by its context: `resolve_followup`).
        k: Excerpts wanted (at most `settings.retrieval.max_results`).
        settings: The settings to search with.
        candidates: The candidate step to use instead of the local one (the Ray
            shards of `assistant.cluster.shards`).
        turn: For a follow-up, the turn alone: its own ranking is added with
            `settings.retrieval.follow_up_turn_weight`.

    Returns:
        The cleaned question, the citations best first, and the abstention signals.

    Raises:
        QuestionError, IndexMissingError, IndexMismatchError, IndexCorruptError
    """
    text = clean_question(question, settings.max_question_chars)
    options = settings.retrieval
    k = min(check_k(k), options.max_results)
    # When shard actors (or the caller's step) find the candidates, they hold the
    # vectors: this process never reads the vector index.
    local = candidates is None and not settings.ray_address
    searcher = load_searcher(
        settings.index_dir, index_now=local, verify_later_mb=settings.verify_later_mb
    )
    generation = searcher.generation
    query = embedder_for(generation, settings).encode_query(text)
    if candidates is None and settings.ray_address:
        from ..cluster.shards import candidate_step  # the cluster extra, only on this path

        candidates = candidate_step(settings)
    step = candidates or _candidates
    found = step(searcher, text, query, k, options)
    ranked = _fuse(found, generation, query, options)
    if turn and turn.strip() != text and options.follow_up_turn_weight:
        ranked = _with_turn(ranked, turn, searcher, step, k, settings)
    # Spread whatever k is, so the copies an excerpt names do not depend on k either.
    if options.per_document:
        ranked = _spread(ranked, searcher, options)
    chosen, copies = select_passages(searcher, ranked, k, options.duplicate_containment)
    weights = term_weights(found.terms, found.lexical)
    signals = abstention_signals(
        max(found.dense.values(), default=0.0),
        weights,
        found.lexical.known_terms(found.terms),
        [searcher.in_context[chunk_id] for chunk_id, _ in chosen],
    )
    ids = [chunk_id for chunk_id, _ in chosen]
    highlights = highlight_spans(generation, ids, query, weights, options.highlight_lexical_weight)
    citations = [
        cite(generation, chunk_id, score, rank, spans, copies.get(chunk_id, []))
        for rank, ((chunk_id, score), spans) in enumerate(zip(chosen, highlights, strict=True), 1)
    ]
    return SearchResult(
        question=text,
        citations=citations,
        signals=signals,
        abstention=generation.manifest.abstention,
    )


def _spread(
    ranked: list[tuple[int, float]], searcher: Searcher, options: RetrievalSettings
) -> list[tuple[int, float]]:
    """`ranked` spread across documents behind its first `spread_after` excerpts,
    which are thus exactly the unspread ones."""
    after = head_end(searcher, ranked, options.spread_after, options.duplicate_containment)
    return spread_documents(ranked, searcher.generation.chunks, options.per_document, after)


def _with_turn(
    ranked: list[tuple[int, float]],
    turn: str,
    searcher: Searcher,
    step: CandidateStep,
    k: int,
    settings: Settings,
) -> list[tuple[int, float]]:
    """A follow-up's ranking with context plus the weighted ranking of the turn's
    own words: the context finds the report, the turn the passage in it that
    answers it (alone, the context finds the previous answer's passage again)."""
    generation, options = searcher.generation, settings.retrieval
    alone = clean_question(turn, settings.max_question_chars)
    own = embedder_for(generation, settings).encode_query(alone)
    own_ranking = _fuse(step(searcher, alone, own, k, options), generation, own, options)
    return add_rankings(ranked, own_ranking, options.follow_up_turn_weight)


def _candidates(
    searcher: Searcher, text: str, query: Vectors, k: int, options: RetrievalSettings
) -> _Candidates:
    """The dense pool (nearest vectors) and the lexical pool (best BM25) for `text`."""
    generation = searcher.generation
    terms = content_terms(text)
    # One pool whatever k is, so a passage's rank does not depend on how many
    # were asked for (k is already capped at max_results).
    pool = min(generation.manifest.chunk_count, max(options.candidates, k))
    lexical = searcher.lexical(options.lexical_context)
    dense = dict(generation.index.search(query, pool))
    scores = lexical.scores(terms)
    hits = {int(i): float(scores[i]) for i in top_rows(scores, pool)}
    return _Candidates(terms, lexical, dense, scores, hits)


def _fuse(
    found: _Candidates, generation: Generation, query: Vectors, options: RetrievalSettings
) -> list[tuple[int, float]]:
    """The candidates as one ranking, best first, by `options.fusion`. Without any
    lexical hit every fusion is the dense ranking."""
    if options.fusion == "dense" or (options.fusion != "lexical" and not found.lexical_hits):
        return sorted(found.dense.items(), key=lambda item: -item[1])
    if options.fusion == "lexical":
        return sorted(found.lexical_hits.items(), key=lambda item: -item[1])
    if options.fusion == "rrf":
        return fuse_rrf([list(found.dense), list(found.lexical_hits)])
    if options.normalization == "fixed":
        bound = found.lexical.upper_bound(found.terms)
        fused = fuse_fixed(
            found.dense, found.lexical_hits, found.lexical_scores, bound, options.alpha
        )
    else:
        fused = fuse_convex(found.dense, found.lexical_hits, options.alpha)
    return _with_evidence(fused, generation, query, options)


def _with_evidence(
    ranked: list[tuple[int, float]],
    generation: Generation,
    query: Vectors,
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
            cosines = sentence_cosines(generation, chunk_id, query)
            score += options.sentence_weight * float(np.max(cosines))
        scored.append((chunk_id, score))
    return sorted(scored, key=lambda item: (-item[1], item[0]))


def resolve_settings(
    settings: Settings | None, index_dir: str | os.PathLike[str] | None
) -> Settings:
    """The settings a query runs with: `settings` when given, else `Settings.from_env()`;
    an `index_dir` argument overrides the folder in either case.

    Args:
        settings: The caller's settings, if any.
        index_dir: The caller's index folder, if any.

    Returns:
        The settings to use.
    """
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
