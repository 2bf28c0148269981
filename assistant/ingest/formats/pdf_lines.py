"""A PDF page's lines as PDFium reads them: text, box, font size, a line-end
hyphen, and where each character was read (PDFium char indexes).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .text import clean_mapped, runs_of

__all__ = ["Line", "page_lines"]


@dataclasses.dataclass
class Line:
    """One line of a PDF page as PDFium reads it, with its box (PDF points)."""

    text: str
    left: float
    right: float
    bottom: float
    top: float
    size: float
    hyphen: str = ""  # the hyphen that ended the line ("-", "\u2010", "\u00ad"), if any
    runs: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    """(offset in `text`, length, first PDFium char index): where `text` was read."""
    hyphen_char: int = -1  # the PDFium char index of `hyphen`, if known


_PDFIUM_HYPHEN = "\ufffe"  # PDFium's mark for a "-" it found at a line end
_BREAKS = re.compile(r"\r\n|\r|\n|\ufffe")


def page_lines(page: Any, pdfium_c: Any) -> tuple[list[Line], float]:
    """The lines of one page in PDFium's reading order, and the page's height."""
    _, height = page.get_size()
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range() if count > 0 else ""
        where = _text_char_indexes(textpage, pdfium_c, text)
        lines: list[Line] = []
        start = 0
        for match in [*_BREAKS.finditer(text), None]:
            end = match.start() if match else len(text)
            raw = text[start:end]
            marker = match.group() if match else ""
            line_start = start
            start = match.end() if match else len(text)
            hyphen = "-" if marker == _PDFIUM_HYPHEN else ""
            hyphen_at = end if hyphen else -1
            stripped = raw.rstrip()
            if not hyphen and stripped.endswith(("\u2010", "\u00ad")):
                hyphen, stripped = stripped[-1], stripped[:-1]
                hyphen_at = line_start + len(stripped)
            elif not hyphen and stripped.endswith("-") and len(stripped) > 1:
                hyphen, stripped = "-", stripped[:-1]
                hyphen_at = line_start + len(stripped)
            clean, places = clean_mapped(stripped, where[line_start : line_start + len(stripped)])
            if not clean:
                continue
            first = line_start + (len(raw) - len(raw.lstrip()))
            last = line_start + len(stripped) - 1
            box_first = _char_box(textpage, pdfium_c, first)
            box_last = _char_box(textpage, pdfium_c, max(first, last))
            # The size of the first letter or digit: a bullet glyph is often smaller.
            sized = next((first + i for i, c in enumerate(raw.lstrip()) if c.isalnum()), first)
            size = pdfium_c.FPDFText_GetFontSize(
                textpage.raw, _char_index(textpage, pdfium_c, sized)
            )
            lines.append(
                Line(
                    text=clean,
                    left=box_first[0],
                    right=box_last[2],
                    bottom=min(box_first[1], box_last[1]),
                    top=max(box_first[3], box_last[3]),
                    size=float(size),
                    hyphen=hyphen,
                    runs=runs_of(places),
                    hyphen_char=where[hyphen_at] if hyphen_at >= 0 else -1,
                )
            )
        return lines, float(height)
    finally:
        textpage.close()


def _text_char_indexes(textpage: Any, pdfium_c: Any, text: str) -> list[int]:
    """For each character of the page's `text`, PDFium's index of the character
    it was read from, or -1 (a character PDFium inserted, or one that does not
    check out: a highlight may then miss a letter, but never marks another)."""
    raw = textpage.raw
    indexes: list[int] = []
    unit = 0  # PDFium counts UTF-16 code units; a character beyond U+FFFF is two
    for character in text:
        index = int(pdfium_c.FPDFText_GetCharIndexFromTextIndex(raw, unit))
        code = int(pdfium_c.FPDFText_GetUnicode(raw, index)) if index >= 0 else -1
        point = ord(character)
        same = (
            code == point
            or (character == _PDFIUM_HYPHEN and code == 2)  # its mark for a line-end "-"
            or (point > 0xFFFF and 0xD800 <= code < 0xDC00)  # the pair's first half
        )
        indexes.append(index if same else -1)
        unit += 2 if point > 0xFFFF else 1
    return indexes


def _char_index(textpage: Any, pdfium_c: Any, text_index: int) -> int:
    """PDFium's char index for a text index (the text index itself if none)."""
    index = int(pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, text_index))
    return index if index >= 0 else text_index


def _char_box(textpage: Any, pdfium_c: Any, text_index: int) -> tuple[float, float, float, float]:
    """A character's box (left, bottom, right, top); zeros if PDFium has none."""
    try:
        box = textpage.get_charbox(_char_index(textpage, pdfium_c, text_index))
    except Exception:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
