"""Source files → `Document`: the text layer citations index into, plus title,
date and series.

A .txt or .md file is its own text layer, exactly as `Path.read_text(encoding=
"utf-8")` gives it. A PDF, HTML page or .docx goes through `_formats.extract`
(isolated, bounded by `IngestSettings`), which gives its text layer, metadata,
pages and sections. A file's kind is read from its bytes (magic numbers), not
only its extension: a .txt that is really a PDF is skipped, and says so.

A file that cannot be read is reported as a `SkippedSource`, never fatal: one bad
file must not stop the others from being indexed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .._errors import SourcesError
from .._files import read_inside
from .._settings import EXTRACT_LIMIT_VARIABLES, IngestSettings
from .._types import Document, DocumentRecord, SkippedSource, SourceKind
from .chunking import split_paragraphs
from .formats import Extracted, extract, named_format, sniff_kind

__all__ = [
    "EXTRACTED_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "TEXT_SUFFIXES",
    "StoredText",
    "decode_text",
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
#: Files whose text layer `_formats.extract` reads, once per content hash.
EXTRACTED_SUFFIXES = frozenset({".pdf", ".html", ".htm", ".docx"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | EXTRACTED_SUFFIXES
#: An unchanged extracted document's text layer from the previous generation
#: (None when it is missing or damaged): given its record.
StoredText = Callable[[DocumentRecord], str | None]

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_FORMATS = (
    (re.compile(rf"^(?P<m>{_MONTHS})\.?\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})$", re.I), "mdy"),
    (re.compile(rf"^(?P<d>\d{{1,2}})\s+(?P<m>{_MONTHS})\.?,?\s+(?P<y>\d{{4}})$", re.I), "dmy"),
    (re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})$"), "iso"),
)
_ISO_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_MARKDOWN_MARKS = re.compile(r"^#{1,6}\s+|\s+#+\s*$")
_HEADER_LINES = 8


def _month_number(name: str) -> int:
    key = name.lower()[:3]
    return [m[:3] for m in _MONTHS.split("|")[:12]].index(key) + 1


def parse_date_line(line: str) -> dt.date | None:
    """The date a header line consists of ("August 16, 2024", "16 Aug 2024",
    "2024-08-16"), or None."""
    line = line.strip().strip("*_").strip()
    for pattern, kind in _DATE_FORMATS:
        match = pattern.match(line)
        if not match:
            continue
        month = int(match["m"]) if kind == "iso" else _month_number(match["m"])
        try:
            return dt.date(int(match["y"]), month, int(match["d"]))
        except ValueError:
            return None
    return None


def _date_from_name(name: str) -> dt.date | None:
    match = _ISO_IN_NAME.search(name)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


_MAX_TITLE_CHARS = 200


def _is_series_line(line: str) -> bool:
    """A short all-capitals line such as "INTELBRIEF" names the publication."""
    letters = [c for c in line if c.isalpha()]
    return 0 < len(line.split()) <= 4 and len(letters) >= 3 and all(c.isupper() for c in letters)


def _is_title_like(line: str, stands_alone: bool = False) -> bool:
    words = line.split()
    endings = (",", ";", ":") if stands_alone else (".", ",", ";", ":")
    return (
        0 < len(words) <= 25
        and len(line) <= _MAX_TITLE_CHARS
        and not line.rstrip().endswith(endings)
        and not line.startswith(("-", "*", "•"))
    )


def extract_metadata(text: str, source: str) -> tuple[str, dt.date | None, str | None]:
    """Title, date and series from a document's first lines (date falls back to an
    ISO date in the file name, title to the file name)."""
    header = read_header(text, source)
    return header.title, header.date, header.series


@dataclass(frozen=True)
class Header:
    """What a document's first lines say about it, and where its body starts."""

    title: str
    date: dt.date | None
    series: str | None
    body_start: int
    """Offset of the first character after the header lines (title, date, series)
    when they open the document; 0 when the document does not open with them."""


