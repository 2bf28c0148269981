"""Documents → passages: paragraphs, abbreviation-aware sentences, token-bounded groups.

Nothing here rewrites text: every passage and sentence is a `(start, end)` range
into the document's own string, so citations point back into the file exactly.
Time is linear in the text: pysbd sees a long paragraph in bounded windows, and
each sentence is tokenized once (each passage once more, to check its bound).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import time
from dataclasses import dataclass
from typing import Protocol

import pysbd

from .._settings import ChunkingSettings
from .._types import Chunk, Document, Span

__all__ = [
    "ChunkingTimeoutError",
    "Segment",
    "TokenCounter",
    "chunk_document",
    "markdown_heading",
    "pysbd_segments",
    "split_paragraphs",
    "split_sentences",
]


class TokenCounter(Protocol):
    """What chunking needs from a tokenizer (see `_models.ModelTokenizer`)."""

    max_tokens: int
    special_tokens: int

    def count(self, text: str) -> int: ...

    def offsets(self, text: str) -> list[tuple[int, int]]: ...


@dataclass(frozen=True)
class Paragraph:
    start: int
    end: int
    is_heading: bool


_BULLET = re.compile(r"^(?:[-*•+]|\d{1,3}[.)])\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_TERMINAL = (".", "!", "?", ":", ";", '"', "”", "’", ")", "]")


# A longer line is text even without a full stop (a 50,000-character line is data).
_MAX_HEADING_CHARS = 150
# English wordpieces average about four characters; twice that bounds a passage's
# length in characters as the token budget bounds it in tokens.
_MAX_CHARS_PER_TOKEN = 8


def markdown_heading(line: str) -> str | None:
    """The text of a Markdown heading line ("## Background ##" → "Background"):
    one to six `#`, whitespace, then the text without closing `#`s. The one heading
    rule: paragraphs here, titles and sections in `ingest.metadata`.

    Written out rather than as the regex `^#{1,6}\\s+(.+?)\\s*#*\\s*$` (the same
    headings, the same text once stripped), whose backtracking takes minutes on a
    line like "# a", 5,000 spaces, "b".

    Args:
        line: One line, without its line break.

    Returns:
        The heading's text, stripped ("" for a line of marks only), or None when
        `line` is no Markdown heading.
    """
    hashes = len(line) - len(line.lstrip("#"))
    if not 1 <= hashes <= 6 or hashes == len(line) or not line[hashes].isspace():
        return None
    body = line[hashes:].lstrip()
    if not body:  # "#" and whitespace: a heading only with two whitespace characters
        return "" if len(line) - hashes >= 2 else None
    # closing marks and the space around them go; "# ##" keeps a "#" as its text
    return body.rstrip().rstrip("#").rstrip() or body[0]


def _looks_like_heading(line: str) -> bool:
    if len(line) > _MAX_HEADING_CHARS:
        return False
    if markdown_heading(line) is not None:
        return True
    return len(line.split()) <= 12 and not line.endswith(_TERMINAL) and not _BULLET.match(line)


def split_paragraphs(text: str) -> list[Paragraph]:
    """Paragraph ranges of `text`, trimmed of surrounding whitespace and bullet marks.

    Documents that separate paragraphs with blank lines may wrap lines inside a
    paragraph; documents without blank lines (like the briefs) have one paragraph
    per line. Bullets and markdown headings always start a new paragraph.
    """
    wraps_lines = _BLANK_LINE.search(text) is not None
    blocks: list[list[int]] = []
    previous_closes = True
    offset = 0
    for line in text.split("\n"):
        start, end = offset, offset + len(line)
        offset = end + 1
        stripped = line.strip()
        if not stripped:
            previous_closes = True
            continue
        opens = (
            not wraps_lines
            or previous_closes
            or _BULLET.match(stripped) is not None
            or markdown_heading(stripped) is not None
        )
        if opens:
            blocks.append([start, end])
        else:
            blocks[-1][1] = end
        previous_closes = markdown_heading(stripped) is not None
    paragraphs = []
    for start, end in blocks:
        raw = text[start:end]
        start += len(raw) - len(raw.lstrip())
        end -= len(raw) - len(raw.rstrip())
        single_line = "\n" not in text[start:end]
        heading = single_line and _looks_like_heading(text[start:end])
        if bullet := _BULLET.match(text[start:end]):
            start += bullet.end()
        if start < end:
            paragraphs.append(Paragraph(start, end, heading))
    return paragraphs


@functools.lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    # clean=False keeps every segment a verbatim substring, so it can be located.
    return pysbd.Segmenter(language="en", clean=False)


class Segment(Protocol):
    """Cuts text into sentences, each a verbatim substring, in order (pysbd's contract)."""

    def __call__(self, text: str) -> list[str]: ...


def pysbd_segments(text: str) -> list[str]:
    """Sentences of `text` as pysbd cuts them (surrounding whitespace kept)."""
    segments: list[str] = _segmenter().segment(text)
    return segments


# pysbd's cost grows with the square of what it is given: every abbreviation it
# finds rewrites the whole string (a 200 KB line of "U.S. " took minutes) and its
# quote and bracket rules scan to the end. So a long paragraph reaches it in
# windows bounded in characters and, for the rewrites, in full stops. A paragraph
# within both bounds (any ordinary one) is handed over whole, as before.
_WINDOW_CHARS = 2_000
_WINDOW_PERIODS = 64
# pysbd looks a word or two past a full stop to decide a boundary, so a boundary
# this close to a window's end is decided again with the next window.
_WINDOW_MARGIN = 100


def _window_end(text: str, start: int, end: int) -> int:
    """End of the window of `text[start:end]` that starts at `start`: within both
    bounds, just after whitespace if there is some in its second half."""
    limit = min(start + _WINDOW_CHARS, end)
    stop = text.find(".", start, limit)
    for _ in range(_WINDOW_PERIODS):
        if stop < 0:
            break
        stop = text.find(".", stop + 1, limit)
    if stop >= 0:  # one full stop too many: it starts the next window
        limit = stop
    if limit == end:
        return end
    for cut in range(limit - 1, start + (limit - start) // 2, -1):
        if text[cut].isspace():
            return cut + 1
    return limit


def _locate(text: str, start: int, end: int, segments: list[str]) -> list[Span]:
    """Spans of `segments` in `text[start:end]`, found with `str.find` from a moving
    cursor, so offsets are exact even when pysbd's own bookkeeping would drift."""
    spans: list[Span] = []
    cursor = start
    for segment in segments:
        piece = segment.strip()
        if not piece:
            continue
        found = text.find(piece, cursor, end)
        if found < 0:  # pysbd altered the text: fall back to the rest as one sentence
            return spans + _trimmed(text, cursor, end)
        spans.append(Span(start=found, end=found + len(piece)))
        cursor = found + len(piece)
    return spans


def _trimmed(text: str, start: int, end: int) -> list[Span]:
    """`text[start:end]` without surrounding whitespace, unless nothing is left."""
    piece = text[start:end]
    first = start + len(piece) - len(piece.lstrip())
    last = end - (len(piece) - len(piece.rstrip()))
    return [Span(start=first, end=last)] if first < last else []


def _settled(spans: list[Span], start: int, stop: int) -> list[Span]:
    """The sentences of the window `[start, stop)` that later text cannot change:
    all but the last (which may run on past the window) and any ending within the
    margin. Empty when pysbd found no boundary in the window."""
    settled = spans[:-1]
    margin = min(_WINDOW_MARGIN, (stop - start) // 4)
    while len(settled) > 1 and settled[-1].end > stop - margin:
        settled.pop()
    return settled


def _window(text: str, cursor: int, end: int, segment: Segment) -> tuple[list[Span], int, bool]:
    """Sentences settled by the window of `text[cursor:end]` starting at `cursor`,
    where the next window starts, and whether the last sentence runs on into it."""
    stop = _window_end(text, cursor, end)
    found = _locate(text, cursor, stop, segment(text[cursor:stop]))
    if stop == end:
        return found, end, False
    settled = _settled(found, cursor, stop)
    if settled:
        return settled, found[len(settled)].start, False
    # no boundary in a whole window (a line of "U.S. "): the sentence goes on
    return _trimmed(text, cursor, stop), stop, True


def split_sentences(
    text: str, start: int, end: int, segment: Segment = pysbd_segments
) -> list[Span]:
    """Sentence spans inside `text[start:end]`, trimmed of whitespace.

    pysbd knows "U.S.", "Gen.", "No.", initials and decimals are not sentence ends.
    A long paragraph reaches it in bounded windows (see `_WINDOW_CHARS`), each
    starting at the first sentence the previous one left unsettled, so time stays
    linear and the sentences are those pysbd finds in the whole paragraph (unless a
    quotation or parenthesis straddles a window's end).

    Args:
        text: The whole document.
        start: First character of the paragraph.
        end: End of the paragraph (exclusive).
        segment: The sentence segmenter; pysbd unless a test wraps it.
    """
    spans: list[Span] = []
    cursor, runs_on = start, False
    while cursor < end:
        settled, cursor, next_runs_on = _window(text, cursor, end, segment)
        if runs_on and spans and settled:  # the sentence cut at the last window ends here
            spans[-1] = Span(start=spans[-1].start, end=settled[0].end)
            settled = settled[1:]
        spans += settled
        runs_on = next_runs_on
    return spans


def _split_long(text: str, span: Span, tokenizer: TokenCounter, budget: int) -> list[Span]:
    """Cut a sentence longer than `budget` tokens at token boundaries (word starts
    where possible)."""
    piece = text[span.start : span.end]
    offsets = tokenizer.offsets(piece)
    room = max(budget - tokenizer.special_tokens - 2, 1)
    windows: list[Span] = []
    first = 0
    while first < len(offsets):
        last = min(first + room, len(offsets))
        if last < len(offsets):
            # back off to a token that starts a word, so no word is cut in two
            cut = last
            while (
                cut > first + room // 2
                and not piece[offsets[cut][0] - 1 : offsets[cut][0]].isspace()
            ):
                cut -= 1
            last = cut if cut > first + room // 2 else last
        end_char = offsets[last][0] if last < len(offsets) else len(piece)
        chunk_text = piece[offsets[first][0] : end_char].rstrip()
        windows.append(
            Span(
                start=span.start + offsets[first][0],
                end=span.start + offsets[first][0] + len(chunk_text),
            )
        )
        first = last
    return [w for w in windows if w.end > w.start]


def _cut_chars(text: str, span: Span, max_chars: int) -> list[Span]:
    """Cut `span` into pieces of at most `max_chars`, at whitespace where there is
    some. The tokenizer maps an over-long "word" (a 50,000-character line of data)
    to one unknown token, so a token bound alone would let it through whole."""
    pieces: list[Span] = []
    start = span.start
    while span.end - start > max_chars:
        limit = start + max_chars
        space = text.rfind(" ", start + max_chars // 2, limit)
        cut = space if space > start else limit
        pieces.append(Span(start=start, end=cut))
        start = cut
        while start < span.end and text[start].isspace():
            start += 1
    if span.end > start:
        pieces.append(Span(start=start, end=span.end))
    return pieces


@dataclass(frozen=True)
class _Unit:
    """A sentence, or a piece of an over-long one: what passages are made of."""

    span: Span
    tokens: int  # counted on its own, special tokens included


def _bounded(text: str, span: Span, tokenizer: TokenCounter, budget: int) -> list[_Unit]:
    """`span` as units within `budget`, halved at a space until each fits: counted
    alone, a piece cut inside a word can take more tokens than it had in place."""
    tokens = tokenizer.count(text[span.start : span.end])
    if tokens <= budget or span.end - span.start < 2:
        return [_Unit(span, tokens)]
    middle = (span.start + span.end) // 2
    space = text.rfind(" ", span.start + 1, middle)
    cut = space if space >= 0 else middle
    halves = _trimmed(text, span.start, cut) + _trimmed(text, cut, span.end)
    return [unit for half in halves for unit in _bounded(text, half, tokenizer, budget)]


def _units(text: str, paragraph: Paragraph, tokenizer: TokenCounter, budget: int) -> list[_Unit]:
    """The paragraph's sentences, over-long ones cut into pieces within `budget`."""
    max_chars = budget * _MAX_CHARS_PER_TOKEN
    units: list[_Unit] = []
    for sentence in split_sentences(text, paragraph.start, paragraph.end):
        if sentence.end - sentence.start <= max_chars:
            tokens = tokenizer.count(text[sentence.start : sentence.end])
            if tokens <= budget:
                units.append(_Unit(sentence, tokens))
                continue
        for window in _split_long(text, sentence, tokenizer, budget):
            for piece in _cut_chars(text, window, max_chars):
                units += _bounded(text, piece, tokenizer, budget)
    return units


def _group(
    units: list[_Unit], budget: int, overlap: int, special_tokens: int
) -> list[tuple[int, int]]:
    """Greedy grouping of neighbouring units under `budget`, balanced so the last
    passage of a paragraph is not a stub; returns `units[first:stop]` ranges.

    A run of units is weighed by the sum of their own token counts, which is its
    count for a tokenizer that splits at whitespace (WordPiece): re-encoding the
    growing passage at every sentence made long paragraphs quadratic. Characters / 8
    bound it too, as `_MAX_CHARS_PER_TOKEN` explains.
    """
    sums = list(itertools.accumulate((u.tokens - special_tokens for u in units), initial=0))

    def weight(first: int, stop: int) -> int:
        chars = units[stop - 1].span.end - units[first].span.start
        tokens = sums[stop] - sums[first] + special_tokens
        return max(tokens, math.ceil(chars / _MAX_CHARS_PER_TOKEN))

    total = sum(weight(i, i + 1) for i in range(len(units)))
    target = math.ceil(total / max(math.ceil(total / budget), 1))
    groups: list[tuple[int, int]] = []
    first = 0  # the passage being filled is units[first:i + 1]
    for i in range(len(units)):
        if first < i and weight(first, i + 1) > budget:
            groups.append((first, i))
            first = max(i - overlap, first)
            if first < i and weight(first, i + 1) > budget:
                first = i
        if weight(first, i + 1) >= target:
            groups.append((first, i + 1))
            first = max(i + 1 - overlap, first)
    if first < len(units) and (not groups or groups[-1][1] != len(units)):
        groups.append((first, len(units)))
    return groups


def _verified(
    text: str, units: list[_Unit], tokenizer: TokenCounter, budget: int
) -> list[tuple[list[_Unit], int]]:
    """`units` as one passage with its exact token count, or as halves when the
    summed estimate fell short (a tokenizer that merges tokens across units)."""
    if len(units) == 1:
        return [(units, units[0].tokens)]
    tokens = tokenizer.count(text[units[0].span.start : units[-1].span.end])
    if tokens <= budget:
        return [(units, tokens)]
    half = len(units) // 2
    return _verified(text, units[:half], tokenizer, budget) + _verified(
        text, units[half:], tokenizer, budget
    )


class ChunkingTimeoutError(ValueError):
    """A document took longer to cut than its deadline allows."""


def chunk_document(
    document: Document,
    tokenizer: TokenCounter,
    settings: ChunkingSettings,
    first_id: int = 0,
    *,
    deadline: float | None = None,
) -> list[Chunk]:
    """Cut a document into passages, in time linear in its length.

    Args:
        document: The document, text exactly as read from its file.
        tokenizer: Counts tokens with the embedding model's own tokenizer.
        settings: Token bound and sentence overlap.
        first_id: Id of the first passage (ids are rows of the vector index).
        deadline: A `time.monotonic()` value; past it the document is given up.

    Returns:
        Passages in document order; headings stand alone and are not passages
        (unless the document is nothing but heading-like lines).

    Raises:
        ChunkingTimeoutError: `deadline` passed (checked between paragraphs).
    """
    text = document.text
    budget = min(settings.max_tokens, tokenizer.max_tokens)
    chunks: list[Chunk] = []
    paragraphs = split_paragraphs(text)
    # A document of nothing but short lines (a list of names) is all "headings":
    # index them rather than lose the document.
    keep_headings = all(p.is_heading for p in paragraphs)
    # With the title and date embedded before every passage, the header lines
    # themselves would only be a passage that repeats them.
    body_start = document.body_start if settings.context_prefix else 0
    if any(p.start >= body_start for p in paragraphs):
        paragraphs = [p for p in paragraphs if p.start >= body_start]
    cut_one = False
    for paragraph in paragraphs:
        if paragraph.is_heading and not keep_headings:
            continue
        # Between paragraphs only: a document's first paragraph is always cut, so
        # a short file is never lost to a busy moment before it.
        if deadline is not None and cut_one and time.monotonic() > deadline:
            raise ChunkingTimeoutError(f"chunking stopped at character {paragraph.start:,}")
        cut_one = True
        units = _units(text, paragraph, tokenizer, budget)
        overlap, special = settings.overlap_sentences, tokenizer.special_tokens
        for first, stop in _group(units, budget, overlap, special):
            for group, tokens in _verified(text, units[first:stop], tokenizer, budget):
                start, end = group[0].span.start, group[-1].span.end
                chunks.append(
                    Chunk(
                        id=first_id + len(chunks),
                        source=document.source,
                        start=start,
                        end=end,
                        text=text[start:end],
                        sentences=[unit.span for unit in group],
                        tokens=tokens,
                    )
                )
    return chunks
