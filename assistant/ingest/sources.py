"""Source files → `Document`: listing the sources folder, reading each file and
decoding or extracting its text layer, the one citations index into. What the
text's header lines say (title, date, series) is read by `metadata`.

A .txt or .md file is its own text layer, exactly as `Path.read_text(encoding=
"utf-8")` gives it. A PDF, HTML page or .docx goes through `formats.extract`
(isolated, bounded by `IngestSettings`), which gives its text layer, metadata,
pages and sections. A file's kind is read from its bytes (magic numbers), not
only its extension: a .txt that is really a PDF is skipped, and says so.

A file that cannot be read is reported as a `SkippedSource`, never fatal: one bad
file must not stop the others from being indexed.

Extraction can be handed to someone else (`load_documents(extract_many=)`): the
files that need it are listed as `ExtractionJob`s and extracted together, e.g. by
the tasks of a Ray cluster (`assistant.cluster.build`), each of which reads the
file again where it runs (`extract_source`) and must find the bytes it was
planned with.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict

from .._errors import SourcesError
from .._files import read_failure, read_inside
from .._settings import EXTRACT_LIMIT_VARIABLES, IngestSettings
from .._types import Document, DocumentRecord, SkippedSource, SourceKind
from .formats import Extracted, extract, named_format, sniff_kind

# Moved to `metadata` (the header lines); still importable from here, as before.
from .metadata import Header as Header
from .metadata import extract_metadata as extract_metadata
from .metadata import parse_date_line as parse_date_line
from .metadata import read_header as read_header
from .metadata import text_sections as text_sections

__all__ = [
    "EXTRACTED_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "TEXT_SUFFIXES",
    "ExtractMany",
    "ExtractionJob",
    "StoredText",
    "decode_text",
    "extract_source",
    "list_sources",
    "load_documents",
    "read_source",
]


def _decode_utf8_text(data: bytes) -> str:
    """Decode like `Path.read_text(encoding="utf-8")`, universal newlines included,
    so offsets computed here index the same string a reader gets back."""
    if b"\x00" in data:
        raise ValueError("looks binary (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


#: Suffix → decoder of the files that are their own text layer.
_DECODERS: dict[str, Callable[[bytes], str]] = {
    ".txt": _decode_utf8_text,
    ".md": _decode_utf8_text,
}
TEXT_SUFFIXES = frozenset(_DECODERS)
#: Files whose text layer `formats.extract` reads, once per content hash.
EXTRACTED_SUFFIXES = frozenset({".pdf", ".html", ".htm", ".docx"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | EXTRACTED_SUFFIXES
#: An unchanged extracted document's text layer from the previous generation
#: (None when it is missing or damaged): given its record.
StoredText = Callable[[DocumentRecord], str | None]


class ExtractionJob(BaseModel):
    """A PDF, HTML page or .docx to extract, as the listing read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    """Path relative to the sources folder, POSIX style."""
    sha256: str
    """The bytes' hash when listed: the extractor must find the same bytes."""
    suffix: str


#: Extracts several files (`extract_source` for each, wherever it runs): for each
#: job, in order, what it yields or the reason it is skipped.
ExtractMany = Callable[[Sequence[ExtractionJob]], list[Extracted | str]]


@dataclass(frozen=True)
class _Pending:
    """A file read and hashed, waiting for extraction."""

    job: ExtractionJob
    data: bytes
    """Its bytes, when extracted here; empty when handed to `ExtractMany`."""
    unchanged: DocumentRecord | None


