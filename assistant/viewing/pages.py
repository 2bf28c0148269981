"""The source viewer: a cited excerpt shown in its document.

For a PDF, each page the excerpt is on is drawn as an image with its characters
boxed: the file is read through the confined reader, must still have the hash
the index recorded, and the characters to box come from the character map its
extraction stored (`text/<sha256>.chars.json`), so the boxes are those of the
very glyphs the text layer was read from. For any other format, the excerpt is
shown in its text layer, with the text around it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os

from pydantic import BaseModel, ConfigDict, Field

from .._errors import SourcesError
from .._files import read_failure, read_inside
from .._settings import Settings
from .._types import Citation, DocumentRecord, SourceKind, page_span, section_at
from ..indexing.generations import Generation
from ..indexing.text_layers import read_char_runs
from ..ingest.formats import PageImage, chars_in_range, render_page
from ..search.searcher import load_searcher
from .source_text import source_text

__all__ = ["SourceView", "view_source"]

#: Text shown on either side of the excerpt: enough to read it in context, not a
#: whole book sent to the browser.
CONTEXT_CHARS = 6_000
PAGE_WIDTH_PIXELS = 900
#: Pages drawn for one excerpt at most.
MAX_PAGES = 3


class SourceView(BaseModel):
    """What the viewer shows for one citation."""

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    source: str
    title: str
    date: dt.date | None = None
    author: str | None = None
    kind: SourceKind
    start: int = Field(ge=0, description="The excerpt's offsets in the text layer.")
    end: int = Field(ge=0)
    page: int | None = Field(default=None, description="PDF: the page the excerpt starts on.")
    page_end: int | None = Field(default=None, description="PDF: its last page, if another.")
    page_count: int | None = None
    section: str | None = None
    before: str = Field(description="Text-layer text just before the excerpt.")
    excerpt: str = Field(description="The excerpt, exactly text_layer[start:end].")
    after: str = Field(description="Text-layer text just after the excerpt.")
    clipped_before: bool = Field(description="The text layer goes on before `before`.")
    clipped_after: bool = Field(description="The text layer goes on after `after`.")
    pages: list[PageImage] = Field(
        default_factory=list,
        description="PDF: each page the excerpt is on, drawn with its characters boxed.",
    )


def view_source(
    citation: Citation,
    *,
    index_dir: str | os.PathLike[str] | None = None,
    sources_dir: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    width: int = PAGE_WIDTH_PIXELS,
) -> SourceView:
    """The excerpt in its document, for the source viewer.

    Args:
        citation: The excerpt to show.
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        sources_dir: Sources folder (default `./sources` or `ASSISTANT_SOURCES`).
        settings: Size and time limits (default `Settings.from_env()`).
        width: Width of the page images in pixels.

    Returns:
        The excerpt with the text around it and, for a PDF, its pages drawn with
        the excerpt's characters boxed.

    Raises:
        SourcesError: The source is no longer indexed, its file cannot be read, or
            it changed since the citation was made (the offsets would point at
            other text); the message says which.
        IndexMissingError, IndexMismatchError, IndexCorruptError: As `retrieve`.
    """
    settings = (settings or Settings.from_env()).model_copy(
        update={
            name: value
            for name, value in (("index_dir", index_dir), ("sources_dir", sources_dir))
            if value is not None
        }
    )
    if citation.end <= citation.start or len(citation.text) != citation.end - citation.start:
        raise SourcesError(f"not an excerpt of {citation.source}: its offsets do not fit its text")
    text = source_text(
        citation.source, index_dir=settings.index_dir, sources_dir=settings.sources_dir
    )
    if text[citation.start : citation.end] != citation.text:
        raise SourcesError(
            f"{citation.source} changed since this answer was given: ask again",
            path=citation.source,
        )
    generation = load_searcher(settings.index_dir).generation
    record = generation.manifest.documents[citation.source]
    view = _text_view(citation, record, text)
    if record.kind == "pdf":
        pages = _draw_pages(generation, record, citation, settings, width)
        view = view.model_copy(update={"pages": pages})
    return view


def _text_view(citation: Citation, record: DocumentRecord, text: str) -> SourceView:
    low = max(0, citation.start - CONTEXT_CHARS)
    high = min(len(text), citation.end + CONTEXT_CHARS)
    page, page_end = page_span(record.pages, citation.start, citation.end)
    return SourceView(
        source=citation.source,
        title=record.title,
        date=record.date,
        author=record.author,
        kind=record.kind,
        start=citation.start,
        end=citation.end,
        page=page,
        page_end=page_end,
        page_count=len(record.pages) if record.pages else None,
        section=section_at(record.sections, citation.start),
        before=text[low : citation.start],
        excerpt=citation.text,
        after=text[citation.end : high],
        clipped_before=low > 0,
        clipped_after=high < len(text),
    )


def _draw_pages(
    generation: Generation,
    record: DocumentRecord,
    citation: Citation,
    settings: Settings,
    width: int,
) -> list[PageImage]:
    """Each page the excerpt touches, drawn from the indexed file's own bytes."""
    try:
        data = read_inside(
            settings.sources_dir, citation.source, max_bytes=settings.ingest.max_file_bytes
        )
    except (OSError, ValueError) as exc:
        raise SourcesError(f"{citation.source} cannot be read: {read_failure(exc)}") from None
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise SourcesError(
            f"{citation.source} changed since the index was built: run `assistant build`",
            path=citation.source,
        )
    chars = chars_in_range(read_char_runs(generation, record), citation.start, citation.end)
    assert record.pages is not None  # a PDF's record has its pages
    page, page_end = page_span(record.pages, citation.start, citation.end)
    first = page or 1
    last = page_end or first
    limits = settings.ingest.extract_limits()
    # A passage spans a page break or two; a long span (a hand-made citation) is
    # shown from its first page, not drawn whole.
    last = min(last, first + MAX_PAGES - 1)
    try:
        return [
            render_page(data, number - 1, chars.get(number - 1, []), limits, width=width)
            for number in range(first, last + 1)
        ]
    except ValueError as exc:
        raise SourcesError(f"{citation.source}: {exc}", path=citation.source) from None
