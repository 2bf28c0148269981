"""From a PDF's lines to paragraphs: running headers, footers and page numbers
dropped, line-end hyphens kept or joined, and where one paragraph ends and the
next begins (line pitch, indents, justified edges, font size).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import statistics
from collections import Counter

from .limits import Deadline
from .offsets import CharRun
from .pdf_lines import Line

__all__ = ["Paragraphs", "in_margin", "lay_out"]

_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|seite|pág\.?)?\s*\d{1,4}(?:\s*(?:of|/|von|de)\s*\d{1,4})?$", re.I
)
_ROMAN = re.compile(r"^[ivxlcdm]{1,6}$", re.I)
_MARGIN_BAND = 0.15  # share of the page height, top and bottom, where running lines live


def in_margin(line: Line, height: float) -> bool:
    """Whether `line` lies in the top or bottom band of its page."""
    return line.top >= height * (1 - _MARGIN_BAND) or line.bottom <= height * _MARGIN_BAND


def _margin_key(line: Line) -> str:
    """A margin line's text, lower-cased, digits as '#' (page numbers vary)."""
    return re.sub(r"\d+", "#", line.text.lower())


def _drop_running_lines(pages: list[tuple[list[Line], float]]) -> list[list[Line]]:
    """Remove running headers and footers: lines in the top or bottom band of the
    page whose text (digits aside) repeats at the same height on at least half the
    pages, and page numbers standing alone in those bands."""

    seen: dict[str, list[tuple[int, float]]] = {}
    for number, (lines, height) in enumerate(pages):
        for line in lines:
            if in_margin(line, height):
                seen.setdefault(_margin_key(line), []).append((number, line.bottom))
    needed = max(2, math.ceil(len(pages) / 2))
    running: set[tuple[str, int]] = set()
    for key, places in seen.items():
        heights = statistics.median(bottom for _, bottom in places)
        near = {page for page, bottom in places if abs(bottom - heights) <= 3}
        if len(near) >= needed:
            running.update((key, page) for page, bottom in places if abs(bottom - heights) <= 3)
    kept: list[list[Line]] = []
    for number, (lines, height) in enumerate(pages):
        kept.append(
            [
                line
                for line in lines
                if (_margin_key(line), number) not in running
                and not (
                    in_margin(line, height)
                    and (_PAGE_NUMBER.match(line.text) or _ROMAN.match(line.text))
                )
            ]
        )
    return kept


_WORD = re.compile(r"[^\W\d_]+(?:[-\u2010][^\W\d_]+)*")
_TERMINAL = (".", "!", "?", ":", ";", '"', "”", "’", ")", "]")
_BULLET = re.compile(r"^(?:[•▪◦‣●○■□–—*-]|\d{1,3}[.)]|[a-z][.)])\s")
#: Prefixes written with a hyphen; a line break after one keeps it ("co-production").
_HYPHENATED_PREFIXES = frozenset({"co", "non", "self", "so", "well", "half", "cross", "anti"})


class _Hyphenation:
    """Decides whether a hyphen at a line end is the writer's (kept) or the
    typesetter's (dropped, the word joined), from the document's own words."""

    def __init__(self, pages: list[list[Line]]) -> None:
        self.words: Counter[str] = Counter()
        self.soft_breaks = 0
        for lines in pages:
            for line in lines:
                self.words.update(
                    w.lower().replace("\u2010", "-") for w in _WORD.findall(line.text)
                )
                self.soft_breaks += line.hyphen in ("\u2010", "\u00ad")

    def keep(self, before: str, after: str, hyphen: str) -> bool:
        """Whether the hyphen between `before` and `after` stays in the text."""
        left = _WORD.findall(before)
        right = _WORD.findall(after)
        if not left or not right or not before.endswith(left[-1]) or not after.startswith(right[0]):
            return True  # not a word broken in two ("U.S.-", "PAC-", "1990-")
        head, tail = left[-1].lower(), right[0].lower()
        if hyphen == "\u00ad":
            return False
        if self.words[f"{head}-{tail}"]:
            return True
        if self.words[head + tail]:
            return False
        if "-" in tail:
            return True  # a compound that goes on with hyphens ("Air-" + "to-Air")
        if right[0][0].isupper():
            return True
        if hyphen == "-" and self.soft_breaks:
            # This writer marks its own breaks with U+2010 (Chromium, Skia):
            # a plain hyphen at a line end is part of the word.
            return True
        return head.rsplit("-", 1)[-1] in _HYPHENATED_PREFIXES


def _join_lines(before: str, after: str, hyphen: str, rules: _Hyphenation) -> str:
    """Two lines of one paragraph joined: with a space, the hyphen kept, or the word rejoined."""
    if not hyphen:
        return f"{before} {after}"
    if rules.keep(before, after, hyphen):
        return f"{before}-{after}"
    return before + after


@dataclasses.dataclass(frozen=True)
class _Metrics:
    """A page's body text: line pitch, left and right edges, and whether its lines
    are justified (every line but a paragraph's last reaches the right edge)."""

    pitch: float = 0.0
    left: float = 0.0
    right: float = 0.0
    justified: bool = False

    @property
    def width(self) -> float:
        return max(self.right - self.left, 1.0)


