"""The text a citation's offsets index into, for a caller holding a citation:
`source_text(c.source)[c.start:c.end] == c.text`.

A .txt or .md file is read again from the sources folder (confined, as the build
reads it); a PDF, HTML page or .docx's text layer is read from the live generation.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath

from .._errors import SourcesError, UnusableIndexError
from .._files import read_failure, read_inside
from .._settings import Settings
from ..indexing.text_layers import read_layer
from ..ingest.sources import TEXT_SUFFIXES, decode_text
from ..search.searcher import load_searcher

__all__ = ["current_text", "source_text"]


def source_text(
    source: str,
    *,
    index_dir: str | os.PathLike[str] | None = None,
    sources_dir: str | os.PathLike[str] | None = None,
) -> str:
    """The text layer of an indexed source: the string every citation's `start` and
    `end` index into, so `source_text(c.source)[c.start:c.end] == c.text`.

    A .txt or .md file is its own text layer: it is read from the sources folder
    (confined, no symlink followed) and must still have the content that was
    indexed. A PDF, HTML page or .docx was extracted at build time; its text layer
    is read from the index, checked against its checksum.

    Args:
        source: The citation's `source` (path relative to the sources folder).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        sources_dir: Sources folder (default `./sources` or `ASSISTANT_SOURCES`),
            read for .txt and .md files.

    Returns:
        The text layer.

    Raises:
        SourcesError: The source is not in the index, or its file cannot be read or
            changed since the index was built.
        IndexMissingError, IndexMismatchError, IndexCorruptError: As `retrieve`; a
            damaged stored text layer is an `IndexCorruptError`.
    """
    settings = Settings.from_env(sources_dir=sources_dir, index_dir=index_dir)
    generation = load_searcher(settings.index_dir).generation
    record = generation.manifest.documents.get(source)
    if record is None:
        raise SourcesError(
            f"{source} is not in the index {settings.index_dir}: run `assistant build`",
            path=source,
        )
    if record.kind != "text":
        return read_layer(generation, record)
    data = _read_source(settings, source)
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise SourcesError(
            f"{source} changed since the index was built: run `assistant build`", path=source
        )
    try:
        return decode_text(source, data)
    except ValueError as exc:
        raise SourcesError(f"{source} cannot be read: {exc}", path=source) from None


def current_text(source: str, settings: Settings) -> str | None:
    """The text a citation of `source` should be checked against, as it is now;
    None if it cannot be had. Unlike `source_text`, a .txt or .md file is read
    even when it changed since the build (the caller compares the excerpt)."""
    try:
        if PurePosixPath(source).suffix.lower() in TEXT_SUFFIXES:
            return decode_text(source, _read_source(settings, source))
        return source_text(source, index_dir=settings.index_dir, sources_dir=settings.sources_dir)
    except (SourcesError, UnusableIndexError, ValueError):
        return None


def _read_source(settings: Settings, source: str) -> bytes:
    try:
        return read_inside(settings.sources_dir, source, max_bytes=settings.ingest.max_file_bytes)
    except (OSError, ValueError) as exc:
        raise SourcesError(f"{source} cannot be read: {read_failure(exc)}", path=source) from None
