"""Build step 1, the plan: which previous generation can be reused, which documents
are read, and which of them are added, changed, unchanged or removed."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .._errors import IndexMissingError, SourcesError, UnusableIndexError
from .._settings import Settings
from .._types import Document, DocumentRecord, SkippedSource
from ..ingest.sources import ExtractMany, load_documents
from .generations import Generation, read_generation
from .lexical import TERMS_VERSION
from .query_encoder import encoder_damage
from .text_layers import PreviousLayers

__all__ = [
    "BuildPlan",
    "Changes",
    "compare_documents",
    "is_fresh",
    "plan_build",
    "reusable_generation",
]

logger = logging.getLogger("assistant")


class Changes(BaseModel):
    """How the documents read now differ from the previous generation's records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    added: list[str]
    """Sources the previous generation did not have."""
    changed: list[str]
    """Sources whose bytes changed, or whose stored text layer had to be extracted again."""
    unchanged: list[str]
    """Sources whose passages and vectors are reused bit for bit."""
    removed: list[str]
    """Sources of the previous generation that are no longer read, sorted."""
    reextracted: list[str]
    """Of `changed`, those with the same bytes: their stored text layer was missing
    or damaged."""
    fresh: list[Document]
    """The added and changed documents, in source order: to chunk and embed."""


class BuildPlan(BaseModel):
    """What a build starts from: the output of `plan_build`."""

    # Generation and PreviousLayers hold loaded files and a cache, not data.
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    previous: Generation | None
    """The generation whose chunks and vectors can be reused, if any."""
    full_rebuild_reason: str | None
    """Why nothing is reused (--force, model or chunking changed, encoder damaged)."""
    encoder_damage: str | None
    """Why the previous generation's query encoder must be exported afresh."""
    layers: PreviousLayers
    """The previous generation's checked text layers, for unchanged documents."""
    documents: list[Document]
    """Every document the new generation will hold, in source order."""
    skipped: list[SkippedSource]
    """Files that were not indexed, with the reason, in source order."""
    changes: Changes

    @property
    def records(self) -> dict[str, DocumentRecord]:
        """The previous generation's records by source (empty without one)."""
        return self.previous.manifest.documents if self.previous is not None else {}

    @property
    def up_to_date(self) -> bool:
        """Whether the previous generation already is what this build would write."""
        return (
            self.previous is not None
            and not self.changes.fresh
            and not self.changes.removed
            and self.encoder_damage is None
            and self.previous.manifest.lexical_terms == TERMS_VERSION
        )

    def without(self, dropped: list[SkippedSource], sources_dir: Path) -> BuildPlan:
        """The plan once `dropped` documents (too slow to chunk) are left out: they
        join `skipped`, and a previously indexed one counts as removed.

        Raises:
            SourcesError: No document is left.
        """
        gone = {item.source for item in dropped}
        documents = [d for d in self.documents if d.source not in gone]
        if not documents:
            raise SourcesError(f"no document of {sources_dir} could be chunked in time")
        return self.model_copy(
            update={
                "documents": documents,
                "skipped": sorted(self.skipped + dropped, key=lambda s: s.source),
                "changes": compare_documents(documents, self.records),
            }
        )


def is_fresh(document: Document, record: DocumentRecord | None) -> bool:
    """Whether `document` must be chunked and embedded: new, changed by content hash,
    or extracted again because the previous generation's text layer was missing or
    damaged (its old passages might not index the new extraction)."""
    return (
        record is None
        or record.sha256 != document.sha256
        or (document.kind != "text" and not document.stored_layer)
    )


def compare_documents(documents: list[Document], old: dict[str, DocumentRecord]) -> Changes:
    """Sort `documents` into added / changed / unchanged against `old`, and list the
    sources of `old` that are gone (see `is_fresh`)."""
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    reextracted: list[str] = []
    fresh: list[Document] = []
    for document in documents:
        record = old.get(document.source)
        if record is None:
            added.append(document.source)
        elif is_fresh(document, record):
            changed.append(document.source)
            if record.sha256 == document.sha256:
                reextracted.append(document.source)
        else:
            unchanged.append(document.source)
            continue
        fresh.append(document)
    current = {d.source for d in documents}
    return Changes(
        added=added,
        changed=changed,
        unchanged=unchanged,
        removed=sorted(source for source in old if source not in current),
        reextracted=reextracted,
        fresh=fresh,
    )


def reusable_generation(
    index_dir: Path, settings: Settings, force: bool
) -> tuple[Generation | None, str | None]:
    """The previous generation if its chunks and vectors can be reused, else why not.

    Returns:
        (the generation, None), or (None, the reason for a full rebuild), or
        (None, None) when nothing was built yet.
    """
    if force:
        return None, "--force"
    try:
        previous = read_generation(index_dir, with_vectors=True)
    except IndexMissingError:
        return None, None
    except UnusableIndexError as exc:
        return None, f"previous index unusable ({exc})"
    if previous.manifest.model != settings.model:
        return None, f"model changed from {previous.manifest.model} to {settings.model}"
    if previous.manifest.chunking != settings.chunking:
        return None, "chunking settings changed"
    return previous, None


def plan_build(
    settings: Settings, *, force: bool, extract_many: ExtractMany | None = None
) -> BuildPlan:
    """Read the sources against the previous generation. Call while holding the lock.

    Unchanged documents are not extracted again: their stored text layers are
    reused after their checksums are checked.

    Args:
        settings: Folders, model, chunking and ingest limits.
        force: Reuse nothing.
        extract_many: Extracts the new and changed PDFs, HTML pages and .docx
            files (a cluster's tasks); by default they are extracted here.

    Returns:
        The plan; `plan.up_to_date` says whether anything must be written.

    Raises:
        SourcesError: The folder is missing, empty or has no readable document.
    """
    previous, reason = reusable_generation(settings.index_dir, settings, force)
    layers = PreviousLayers(previous)
    old = previous.manifest.documents if previous is not None else {}
    documents, skipped = load_documents(
        settings.sources_dir,
        old,
        limits=settings.ingest,
        stored_text=layers.text,
        extract_many=extract_many,
    )
    for item in skipped:
        logger.warning("skipped %s: %s", item.source, item.reason)
    if not documents:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped)
        raise SourcesError(f"no readable document in {settings.sources_dir} ({reasons})")
    damage = encoder_damage(previous) if previous is not None else None
    return BuildPlan(
        previous=previous,
        full_rebuild_reason=damage or reason,
        encoder_damage=damage,
        layers=layers,
        documents=documents,
        skipped=skipped,
        changes=compare_documents(documents, old),
    )
