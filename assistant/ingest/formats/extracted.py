"""What extraction yields: `Extracted`, one file's text layer with its metadata,
pages, sections and (PDF) char runs, each offset checked to fall inside the text.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .offsets import CharRun, check_char_runs

__all__ = ["Extracted", "Kind"]

Kind = Literal["pdf", "html", "docx"]


class Extracted(BaseModel):
    """What one PDF, HTML page or Word document yields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="The text layer: what citation offsets index into.")
    title: str | None = Field(default=None, description="From the file's metadata.")
    date: dt.date | None = Field(default=None, description="Publication date, if the file has one.")
    author: str | None = Field(default=None, description="From the file's metadata.")
    pages: list[int] | None = Field(
        default=None,
        description="PDF only: the offset in `text` where each page starts; pages[0] == 0.",
    )
    sections: list[tuple[int, str]] = Field(
        default_factory=list, description="(offset where a section starts, its heading)."
    )
    kind: Kind
    char_runs: list[CharRun] | None = Field(
        default=None,
        description="PDF only: where each character of `text` was read. A run "
        "(offset, length, page index, first char index) says that text[offset + k] is "
        "PDFium's character char index + k of page `page index` (0-based) for k < length. "
        "Characters in no run (the spaces and line breaks that joining lines inserts) "
        "have no box on the page.",
    )

    @model_validator(mode="after")
    def _offsets_inside(self) -> Extracted:
        size = len(self.text)
        if self.pages is not None:
            if not self.pages or self.pages[0] != 0:
                raise ValueError("pages must start with offset 0")
            if any(b < a for a, b in itertools.pairwise(self.pages)) or self.pages[-1] > size:
                raise ValueError("page offsets must be ascending and inside the text")
        offsets = [offset for offset, _ in self.sections]
        if offsets != sorted(offsets) or any(not 0 <= o <= size for o in offsets):
            raise ValueError("section offsets must be ascending and inside the text")
        if self.char_runs is not None:
            check_char_runs(self.char_runs, size)
        return self