def _page_metrics(lines: list[Line]) -> _Metrics:
    """The body-text metrics of a page's lines."""
    steps = [
        a.bottom - b.bottom
        for a, b in itertools.pairwise(lines)
        if 0.5 * a.size < a.bottom - b.bottom < 3 * max(a.size, 1)
    ]
    pitch = statistics.median(steps) if steps else max((ln.size for ln in lines), default=10) * 1.2
    lefts = sorted(ln.left for ln in lines)
    rights = sorted(ln.right for ln in lines)
    left, right = lefts[len(lefts) // 10], rights[(len(rights) * 9) // 10]
    full = sum(ln.right >= right - 0.03 * max(right - left, 1.0) for ln in lines)
    return _Metrics(pitch, left, right, justified=len(lines) >= 4 and full >= 0.6 * len(lines))


def _starts_paragraph(previous: Line, line: Line, metrics: _Metrics, same_page: bool) -> bool:
    """Whether `line` opens a paragraph rather than continuing `previous`'s."""
    if _BULLET.match(line.text):
        return True
    if previous.hyphen:
        return False  # a word broken across the lines
    if abs(line.size - previous.size) > 0.15 * max(previous.size, 1):
        return True  # a heading, or back from one
    reach = (previous.right - metrics.left) / metrics.width
    if reach < 0.6 or (
        previous.text.endswith(_TERMINAL) and reach < (0.95 if metrics.justified else 0.8)
    ):
        return True  # the previous line stopped short: its paragraph ended
    if line.left > metrics.left + 0.8 * max(line.size, 1) and previous.text.endswith(_TERMINAL):
        return True  # an indented first line
    if same_page:
        gap = previous.bottom - line.bottom
        return gap > 1.45 * metrics.pitch or gap < -0.5 * metrics.pitch
    return False


@dataclasses.dataclass
class Paragraphs:
    """A PDF's lines laid out as paragraphs, with what its text layer is built from."""

    texts: list[str] = dataclasses.field(default_factory=list)
    runs: list[list[CharRun]] = dataclasses.field(default_factory=list)
    """Where each paragraph's characters were read, offsets inside the paragraph."""
    page_starts: list[tuple[int, int] | None] = dataclasses.field(default_factory=list)
    """Per page: (paragraph index, offset inside it) where it starts; None if empty."""
    headings: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    """(paragraph index, text) of the lines set larger than the body text."""


class _Builder:
    """Adds lines one by one: each continues the current paragraph or starts one."""

    def __init__(self, rules: _Hyphenation, body_size: float) -> None:
        self.laid = Paragraphs()
        self.rules = rules
        self.body_size = body_size
        self.current = ""
        self.current_runs: list[CharRun] = []
        self.current_hyphen = ""
        self.previous: Line | None = None
        self.previous_page = 0

    def add(self, line: Line, page_index: int, metrics: _Metrics, *, first_on_page: bool) -> None:
        """Place `line`; `metrics` are those of the page that `previous` is judged on."""
        previous = self.previous
        if previous is not None and not _starts_paragraph(
            previous, line, metrics, not first_on_page
        ):
            line_at = self._continue(previous, line)
        else:
            line_at = self._start(line)
        if first_on_page:
            self.laid.page_starts.append((len(self.laid.texts), line_at))
        self.current_runs.extend(
            (line_at + offset, length, page_index, char) for offset, length, char in line.runs
        )
        self.current_hyphen = line.hyphen
        self.previous, self.previous_page = line, page_index

    def _continue(self, previous: Line, line: Line) -> int:
        """Join `line` to the current paragraph; returns where it starts in it."""
        joined = _join_lines(self.current, line.text, self.current_hyphen, self.rules)
        line_at = len(joined) - len(line.text)
        kept_hyphen = line_at == len(self.current) + 1 and joined[len(self.current)] == "-"
        if kept_hyphen and previous.hyphen_char >= 0:
            # The writer's hyphen stays in the text: it has a glyph on the page.
            self.current_runs.append(
                (len(self.current), 1, self.previous_page, previous.hyphen_char)
            )
        self.current = joined
        return line_at

    def _start(self, line: Line) -> int:
        """Close the current paragraph and open one with `line`; returns 0."""
        self.finish()
        self.current, self.current_runs = line.text, []
        if self.body_size and line.size >= 1.2 * self.body_size and len(line.text) <= 150:
            self.laid.headings.append((len(self.laid.texts), line.text))
        return 0

    def finish(self) -> Paragraphs:
        """Close the current paragraph (if any); the paragraphs so far."""
        if self.current:
            self.laid.texts.append(self.current)
            self.laid.runs.append(self.current_runs)
            self.current, self.current_runs = "", []
        return self.laid


def lay_out(raw_pages: list[tuple[list[Line], float]], deadline: Deadline) -> Paragraphs:
    """The paragraphs of a PDF's pages (lines and height each), running lines dropped.

    Raises:
        ValueError: `deadline` passed (checked once per page).
    """
    pages = _drop_running_lines(raw_pages)
    line_sizes = [line.size for lines in pages for line in lines]
    body_size = statistics.median(line_sizes) if line_sizes else 0.0
    builder = _Builder(_Hyphenation(pages), body_size)
    previous_metrics = _Metrics()
    for page_index, lines in enumerate(pages):
        deadline.check()
        if not lines:
            builder.laid.page_starts.append(None)
            continue
        metrics = _page_metrics(lines)
        for number, line in enumerate(lines):
            # A page's first line is judged against the layout of the page before.
            builder.add(
                line, page_index, metrics if number else previous_metrics, first_on_page=number == 0
            )
        previous_metrics = metrics
    return builder.finish()
