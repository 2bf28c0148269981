"""What a document's own text says about it: the title, date and series of its
header lines (and the file name's date), where its body starts, and the headings
of a text file's sections.

Shared by plain-text sources (their only metadata) and extracted PDFs, HTML pages
and .docx files (where the file's own metadata has a gap).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from .chunking import markdown_heading, split_paragraphs

__all__ = [
    "Header",
    "extract_metadata",
    "parse_date_line",
    "read_header",
    "text_sections",
]

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_FORMATS = (
    (re.compile(rf"^(?P<m>{_MONTHS})\.?\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})$", re.I), "mdy"),
    (re.compile(rf"^(?P<d>\d{{1,2}})\s+(?P<m>{_MONTHS})\.?,?\s+(?P<y>\d{{4}})$", re.I), "dmy"),
    (re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})$"), "iso"),
)
# What may stand before the date on a dateline ("Published: Aug. 16, 2024", "Friday,
# August 16, 2024"). Numeric dates such as 08/06/2024 are left out: the day and the
# month cannot be told apart.
_DATE_PREFIX = re.compile(
    r"^(?:(?:published|posted|updated|last\s+updated|dated?|released|issued)(?:\s+on)?\s*:?\s+)?"
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?",
    re.I,
)
# A byline ("By Jane Doe and John Roe") belongs to the header block. Names only, on
# a line of its own (a blank line or the date after it): a header line is left out
# of the passages, and "By then, it was over." or a wrapped first line of a
# paragraph ("By Monday Prime Minister Kishida⏎had spoken ...") is text.
_BYLINE = re.compile(r"^By\s+[A-Z][\w.'’-]*(?:\s+(?:and\s+)?[A-Z][\w.'’-]*){0,5}$")
_ISO_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MARKDOWN_MARKS = re.compile(r"^#{1,6}\s+|\s+#+\s*$")
_HEADER_LINES = 8


def _month_number(name: str) -> int:
    key = name.lower()[:3]
    return [m[:3] for m in _MONTHS.split("|")[:12]].index(key) + 1


def parse_date_line(line: str) -> dt.date | None:
    """The date a header line consists of ("August 16, 2024", "16 Aug 2024",
    "2024-08-16", after a label or weekday: "Published: Friday, August 16, 2024"),
    or None."""
    line = _DATE_PREFIX.sub("", line.strip().strip("*_").strip(), count=1)
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
        heading = markdown_heading(line)
        role = None
        if heading is not None and title is None:
            title, role = heading[:_MAX_TITLE_CHARS], "title"
        elif date is None and (parsed := parse_date_line(plain)) is not None:
            date, role = parsed, "date"
        elif title is None and series is None and _is_series_line(plain):
            series, role = plain, "series"
        elif title is None and _is_title_like(plain, _stands_alone(text, end, lines, index)):
            title, role = plain, "title"
        elif title is not None and _BYLINE.match(plain) and _stands_alone(text, end, lines, index):
            role = "byline"
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


def text_sections(text: str, body_start: int) -> list[tuple[int, str]]:
    """(offset, heading) of the headings after a text file's header lines: the
    paragraphs chunking treats as headings (a Markdown heading, a short line
    without a full stop), "## " marks dropped."""
    return [
        (paragraph.start, _MARKDOWN_MARKS.sub("", text[paragraph.start : paragraph.end]))
        for paragraph in split_paragraphs(text)
        if paragraph.is_heading and paragraph.start >= body_start
    ]