def read_header(text: str, source: str) -> Header:
    """Title, date, series and the end of the header block.

    A short first line that stands alone (followed by a blank line or the date) is
    the title even when it ends with a full stop, as article titles often do.
    """
    title: str | None = None
    date: dt.date | None = None
    series: str | None = None
    body_start = 0
    in_header = True
    lines = _lines_with_offsets(text)[:_HEADER_LINES]
    for index, (line, end) in enumerate(lines):
        plain = line.strip("*_ ").strip()
        heading = _MARKDOWN_HEADING.match(line)
        role = None
        if heading and title is None:
            title, role = heading.group(1).strip()[:_MAX_TITLE_CHARS], "title"
        elif date is None and (parsed := parse_date_line(plain)) is not None:
            date, role = parsed, "date"
        elif title is None and series is None and _is_series_line(plain):
            series, role = plain, "series"
        elif title is None and _is_title_like(plain, _stands_alone(text, end, lines, index)):
            title, role = plain, "title"
        if role is None:
            in_header = False
        elif in_header:
            body_start = end
    if title is None and series is not None:  # an all-capitals line alone is the title
        title, series = series, None
    name = Path(source).name
    return Header(
        title=title or Path(source).stem.replace("_", " ").replace("-", " ").strip() or name,
        date=date or _date_from_name(name),
        series=series,
        body_start=body_start,
    )


def _lines_with_offsets(text: str) -> list[tuple[str, int]]:
    """Non-blank lines, stripped (a byte-order mark too), each with its end offset."""
    lines = []
    offset = 0
    for raw in text.split("\n"):
        end = offset + len(raw)
        if stripped := raw.strip("\ufeff \t"):
            lines.append((stripped, end))
        offset = end + 1
    return lines


def _stands_alone(text: str, end: int, lines: list[tuple[str, int]], index: int) -> bool:
    """The line is followed by a blank line, the end of the text, or a date line."""
    rest = text[end + 1 : end + 2]
    following = lines[index + 1][0] if index + 1 < len(lines) else None
    return rest in ("", "\n") or (
        following is not None and parse_date_line(following.strip("*_ ")) is not None
    )


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
        document = _extracted_document(source, _extract(data, suffix, limits), sha256)
    if unchanged is not None:
        document = document.model_copy(
            update={"title": unchanged.title, "date": unchanged.date, "series": unchanged.series}
        )
    return document


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


def text_sections(text: str, body_start: int) -> list[tuple[int, str]]:
    """(offset, heading) of the headings after a text file's header lines: the
    paragraphs chunking treats as headings (a Markdown heading, a short line
    without a full stop), "## " marks dropped."""
    return [
        (paragraph.start, _MARKDOWN_MARKS.sub("", text[paragraph.start : paragraph.end]))
        for paragraph in split_paragraphs(text)
        if paragraph.is_heading and paragraph.start >= body_start
    ]


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
) -> tuple[list[Document], list[SkippedSource]]:
    """Every readable document under `sources_dir`, sorted by path.

    Args:
        sources_dir: The sources folder; hidden files and folders are ignored,
            symlinks are never followed.
        known: The index's records by source (see `read_source`).
        limits: Size and extraction bounds (default `IngestSettings()`).
        stored_text: Unchanged documents' stored text layers (see `read_source`).

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
    listed, skipped = list_sources(sources_dir)
    documents: list[Document] = []
    for source, entry in listed.items():
        try:
            record = (known or {}).get(source)
            documents.append(
                read_source(
                    sources_dir,
                    source,
                    record,
                    limits=limits,
                    listed=entry,
                    stored_text=stored_text,
                )
            )
        except FileNotFoundError:
            continue  # removed since the listing: as if it had never been there
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            skipped.append(SkippedSource(source=source, reason=reason))
    if not documents and not skipped:
        raise SourcesError(
            f"sources folder {sources_dir} is empty: add documents (.txt, .md, .pdf, .html, "
            ".docx), then build",
            path=str(sources_dir),
        )
    return documents, sorted(skipped, key=lambda s: s.source)
