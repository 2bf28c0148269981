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
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .._errors import REBUILD_HINT, IndexCorruptError, UnusableIndexError
from .._files import write_durable
from .._types import TEXT_FOLDER, Document, DocumentRecord, SourceKind
from ..ingest.formats import CharRun, check_char_runs
from .generations import Generation, read_generation_file

__all__ = [
    "CharRuns",
    "PreviousLayers",
    "layer_names",
    "read_char_runs",
    "read_layer",
    "stage_layer",
]

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
            f"text layer {path} is not UTF-8: {REBUILD_HINT}", path=str(path)
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
        raise IndexCorruptError(f"{path} is invalid: {REBUILD_HINT}", path=str(path)) from None


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
