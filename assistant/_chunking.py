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


def _looks_like_heading(line: str) -> bool:
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
        Passages in document order; headings stand alone and are not passages.
    """
    text = document.text
    budget = min(settings.max_tokens, tokenizer.max_tokens)

    def count(start: int, end: int) -> int:
        return tokenizer.count(text[start:end])

    chunks: list[Chunk] = []
    for paragraph in split_paragraphs(text):
        if paragraph.is_heading:
            continue
        units: list[tuple[Span, int]] = []
        for sentence in split_sentences(text, paragraph.start, paragraph.end):
            tokens = count(sentence.start, sentence.end)
            if tokens <= budget:
                units.append((sentence, tokens - tokenizer.special_tokens))
            else:
                for window in _split_long(text, sentence, tokenizer, budget):
                    units.append((window, count(window.start, window.end)))
        for group in _group(units, budget, settings.overlap_sentences, count):
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
