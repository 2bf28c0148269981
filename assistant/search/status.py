"""What the index holds: its generation, documents and passages, for the UI and CLI."""

from __future__ import annotations

import datetime as dt
import os

from pydantic import BaseModel, ConfigDict, Field

from .._settings import AbstentionRule, Settings
from .._types import SourceKind
from .searcher import load_searcher

__all__ = ["IndexStatus", "IndexedDocument", "index_status"]


class IndexedDocument(BaseModel):
    """One document of the index, as the index panel lists it."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Path relative to the sources folder, POSIX style.")
    title: str
    date: dt.date | None = None
    kind: SourceKind = Field(description="text (.txt, .md), pdf, html or docx.")
    pages: int | None = Field(default=None, description="A PDF's page count.")
    passages: int


class IndexStatus(BaseModel):
    """A summary of the live index generation."""

    model_config = ConfigDict(extra="forbid")

    generation: str
    documents: int
    chunks: int
    model: str
    built_at: dt.datetime
    titles: list[str] = Field(description="Document titles, in source order.")
    sources: list[IndexedDocument] = Field(
        default_factory=list, description="Each document: file, type and page count."
    )
    fallback_reason: str | None = Field(
        default=None,
        description="Set when the live generation failed to verify and an older one serves.",
    )
    abstention: AbstentionRule | None = Field(
        default=None, description="The abstention rule the generation was built with."
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
        sources=[
            IndexedDocument(
                source=source,
                title=record.title,
                date=record.date,
                kind=record.kind,
                pages=len(record.pages) if record.pages else None,
                passages=record.chunks,
            )
            for source, record in manifest.documents.items()
        ],
        fallback_reason=generation.fallback_reason,
        abstention=manifest.abstention,
    )
