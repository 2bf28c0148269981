"""What the chat UI shows around an answer: index status, text around an excerpt,
and follow-up questions resolved against the previous turn."""

from __future__ import annotations

import datetime as dt
import os
import re

from pydantic import BaseModel, ConfigDict, Field

from ._files import read_inside
from ._retrieval import load_searcher
from ._settings import Settings
from ._sources import decode_text
from ._types import Citation

__all__ = ["ExcerptContext", "IndexStatus", "context_of", "index_status", "resolve_followup"]


class IndexStatus(BaseModel):
    """A summary of the live index generation."""

    model_config = ConfigDict(extra="forbid")

    generation: str
    documents: int
    chunks: int
    model: str
    built_at: dt.datetime
    titles: list[str] = Field(description="Document titles, in source order.")
    fallback_reason: str | None = Field(
        default=None,
        description="Set when the live generation failed to verify and an older one serves.",
    )


def index_status(index_dir: str | os.PathLike[str] | None = None) -> IndexStatus:
    """Describe the generation that answers questions (the one `retrieve` uses,
    loaded once and shared; no model is loaded).

    Raises:
        IndexMissingError, IndexMismatchError, IndexCorruptError: As `retrieve`.
    """
    generation = load_searcher(Settings.from_env(index_dir=index_dir).index_dir).generation
    manifest = generation.manifest
    return IndexStatus(
        generation=manifest.generation,
        documents=len(manifest.documents),
        chunks=manifest.chunk_count,
        model=manifest.model,
        built_at=manifest.built_at,
        titles=[record.title for record in manifest.documents.values()],
        fallback_reason=generation.fallback_reason,
    )


class ExcerptContext(BaseModel):
    """Source text just before and after an excerpt."""

    model_config = ConfigDict(extra="forbid")

    before: str
    after: str


def context_of(
    citation: Citation,
    sources_dir: str | os.PathLike[str] | None = None,
    chars: int = 400,
) -> ExcerptContext | None:
    """Up to `chars` characters of the source around `citation`, cut at word
    boundaries; None when the file changed since the index was built (the offsets
    would point at other text) or cannot be read."""
    settings = Settings.from_env(sources_dir=sources_dir)
    try:
        # The same confined read as the build: a symlink planted since then is
        # not followed, and the file is decoded exactly as it was indexed.
        data = read_inside(
            settings.sources_dir, citation.source, max_bytes=settings.ingest.max_file_bytes
        )
        text = decode_text(citation.source, data)
    except (OSError, ValueError):
        return None
    if text[citation.start : citation.end] != citation.text:
        return None
    before = text[max(0, citation.start - chars) : citation.start]
    after = text[citation.end : citation.end + chars]
    if citation.start > chars and " " in before:
        before = before[before.index(" ") + 1 :]
    if citation.end + chars < len(text) and " " in after:
        after = after[: after.rindex(" ")]
    return ExcerptContext(before=before, after=after)


_FOLLOWUP_OPENERS = re.compile(r"^(and|but|also|so|what about|how about|then|why|and why)\b", re.I)
_BACK_REFERENCES = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there|the move|the deal)\b",
    re.I,
)


def resolve_followup(question: str, previous: str | None, *, max_words: int = 10) -> str:
    """The text to retrieve with: a short question that opens like a follow-up
    ("and what did China say about it?") or leans on a pronoun is joined to the
    previous question; anything else stands alone."""
    if not previous:
        return question
    short = len(question.split()) <= max_words
    if short and (_FOLLOWUP_OPENERS.match(question.strip()) or _BACK_REFERENCES.search(question)):
        return f"{previous} {question}"
    return question
