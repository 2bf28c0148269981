"""Text-layer offsets → pages and glyphs: `page_of` maps an offset to its 1-based
page, `chars_in_range` an excerpt to the PDFium characters behind it, through a
PDF's `CharRun`s (checked by `check_char_runs`).
"""

from __future__ import annotations

import bisect

__all__ = ["CharRun", "chars_in_range", "check_char_runs", "page_of"]

#: (offset in the text layer, length, 0-based page index, first PDFium char index).
CharRun = tuple[int, int, int, int]


def check_char_runs(runs: list[CharRun], size: int) -> None:
    """Refuse runs that overlap, go backwards, or reach outside a text of `size` chars.

    Raises:
        ValueError: Which rule a run breaks.
    """
    end = 0
    for offset, length, page, char in runs:
        if offset < end or length < 1 or offset + length > size or page < 0 or char < 0:
            raise ValueError(
                f"char run ({offset}, {length}, {page}, {char}) overlaps, goes backwards "
                f"or leaves the {size}-character text"
            )
        end = offset + length


def chars_in_range(runs: list[CharRun], start: int, end: int) -> dict[int, list[int]]:
    """The PDFium characters behind `text[start:end]`, page by page.

    Args:
        runs: `Extracted.char_runs` (ascending, as `extract` returns them).
        start: First text-layer offset, inclusive.
        end: Last text-layer offset, exclusive.

    Returns:
        0-based page index → its char indexes, ascending; pages with none are absent.
    """
    pages: dict[int, list[int]] = {}
    first = bisect.bisect_right([offset for offset, *_ in runs], start) - 1
    for offset, length, page, char in runs[max(first, 0) :]:
        if offset >= end:
            break
        low, high = max(offset, start), min(offset + length, end)
        if low < high:
            pages.setdefault(page, []).extend(range(char + low - offset, char + high - offset))
    return {page: sorted(set(chars)) for page, chars in pages.items()}


def page_of(pages: list[int], offset: int) -> int:
    """The 1-based page that holds the character at `offset`.

    Args:
        pages: `Extracted.pages`: the start offset of each page, ascending, pages[0] == 0.
        offset: An offset into the text layer (a citation's `start`).

    Returns:
        The page number, 1 for the first page. An offset past the end of the text
        maps to the last page; an empty page is never returned.

    Raises:
        ValueError: `pages` is empty or does not start at 0, or `offset` is negative.
    """
    if not pages or pages[0] != 0:
        raise ValueError("pages must be a non-empty list starting with offset 0")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return bisect.bisect_right(pages, offset)
