"""Documents → passages: paragraphs, abbreviation-aware sentences, token-bounded groups.

Nothing here rewrites text: every passage and sentence is a `(start, end)` range
into the document's own string, so citations point back into the file exactly.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Protocol

import pysbd

from ._settings import ChunkingSettings
from ._types import Chunk, Document, Span

__all__ = ["TokenCounter", "chunk_document", "split_paragraphs", "split_sentences"]


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
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_TERMINAL = (".", "!", "?", ":", ";", '"', "”", "’", ")", "]")


# A longer line is text even without a full stop (a 50,000-character line is data).
_MAX_HEADING_CHARS = 150
# English wordpieces average about four characters; twice that bounds a passage's
# length in characters as the token budget bounds it in tokens.
_MAX_CHARS_PER_TOKEN = 8


def _looks_like_heading(line: str) -> bool:
    if len(line) > _MAX_HEADING_CHARS:
        return False
    if _MARKDOWN_HEADING.match(line):
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
            or _MARKDOWN_HEADING.match(stripped) is not None
        )
        if opens:
            blocks.append([start, end])
        else:
            blocks[-1][1] = end
        previous_closes = _MARKDOWN_HEADING.match(stripped) is not None
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


def split_sentences(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans inside `text[start:end]`, trimmed of whitespace.

    pysbd knows "U.S.", "Gen.", "No.", initials and decimals are not sentence ends.
    Its segments are located with `str.find` from a moving cursor, so offsets are
    exact even when its own span bookkeeping would drift.
    """
    paragraph = text[start:end]
    spans: list[Span] = []
    cursor = 0
    for segment in _segmenter().segment(paragraph):
        piece = segment.strip()
        if not piece:
            continue
        found = paragraph.find(piece, cursor)
        if found < 0:  # pysbd altered the text: fall back to the rest as one sentence
            rest = paragraph[cursor:]
            found, piece = cursor + len(rest) - len(rest.lstrip()), rest.strip()
            if piece:
                spans.append(Span(start=start + found, end=start + found + len(piece)))
            return spans
        spans.append(Span(start=start + found, end=start + found + len(piece)))
        cursor = found + len(piece)
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


def _group(
    units: list[tuple[Span, int]], budget: int, overlap: int, count: TokenCounterFn
) -> list[list[Span]]:
    """Greedy grouping of neighbouring sentences under `budget` tokens, balanced so
    the last passage of a paragraph is not a stub."""
    total = sum(tokens for _, tokens in units)
    target = math.ceil(total / max(math.ceil(total / budget), 1))
    groups: list[list[Span]] = []
    current: list[Span] = []
    for span, _tokens in units:
        if current and count(current[0].start, span.end) > budget:
            groups.append(current)
            current = current[-overlap:] if overlap else []
            if current and count(current[0].start, span.end) > budget:
                current = []
        current.append(span)
        if count(current[0].start, current[-1].end) >= target:
            groups.append(current)
            current = current[-overlap:] if overlap else []
    if current and (not groups or current[-1] != groups[-1][-1]):
        groups.append(current)
    return groups


class TokenCounterFn(Protocol):
    def __call__(self, start: int, end: int) -> int: ...


def chunk_document(
    document: Document,
    tokenizer: TokenCounter,
    settings: ChunkingSettings,
    first_id: int = 0,
) -> list[Chunk]:
    """Cut a document into passages.

    Args:
        document: The document, text exactly as read from its file.
        tokenizer: Counts tokens with the embedding model's own tokenizer.
        settings: Token bound and sentence overlap.
        first_id: Id of the first passage (ids are rows of the vector index).

    Returns:
        Passages in document order; headings stand alone and are not passages
        (unless the document is nothing but heading-like lines).
    """
    text = document.text
    budget = min(settings.max_tokens, tokenizer.max_tokens)
    max_chars = budget * _MAX_CHARS_PER_TOKEN

    def count(start: int, end: int) -> int:
        return tokenizer.count(text[start:end])

    def weight(start: int, end: int) -> int:
        """Tokens, or characters / 8 when larger: bounds a passage both ways."""
        return max(count(start, end), math.ceil((end - start) / _MAX_CHARS_PER_TOKEN))

    chunks: list[Chunk] = []
    paragraphs = split_paragraphs(text)
    # A document of nothing but short lines (a list of names) is all "headings":
    # index them rather than lose the document.
    keep_headings = all(p.is_heading for p in paragraphs)
    for paragraph in paragraphs:
        if paragraph.is_heading and not keep_headings:
            continue
        units: list[tuple[Span, int]] = []
        for sentence in split_sentences(text, paragraph.start, paragraph.end):
            tokens = count(sentence.start, sentence.end)
            if tokens <= budget and sentence.end - sentence.start <= max_chars:
                units.append((sentence, weight(sentence.start, sentence.end)))
                continue
            for window in _split_long(text, sentence, tokenizer, budget):
                for piece in _cut_chars(text, window, max_chars):
                    units.append((piece, weight(piece.start, piece.end)))
        for group in _group(units, budget, settings.overlap_sentences, weight):
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    id=first_id + len(chunks),
                    source=document.source,
                    start=start,
                    end=end,
                    text=text[start:end],
                    sentences=group,
                    tokens=count(start, end),
                )
            )
    return chunks
