"""Text-layer building blocks shared by the extractors: one cleaned line
(`clean`, and `clean_mapped` which keeps where each character came from), runs of
char indexes, and `Layer`, which lays paragraphs out one per line.
"""

from __future__ import annotations

import re

__all__ = ["Layer", "clean", "clean_mapped", "runs_of"]

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff]")
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb06": "st",
    }
)


def clean(text: str) -> str:
    """One line of text: no control characters, ligatures spelled out, single spaces."""
    text = _CONTROL.sub("", text.translate(_LIGATURES)).replace("\u00ad", "")
    return _SPACES.sub(" ", text).strip()


# Anything `clean` would change: a character it drops or spells out, whitespace
# other than a single space, or whitespace at either end.
_UNCLEAN = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff\u00ad\ufb00-\ufb06]"
    r"|\s\s|[^\S ]|^\s|\s$"
)


def clean_mapped(text: str, where: list[int]) -> tuple[str, list[int]]:
    """`clean(text)`, and for each of its characters the `where` of the character
    it came from (a ligature's letters share their glyph's; a run of whitespace
    becomes one space, placed where the run's first character was).

    Args:
        text: One line as PDFium reads it.
        where: One entry per character of `text` (a PDFium char index, or -1).
    """
    if not _UNCLEAN.search(text):
        return text, list(where)
    chars: list[str] = []
    places: list[int] = []
    for character, place in zip(text, where, strict=True):
        for letter in character.translate(_LIGATURES):
            if _CONTROL.match(letter) or letter == "\u00ad":
                continue
            if letter.isspace():
                if chars and chars[-1] == " ":
                    continue
                letter = " "
            chars.append(letter)
            places.append(place)
    while chars and chars[-1] == " ":
        chars.pop()
        places.pop()
    first = next((i for i, c in enumerate(chars) if c != " "), len(chars))
    return "".join(chars[first:]), places[first:]


def runs_of(where: list[int]) -> list[tuple[int, int, int]]:
    """(offset, length, first value) for each stretch of `where` that counts up by
    one from a value >= 0."""
    runs: list[tuple[int, int, int]] = []
    for offset, place in enumerate(where):
        if place < 0:
            continue
        if runs:
            start, length, first = runs[-1]
            if start + length == offset and first + length == place:
                runs[-1] = (start, length + 1, first)
                continue
        runs.append((offset, 1, place))
    return runs


class Layer:
    """Builds a text layer one paragraph per line, remembering offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.sections: list[tuple[int, str]] = []

    def add(self, line: str, *, heading: bool = False) -> int:
        """Append `line` as a paragraph; returns where it starts."""
        if self.size:
            self.parts.append("\n")
            self.size += 1
        start = self.size
        self.parts.append(line)
        self.size += len(line)
        if heading:
            self.sections.append((start, line.removeprefix("- ")))
        return start

    def text(self) -> str:
        """The layer so far: the paragraphs, one per line."""
        return "".join(self.parts)
