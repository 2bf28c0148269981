"""What a query searches: the live generation of an index, loaded once per
pointer move and shared by threads, and the embedder its vectors were made with."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import REBUILD_HINT, IndexMismatchError
from .._settings import Settings
from .._types import document_context
from .._words import word_set
from ..embedding.transformer import Embedder
from ..indexing.generations import (
    POINTER,
    Generation,
    current_generation,
    open_lexical,
    read_generation,
)
from ..indexing.lexical import LexicalIndex
from ..indexing.query_encoder import query_embedder

__all__ = ["Searcher", "embedder_for", "load_searcher"]


@dataclass(frozen=True)
class Searcher:
    """A generation with the structures built from it on load; shared by threads."""

    generation: Generation
    in_context: Sequence[str]
    """Each passage preceded by its document's title and date (made when asked)."""
    words: Sequence[frozenset[str]]
    """Each passage's content words, for near-duplicate tests (made when asked)."""
    _lexical: dict[bool, LexicalIndex] = field(default_factory=dict)
    _lexical_lock: threading.Lock = field(default_factory=threading.Lock)

    def lexical(self, in_context: bool) -> LexicalIndex:
        """BM25 over the passages, with their titles and dates or alone; built on
        first use, so a process builds only the one its settings ask for.

        Args:
            in_context: Index each passage with its document's title and date.

        Returns:
            The lexical index, the same object on every call.
        """
        with self._lexical_lock:
            if in_context not in self._lexical:
                self._lexical[in_context] = _build_lexical(self, in_context)
            return self._lexical[in_context]


def _build_lexical(searcher: Searcher, in_context: bool) -> LexicalIndex:
    """The one place a searcher's BM25 index is made: the generation's stored
    index, memory-mapped; built from the passages only for a generation written
    before indexes were stored."""
    stored = open_lexical(searcher.generation, in_context)
    if stored is not None:
        return stored
    if in_context:
        return LexicalIndex(list(searcher.in_context))
    return LexicalIndex([chunk.text for chunk in searcher.generation.chunks])


class _InContext(Sequence[str]):
    """Passage `i` after its document's title and date, made when asked: a query
    reads a few, and making all of them on load is linear in the corpus."""

    def __init__(self, generation: Generation) -> None:
        self._chunks = generation.chunks
        # "Title (May 25, 2024)\n" before each passage: the words a question uses
        # to name a report.
        self._contexts = {
            source: document_context(record.title, record.date)
            for source, record in generation.manifest.documents.items()
        }

    def __len__(self) -> int:
        return len(self._chunks)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        chunk = self._chunks[i]
        return self._contexts[chunk.source] + chunk.text


class _Words(Sequence[frozenset[str]]):
    """Passage `i`'s words, made when first asked and then remembered (the same
    candidates come back for related questions)."""

    def __init__(self, generation: Generation) -> None:
        self._chunks = generation.chunks
        self._made: dict[int, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self._chunks)

    def __getitem__(self, i: int) -> frozenset[str]:  # type: ignore[override]
        words = self._made.get(i)
        if words is None:
            # Racing threads compute the same set; either one may be kept.
            words = self._made[i] = word_set(self._chunks[i].text)
        return words


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


def load_searcher(
    index_dir: Path, *, index_now: bool = True, verify_later_mb: int | None = None
) -> Searcher:
    """The live generation of `index_dir`, loaded once and reloaded when the
    pointer moves (a rebuild in another process is picked up on the next query).
    A query keeps the `Searcher` it started with, so a swap never mixes two
    generations in one answer. A corrupt live generation falls back to the newest
    older one that verifies.

    Args:
        index_dir: The index folder.
        index_now: Read the FAISS index on load (else on the first local
            search; a sharded search never reads it).
        verify_later_mb: Open a generation larger than this at once and verify
            its checksums in the background (`Settings.verify_later_mb`); one
            found corrupt meanwhile is dropped here, and the previous generation
            serves. None: verify before serving.

    Returns:
        The searcher of its live (or fallback) generation.

    Raises:
        IndexMissingError, IndexMismatchError, IndexCorruptError: See `read_generation`.
    """
    key = Path(os.path.abspath(index_dir))
    stamp = _pointer_stamp(key)
    entry = _cache.get(key)
    if entry is not None and stamp is not None and entry[0] == stamp and _sound(entry[1]):
        return entry[1]
    with _cache_lock:
        entry = _cache.get(key)
        cached = entry[1] if entry is not None else None
        if (
            cached is None
            or cached.generation.pointer != current_generation(key)
            or not _sound(cached)
        ):
            limit = None if verify_later_mb is None else verify_later_mb << 20
            generation = read_generation(
                key, fallback=True, index_now=index_now, verify_later_bytes=limit
            )
            cached = _searcher(generation)
        _cache[key] = (stamp, cached)
        return cached


def _sound(searcher: Searcher) -> bool:
    """False once a background verification found one of its files corrupt."""
    verification = searcher.generation.verification
    return verification is None or verification.failure() is None


def _searcher(generation: Generation) -> Searcher:
    """A freshly loaded generation; its passages in context and their words are
    made per passage when a query asks, not for the whole corpus here."""
    return Searcher(generation, _InContext(generation), _Words(generation))


def embedder_for(generation: Generation, settings: Settings) -> Embedder:
    """The query embedder for `generation`, checked against what built it.

    Args:
        generation: The generation to search.
        settings: The settings naming the model.

    Returns:
        An embedder whose vectors are comparable with the generation's.

    Raises:
        IndexMismatchError: The index was built with another model, or the model
            makes vectors of another dimension.
    """
    built_with = generation.manifest.model
    if built_with != settings.model:
        raise IndexMismatchError(
            f"index built with model {built_with}, current model {settings.model}: {REBUILD_HINT}",
            path=str(generation.path),
            generation=generation.manifest.generation,
            expected=built_with,
            found=settings.model,
        )
    embedder = query_embedder(generation, settings)
    if embedder.dimension != generation.manifest.dimension:
        raise IndexMismatchError(
            f"index has {generation.manifest.dimension}-d vectors, model {settings.model} "
            f"makes {embedder.dimension}-d: {REBUILD_HINT}",
            path=str(generation.path),
            generation=generation.manifest.generation,
            expected=generation.manifest.dimension,
            found=embedder.dimension,
        )
    return embedder