def _supported_suffix(source: str) -> str:
    suffix = PurePosixPath(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise ValueError(
            f"unsupported file type {PurePosixPath(source).suffix or '(none)'}; "
            f"supported: {supported}"
        )
    return suffix


def decode_text(source: str, data: bytes) -> str:
    """The text layer of a .txt or .md file's bytes: the string citation offsets
    index into (a PDF's, HTML page's or .docx's is extracted and stored instead).

    Raises:
        ValueError: Not a .txt or .md file, binary or not UTF-8.
    """
    decoder = _DECODERS.get(_supported_suffix(source))
    if decoder is None:
        raise ValueError(f"{source} is not a text file: its text layer is stored in the index")
    return decoder(data)


def source_kind(suffix: str, data: bytes) -> SourceKind:
    """What a file is, from its bytes, checked against its extension.

    Raises:
        ValueError: The content is another kind than the extension says ("extension
            says .txt but content is a PDF"), or none that is read.
    """
    if suffix in TEXT_SUFFIXES:
        # Bytes that are merely not UTF-8 are left to the decoder, which says where.
        what = named_format(data)
        if what is not None:
            raise ValueError(f"extension says {suffix} but content is {what}")
        return "text"
    kind = sniff_kind(data, suffix)
    if kind is None or kind == "text":  # sniff_kind raised for a known suffix already
        raise ValueError(f"{suffix} file holds no PDF, HTML page or Word document")
    return kind


def read_source(
    root: Path,
    source: str,
    known: DocumentRecord | None = None,
    *,
    limits: IngestSettings | None = None,
    listed: os.stat_result | None = None,
    stored_text: StoredText | None = None,
) -> Document:
    """Read one file of the sources folder into a `Document`.

    Args:
        root: The sources folder.
        source: The file's path relative to it, POSIX style; opened without
            following symlinks (see `read_inside`).
        known: What the index recorded for this source; when the bytes still have
            its hash, its metadata is taken instead of being extracted again.
        limits: Size and extraction bounds (default `IngestSettings()`).
        listed: The entry as listed; a different file found at open is refused.
        stored_text: Gives an unchanged PDF's, HTML page's or .docx's text layer
            from the previous generation, so it is not extracted again.

    Returns:
        The document with its text layer and metadata.

    Raises:
        ValueError: The file is empty, of an unsupported type or another kind than
            its extension says, a symlink, too large, not UTF-8 (text), refused by
            the extractor (encrypted, damaged, a bomb, too slow …), or is a text
            file with an overlong paragraph; the message is the reason.
        OSError: It cannot be opened or read.
    """
    limits = limits or IngestSettings()
    read = _read(root, source, known, limits, listed, stored_text)
    if isinstance(read, Document):
        return read
    return _finish(read, _extract(read.data, read.job.suffix, limits))


def _read(
    root: Path,
    source: str,
    known: DocumentRecord | None,
    limits: IngestSettings,
    listed: os.stat_result | None,
    stored_text: StoredText | None,
) -> Document | _Pending:
    """`read_source` up to extraction: the document, or the file to extract."""
    suffix = _supported_suffix(source)  # an unsupported type is refused before it is opened
    data = read_inside(root, source, max_bytes=limits.max_file_bytes, expected=listed)
    if not data.strip():
        raise ValueError("empty file")
    sha256 = hashlib.sha256(data).hexdigest()
    unchanged = known if known is not None and known.sha256 == sha256 else None
    kind = source_kind(suffix, data)
    if kind == "text":
        document = _text_document(source, data, sha256)
        # Only here: an extracted PDF's paragraphs are joined lines, and one that the
        # layout could not break is prose still (its size is bounded by the extractor).
        _check_paragraphs(document.text, limits.max_paragraph_chars)
    elif (
        unchanged is not None
        and unchanged.kind == kind
        and stored_text is not None
        and ((stored := stored_text(unchanged)) is not None)
    ):
        document = _stored_document(source, stored, unchanged)
    else:
        return _Pending(ExtractionJob(source=source, sha256=sha256, suffix=suffix), data, unchanged)
    return _keep_metadata(document, unchanged)


def _finish(pending: _Pending, extracted: Extracted) -> Document:
    """The document of an extracted file."""
    job = pending.job
    return _keep_metadata(_extracted_document(job.source, extracted, job.sha256), pending.unchanged)


def _keep_metadata(document: Document, unchanged: DocumentRecord | None) -> Document:
    """An unchanged file keeps the title, date and series the index recorded."""
    if unchanged is None:
        return document
    return document.model_copy(
        update={"title": unchanged.title, "date": unchanged.date, "series": unchanged.series}
    )


def extract_source(root: Path, job: ExtractionJob, limits: IngestSettings) -> Extracted:
    """Read and extract one planned file where this runs (a cluster task).

    Args:
        root: The sources folder, as this machine mounts it.
        job: The file, with the hash it was planned with.
        limits: Size and extraction bounds.

    Returns:
        What the extractor yields.

    Raises:
        ValueError: The file changed since it was listed, or the extractor refused
            it; the message is the reason it is skipped.
        OSError: It cannot be opened or read.
    """
    data = read_inside(root, job.source, max_bytes=limits.max_file_bytes)
    if hashlib.sha256(data).hexdigest() != job.sha256:
        raise ValueError("changed while the build read it: build again")
    return _extract(data, job.suffix, limits)


def _text_document(source: str, data: bytes, sha256: str) -> Document:
    text = decode_text(source, data)
    header = read_header(text, source)
    return Document(
        source=source,
        text=text,
        sha256=sha256,
        title=header.title,
        date=header.date,
        series=header.series,
        body_start=header.body_start,
        sections=text_sections(text, header.body_start),
    )


def _extract(data: bytes, suffix: str, limits: IngestSettings) -> Extracted:
    """`extract`, its skip reasons naming the variable of the limit they hit."""
    try:
        extracted = extract(data, suffix, limits.extract_limits())
        extracted.text.encode("utf-8")  # stored as UTF-8: no lone surrogate may pass
    except ValueError as exc:
        reason = str(exc)
        for field, variable in EXTRACT_LIMIT_VARIABLES.items():
            reason = reason.replace(f"({field})", f"({variable})")
        raise ValueError(reason) from None
    return extracted


def _extracted_document(source: str, extracted: Extracted, sha256: str) -> Document:
    """A document from what the extractor read: the file's own metadata first, the
    header lines of its text (and the file name's date) where it has none."""
    header = read_header(extracted.text, source)
    return Document(
        source=source,
        text=extracted.text,
        sha256=sha256,
        title=extracted.title or header.title,
        date=extracted.date or header.date,
        series=header.series,
        body_start=header.body_start,
        kind=extracted.kind,
        author=extracted.author,
        pages=extracted.pages,
        sections=extracted.sections,
        char_runs=extracted.char_runs,
    )


def _stored_document(source: str, text: str, record: DocumentRecord) -> Document:
    return Document(
        source=source,
        text=text,
        sha256=record.sha256,
        title=record.title,
        date=record.date,
        series=record.series,
        body_start=read_header(text, source).body_start,
        kind=record.kind,
        author=record.author,
        pages=record.pages,
        sections=record.sections,
        stored_layer=True,
    )


def _check_paragraphs(text: str, limit: int) -> None:
    """Refuse text with a run of more than `limit` characters without a line break:
    that is data (a minified dump, a log line), not prose to cite."""
    longest = max((len(line) for line in text.split("\n")), default=0)
    if longest > limit:
        raise ValueError(
            f"a line of {longest:,} characters exceeds the {limit:,}-character paragraph "
            "limit (ASSISTANT_MAX_PARAGRAPH_CHARS)"
        )


def list_sources(sources_dir: Path) -> tuple[dict[str, os.stat_result], list[SkippedSource]]:
    """The regular files under `sources_dir`, never following a symlink.

    Hidden files and folders are ignored. Symlinks (dangling, looping or not),
    special files and unreadable folders are returned as skipped, with the reason.
    A folder that vanishes while being listed is simply not there.

    Returns:
        Relative POSIX path → the entry's `lstat`, sorted by path; and the skips.
    """
    files: dict[str, os.stat_result] = {}
    skipped: list[SkippedSource] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(sources_dir / folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            skipped.append(
                SkippedSource(source=folder, reason=f"folder not readable ({exc.strerror})")
            )
            continue
        for entry in listing:
            if entry.name.startswith("."):
                continue
            relative = f"{folder}/{entry.name}" if folder else entry.name
            try:
                kind = _entry_kind(entry)
            except FileNotFoundError:
                continue
            if kind == "folder":
                pending.append(relative)
            elif kind == "file":
                files[relative] = entry.stat(follow_symlinks=False)
            else:
                skipped.append(SkippedSource(source=relative, reason=kind))
    return dict(sorted(files.items())), sorted(skipped, key=lambda s: s.source)


def _entry_kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        target = "dangling " if not os.path.exists(entry.path) else ""
        return f"{target}symbolic link, not followed: only files inside the sources folder are read"
    if entry.is_dir(follow_symlinks=False):
        return "folder"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "not a regular file (device, FIFO or socket)"


def load_documents(
    sources_dir: Path,
    known: Mapping[str, DocumentRecord] | None = None,
    *,
    limits: IngestSettings | None = None,
    stored_text: StoredText | None = None,
    extract_many: ExtractMany | None = None,
) -> tuple[list[Document], list[SkippedSource]]:
    """Every readable document under `sources_dir`, sorted by path.

    Args:
        sources_dir: The sources folder; hidden files and folders are ignored,
            symlinks are never followed.
        known: The index's records by source (see `read_source`).
        limits: Size and extraction bounds (default `IngestSettings()`).
        stored_text: Unchanged documents' stored text layers (see `read_source`).
        extract_many: Extracts the files that need it, all at once (see
            `ExtractMany`); by default each is extracted here as it is read.

    Returns:
        The documents, and the files that were skipped with the reason.

    Raises:
        SourcesError: The folder is missing or holds no file at all.
    """
    if not sources_dir.is_dir():
        raise SourcesError(
            f"sources folder {sources_dir} does not exist: create it and add documents "
            "(.txt, .md, .pdf, .html, .docx), or pass --sources DIR / set ASSISTANT_SOURCES",
            path=str(sources_dir),
        )
    limits = limits or IngestSettings()
    listed, skipped = list_sources(sources_dir)
    found: dict[str, Document] = {}
    pending: list[_Pending] = []
    for source, entry in listed.items():
        try:
            read = _read(sources_dir, source, (known or {}).get(source), limits, entry, stored_text)
            if isinstance(read, Document):
                found[source] = read
            elif extract_many is not None:
                pending.append(_Pending(read.job, b"", read.unchanged))
            else:
                found[source] = _finish(read, _extract(read.data, read.job.suffix, limits))
        except FileNotFoundError:
            continue  # removed since the listing: as if it had never been there
        except (OSError, ValueError) as exc:
            skipped.append(SkippedSource(source=source, reason=read_failure(exc)))
    if pending:
        assert extract_many is not None  # nothing is pending without it
        results = extract_many([p.job for p in pending])
        for waiting, result in zip(pending, results, strict=True):
            if isinstance(result, str):
                skipped.append(SkippedSource(source=waiting.job.source, reason=result))
            else:
                found[waiting.job.source] = _finish(waiting, result)
    documents = [found[source] for source in listed if source in found]
    if not documents and not skipped:
        raise SourcesError(
            f"sources folder {sources_dir} is empty: add documents (.txt, .md, .pdf, .html, "
            ".docx), then build",
            path=str(sources_dir),
        )
    return documents, sorted(skipped, key=lambda s: s.source)
