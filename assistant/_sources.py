"""Source files → `Document`: text exactly as `Path.read_text(encoding="utf-8")`
gives it, plus title, date and series read from the header.

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

from ._errors import SourcesError
from ._files import read_inside
from ._settings import IngestSettings
from ._types import Document, DocumentRecord, SkippedSource

__all__ = ["SUPPORTED_SUFFIXES", "decode_text", "list_sources", "load_documents", "read_source"]


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


#: Suffix → decoder. A new format (e.g. PDF) adds an entry whose decoder returns
#: the text that offsets will point into.
_DECODERS: dict[str, Callable[[bytes], str]] = {
    ".txt": _decode_utf8_text,
    ".md": _decode_utf8_text,
}
SUPPORTED_SUFFIXES = frozenset(_DECODERS)

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


def _decoder(source: str) -> Callable[[bytes], str]:
    decoder = _DECODERS.get(PurePosixPath(source).suffix.lower())
    if decoder is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        suffix = PurePosixPath(source).suffix or "(none)"
        raise ValueError(f"unsupported file type {suffix}; supported: {supported}")
    return decoder


def decode_text(source: str, data: bytes) -> str:
    """The text layer of a file's bytes: the string citation offsets index into.

    Raises:
        ValueError: Unsupported type, binary or not UTF-8.
    """
    return _decoder(source)(data)


def read_source(
    root: Path,
    source: str,
    known: DocumentRecord | None = None,
    *,
    limits: IngestSettings | None = None,
    listed: os.stat_result | None = None,
) -> Document:
    """Read one file of the sources folder into a `Document`.

    Args:
        root: The sources folder.
        source: The file's path relative to it, POSIX style; opened without
            following symlinks (see `read_inside`).
        known: What the index recorded for this source; when the bytes still have
            its hash, its metadata is taken instead of being extracted again.
        limits: Size bounds (default `IngestSettings()`).
        listed: The entry as listed; a different file found at open is refused.

    Returns:
        The document with its exact text and header metadata.

    Raises:
        ValueError: The file is empty, binary, not UTF-8, of an unsupported type,
            a symlink, too large, or has an overlong paragraph.
        OSError: It cannot be opened or read.
    """
    limits = limits or IngestSettings()
    _decoder(source)  # an unsupported type is refused before it is opened
    data = read_inside(root, source, max_bytes=limits.max_file_bytes, expected=listed)
    if not data.strip():
        raise ValueError("empty file")
    text = decode_text(source, data)
    _check_paragraphs(text, limits.max_paragraph_chars)
    sha256 = hashlib.sha256(data).hexdigest()
    header = read_header(text, source)
    if known is not None and known.sha256 == sha256:
        title, date, series = known.title, known.date, known.series
    else:
        title, date, series = header.title, header.date, header.series
    return Document(
        source=source,
        text=text,
        sha256=sha256,
        title=title,
        date=date,
        series=series,
        body_start=header.body_start,
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
) -> tuple[list[Document], list[SkippedSource]]:
    """Every readable document under `sources_dir`, sorted by path.

    Args:
        sources_dir: The sources folder; hidden files and folders are ignored,
            symlinks are never followed.
        known: The index's records by source (see `read_source`).
        limits: Size bounds (default `IngestSettings()`).

    Returns:
        The documents, and the files that were skipped with the reason.

    Raises:
        SourcesError: The folder is missing or holds no file at all.
    """
    if not sources_dir.is_dir():
        raise SourcesError(
            f"sources folder {sources_dir} does not exist: create it and add .txt or .md "
            "documents, or pass --sources DIR / set ASSISTANT_SOURCES",
            path=str(sources_dir),
        )
    listed, skipped = list_sources(sources_dir)
    documents: list[Document] = []
    for source, entry in listed.items():
        try:
            record = (known or {}).get(source)
            documents.append(read_source(sources_dir, source, record, limits=limits, listed=entry))
        except FileNotFoundError:
            continue  # removed since the listing: as if it had never been there
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            skipped.append(SkippedSource(source=source, reason=reason))
    if not documents and not skipped:
        raise SourcesError(
            f"sources folder {sources_dir} is empty: add .txt or .md documents, then build",
            path=str(sources_dir),
        )
    return documents, sorted(skipped, key=lambda s: s.source)
