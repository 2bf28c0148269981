"""The text around a cited excerpt, read from the document as it was indexed."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict

from .._settings import Settings
from .._types import Citation
from .source_text import current_text

__all__ = ["ExcerptContext", "context_of"]


class ExcerptContext(BaseModel):
    """Source text just before and after an excerpt."""

    model_config = ConfigDict(extra="forbid")

    before: str
    after: str


def context_of(
    citation: Citation,
    sources_dir: str | os.PathLike[str] | None = None,
    chars: int = 400,
    *,
    index_dir: str | os.PathLike[str] | None = None,
) -> ExcerptContext | None:
    """Up to `chars` characters of the source's text layer around `citation`, cut at
    word boundaries; None when the source changed since the index was built (the
    offsets would point at other text) or cannot be read.

    A .txt or .md file is read through the same confined open as the build (a
    symlink planted since then is not followed); a PDF's, HTML page's or .docx's
    text layer is read from the index (`index_dir`, default `./index`)."""
    settings = Settings.from_env(sources_dir=sources_dir, index_dir=index_dir)
    text = current_text(citation.source, settings)
    if text is None or text[citation.start : citation.end] != citation.text:
        return None
    before = text[max(0, citation.start - chars) : citation.start]
    after = text[citation.end : citation.end + chars]
    if citation.start > chars and " " in before:
        before = before[before.index(" ") + 1 :]
    if citation.end + chars < len(text) and " " in after:
        after = after[: after.rindex(" ")]
    return ExcerptContext(before=before, after=after)
