"""Text layers: the exact text that citation offsets index into, per source.

A .txt or .md file is its own text layer: it is read again (through the same
confined open as the build) whenever its text is needed. A PDF, HTML page or
.docx is extracted once per content hash, at build time, and its text layer is
stored in the generation beside the other index files, checksummed in the
manifest like them:

    generations/<id>/text/<sha256>.txt          the text layer, UTF-8
    generations/<id>/text/<sha256>.chars.json   PDF only: where each character was read

An unchanged document's files are hard-linked into the next generation (after
their checksums are checked), so a rebuild neither extracts nor copies them again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .._errors import IndexCorruptError, SourcesError, UnusableIndexError
from .._files import read_inside, write_durable
from .._settings import Settings
from .._types import TEXT_FOLDER, Document, DocumentRecord, SourceKind
from ..ingest.formats import CharRun, check_char_runs
from ..ingest.sources import TEXT_SUFFIXES, decode_text
from ..search.searcher import load_searcher
from .generations import Generation, read_generation_file

__all__ = [
    "CharRuns",
    "PreviousLayers",
    "layer_names",
    "read_char_runs",
    "read_layer",
    "source_text",
    "stage_layer",
]

_REBUILD = "run `assistant build --force`"
StagedFiles = dict[str, tuple[Path, str]]


class CharRuns(BaseModel):
    """The content of `text/<sha256>.chars.json` (see `_formats.Extracted.char_runs`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int
    runs: list[CharRun]

    @model_validator(mode="after")
    def _inside(self) -> CharRuns:
        check_char_runs(self.runs, self.size)
        return self


def layer_names(sha256: str, kind: SourceKind) -> tuple[str, str | None]:
    """The generation's file names for a document's text layer and, for a PDF, its
    character map; ("", None) for a .txt or .md file, which has no stored layer."""
    if kind == "text":
        return "", None
    stem = f"{TEXT_FOLDER}/{sha256}"
    return f"{stem}.txt", (f"{stem}.chars.json" if kind == "pdf" else None)


def stage_layer(document: Document, folder: Path) -> StagedFiles:
    """Write a just-extracted document's text layer (and character map) under
    `folder/text/`, for `write_generation` to link into the new generation.

    Returns:
        Generation file name → (the written file, its SHA-256); empty for .txt/.md.
    """
    text_name, runs_name = layer_names(document.sha256, document.kind)
    if not text_name:
        return {}
    contents = {text_name: document.text.encode("utf-8")}
    if runs_name is not None:
        runs = CharRuns(size=len(document.text), runs=document.char_runs or [])
        contents[runs_name] = runs.model_dump_json().encode("utf-8")
    staged: StagedFiles = {}
    for name, data in contents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durable(path, data)
        staged[name] = (path, hashlib.sha256(data).hexdigest())
    return staged


def read_layer(generation: Generation, record: DocumentRecord) -> str:
    """The stored text layer of an extracted document, checked against its checksum.

    Raises:
        IndexCorruptError: The file is missing, altered, or not UTF-8.
    """
    name, _ = layer_names(record.sha256, record.kind)
    data = read_generation_file(generation, name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        path = generation.path / name
        raise IndexCorruptError(
            f"text layer {path} is not UTF-8: {_REBUILD}", path=str(path)
        ) from None


def read_char_runs(generation: Generation, record: DocumentRecord) -> list[CharRun]:
    """Where each character of a PDF's stored text layer was read on its pages.

    Raises:
        IndexCorruptError: The document is not a PDF, or the file is missing,
            altered or invalid.
    """
    _, name = layer_names(record.sha256, record.kind)
    if name is None:
        raise IndexCorruptError(f"a {record.kind} document has no character map")
    data = read_generation_file(generation, name)
    try:
        return CharRuns.model_validate_json(data).runs
    except ValidationError:
        path = generation.path / name
        raise IndexCorruptError(f"{path} is invalid: {_REBUILD}", path=str(path)) from None


class PreviousLayers:
    """The text layers of the generation a build replaces, reused only after their
    checksums are checked, so damage in one generation does not pass to the next."""

    def __init__(self, generation: Generation | None) -> None:
        self.generation = generation
        self._checked: dict[str, StagedFiles] = {}

    def text(self, record: DocumentRecord) -> str | None:
        """The stored text layer of an unchanged extracted document, or None when it
        is missing or damaged (the document is then extracted again)."""
        if self.generation is None:
            return None
        text_name, runs_name = layer_names(record.sha256, record.kind)
        try:
            text = read_layer(self.generation, record)
            if runs_name is not None:
                read_char_runs(self.generation, record)
        except UnusableIndexError:
            return None
        files = self.generation.manifest.files
        names = [text_name] + ([runs_name] if runs_name else [])
        self._checked[record.sha256] = {
            name: (self.generation.path / name, files[name]) for name in names
        }
        return text

    def files(self, sha256: str) -> StagedFiles:
        """The files `text` checked for this hash, to be linked into the new generation.

        Raises:
            KeyError: `text` did not return this document's layer.
        """
        return self._checked[sha256]


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
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SourcesError(f"{source} cannot be read: {reason}", path=source) from None
