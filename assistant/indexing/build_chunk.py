"""Build step 2, extract and chunk: cut the fresh documents into passages.

(Extraction itself happens while planning, in `load_documents`: a changed PDF,
HTML page or .docx is read once, and an unchanged one not at all.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from .._settings import Settings
from .._types import Chunk, Document, SkippedSource
from ..ingest.chunking import ChunkingTimeoutError, chunk_document
from ..ingest.tokenizer import load_tokenizer

__all__ = ["FreshPassages", "chunk_fresh"]

logger = logging.getLogger("assistant")


class FreshPassages(BaseModel):
    """The output of `chunk_fresh`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_source: dict[str, list[Chunk]]
    """Each chunked document's passages, ids counted from 0 per document, in the
    order the documents were given."""
    too_slow: list[SkippedSource]
    """Documents that took longer than the per-file limit, with the reason."""

    @property
    def all(self) -> list[Chunk]:
        """Every passage, document after document: the rows to embed."""
        return [chunk for chunks in self.by_source.values() for chunk in chunks]


def chunk_fresh(
    documents: list[Document],
    settings: Settings,
    progress: bool,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> FreshPassages:
    """Passages of every document, with a progress bar over their characters.

    Args:
        documents: The documents to chunk (the plan's fresh ones).
        settings: The model (for its tokenizer), chunking settings and the
            per-file time limit.
        progress: Show a progress bar.
        clock: Where each file's deadline is counted from (the chunker compares
            it with `time.monotonic`); tests pass an earlier clock to expire it.

    Returns:
        The passages by source; a document that takes longer than
        `settings.ingest.max_seconds_per_file` is left out and listed with the reason.
    """
    chunks: dict[str, list[Chunk]] = {}
    skipped: list[SkippedSource] = []
    if not documents:  # nothing to cut: do not load the tokenizer
        return FreshPassages(by_source=chunks, too_slow=skipped)
    tokenizer = load_tokenizer(settings.model)
    limit = settings.ingest.max_seconds_per_file
    total = sum(len(d.text) for d in documents)
    with tqdm(
        total=total, desc="chunking", unit="char", unit_scale=True, disable=not progress
    ) as bar:
        for document in documents:
            try:
                chunks[document.source] = chunk_document(
                    document, tokenizer, settings.chunking, deadline=clock() + limit
                )
            except ChunkingTimeoutError as exc:
                reason = f"{exc} after {limit:g} s (ASSISTANT_MAX_SECONDS_PER_FILE)"
                skipped.append(SkippedSource(source=document.source, reason=reason))
                logger.warning("skipped %s: %s", document.source, reason)
            bar.update(len(document.text))
    return FreshPassages(by_source=chunks, too_slow=skipped)
