"""`retrieve()`: question → cited excerpts from the live index generation."""

from __future__ import annotations

import os
import threading
import unicodedata
from pathlib import Path

from ._embedding import Embedder, load_embedder
from ._errors import IndexMismatchError, QuestionError
from ._settings import Settings
from ._storage import Generation, current_generation, read_generation
from ._types import Citation

__all__ = ["clean_question", "load_generation", "retrieve"]

_cache_lock = threading.Lock()
_cache: dict[Path, Generation] = {}


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
    if isinstance(k, bool) or not isinstance(k, int):
        raise QuestionError(f"k must be a whole number, not {k!r}")
    if k < 1:
        raise QuestionError(f"k must be at least 1, got {k}")
    return k


def load_generation(index_dir: Path) -> Generation:
    """The live generation of `index_dir`, loaded once and reloaded when the
    pointer moves (a rebuild in another process is picked up on the next query).

    Raises:
        IndexMissingError, IndexMismatchError, IndexCorruptError: See `read_generation`.
    """
    key = index_dir.resolve()
    live = current_generation(key)
    cached = _cache.get(key)
    if cached is not None and cached.manifest.generation == live:
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None or cached.manifest.generation != current_generation(key):
            cached = read_generation(key)
            _cache[key] = cached
        return cached


def _embedder_for(generation: Generation, settings: Settings) -> Embedder:
    built_with = generation.manifest.model
    if built_with != settings.model:
        raise IndexMismatchError(
            f"index built with model {built_with}, current model {settings.model}: "
            "run `assistant build --force`"
        )
    embedder = load_embedder(settings.model)
    if embedder.dimension != generation.manifest.dimension:
        raise IndexMismatchError(
            f"index has {generation.manifest.dimension}-d vectors, model {settings.model} "
            f"makes {embedder.dimension}-d: run `assistant build --force`"
        )
    return embedder


def retrieve(
    question: str,
    k: int = 5,
    *,
    index_dir: str | os.PathLike[str] | None = None,
) -> list[Citation]:
    """The `k` passages that best answer `question`, as cited excerpts.

    Args:
        question: A question in natural language.
        k: How many excerpts at most (fewer if the index holds fewer passages).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).

    Returns:
        Excerpts best first, each with source, title, date, text and offsets such
        that `source_text[start:end] == text`.

    Raises:
        QuestionError: Empty or overlong question, or `k` below 1.
        IndexMissingError: Nothing built yet.
        IndexMismatchError: The index was built with another model.
        IndexCorruptError: An index file fails its checksum.
    """
    settings = Settings.from_env(index_dir=index_dir)
    text = clean_question(question, settings.max_question_chars)
    k = check_k(k)
    generation = load_generation(settings.index_dir)
    embedder = _embedder_for(generation, settings)
    hits = generation.index.search(embedder.encode_query(text), k)
    return [
        _cite(generation, chunk_id, score, rank) for rank, (chunk_id, score) in enumerate(hits, 1)
    ]


def _cite(generation: Generation, chunk_id: int, score: float, rank: int) -> Citation:
    chunk = generation.chunks[chunk_id]
    record = generation.manifest.documents[chunk.source]
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
        chunk_id=chunk.id,
        generation=generation.manifest.generation,
    )
