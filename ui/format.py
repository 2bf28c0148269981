"""Answers and excerpts → chat HTML. Pure functions: no Gradio, no server.

Everything from a source or a user goes through `escape`, which turns HTML *and*
Markdown punctuation into character references, so a source holding `<script>`,
`<img onerror=…>`, `<style>` or `**bold**` shows those characters and does nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import quote

from assistant import Answer, Citation, ExcerptContext, IndexedDocument, IndexStatus, SourceView
from assistant.ingest.formats import PageImage

__all__ = [
    "EMPTY_QUESTION_REPLY",
    "VIEWER_PLACEHOLDER",
    "escape",
    "render_answer",
    "render_citation",
    "render_error",
    "render_status",
    "render_user",
    "render_viewer",
    "render_viewer_message",
]

EMPTY_QUESTION_REPLY = (
    "Please type a question about the sources, for example: “What will U.S. Forces Japan become?”"
)
VIEWER_PLACEHOLDER = (
    "Choose “View source” under an excerpt to see it in its document: a PDF's page with the "
    "excerpt marked, or the text around it."
)
_SPECIAL = "&<>\"'`*_{}[]()#+-.!|~$\\=:"
_TABLE = str.maketrans({c: f"&#{ord(c)};" for c in _SPECIAL})
_MARKER = re.compile(r"\[(\d+)\]")


def escape(text: str) -> str:
    """Text safe to embed in a chat message: no tag, no Markdown, no math."""
    return text.translate(_TABLE).replace("\n", "<br>")


def _marked_excerpt(citation: Citation) -> str:
    """The excerpt with its highlighted sentence(s) inside <mark>."""
    parts: list[str] = []
    cursor = citation.start
    for span in sorted(citation.highlights, key=lambda s: s.start):
        if span.start < cursor:
            continue
        parts.append(escape(citation.text[cursor - citation.start : span.start - citation.start]))
        highlighted = citation.text[span.start - citation.start : span.end - citation.start]
        parts.append(f"<mark>{escape(highlighted)}</mark>")
        cursor = span.end
    parts.append(escape(citation.text[cursor - citation.start :]))
    return "".join(parts)


def page_label(page: int | None, page_end: int | None) -> str:
    """ "p. 3", or "pp. 3–4" for an excerpt that runs over a page break; "" without."""
    if page is None:
        return ""
    return f"p. {page}" if page_end is None else f"pp. {page}–{page_end}"


def _date(value: dt.date | None) -> str:
    # "May 5, 2024" spelled out as `document_context` does: strftime's "%-d" (no
    # leading zero) exists on glibc only.
    return f"{value:%B} {value.day}, {value.year}" if value is not None else "undated"


def view_link(citation: Citation) -> str:
    """The "View source" link's target, naming the excerpt: "#view/START/END/SOURCE".
    The chat's sanitizer drops data- attributes but keeps a link's fragment, which
    the page's click handler reads (see ui.app.APP_JS)."""
    return f"#view/{citation.start}/{citation.end}/{quote(citation.source, safe='')}"


def render_citation(citation: Citation, context: ExcerptContext | None) -> str:
    """One numbered excerpt: title, date, page, section, file, offsets, the passage
    with its best sentence marked, the neighbouring text behind a disclosure, and
    the link that opens it in the source viewer."""
    pages = page_label(citation.page, citation.page_end)
    head = " · ".join(
        part
        for part in (
            f"<strong>[{citation.rank}] {escape(citation.title)}</strong>",
            escape(_date(citation.date)),
            pages,
            f"§ {escape(citation.section)}" if citation.section else "",
            f"<code>{escape(citation.source)}</code>",
            f"characters {citation.start}–{citation.end}",
            f'<a class="view-source" href="{view_link(citation)}">View source</a>',
        )
        if part
    )
    body = f"<blockquote>{_marked_excerpt(citation)}</blockquote>"
    if citation.also_in:
        copies = ", ".join(
            " ".join(
                part
                for part in (f"<code>{escape(c.source)}</code>", page_label(c.page, None))
                if part
            )
            for c in citation.also_in
        )
        body += f'<p class="also-in">Also in {copies}</p>'
    if context and (context.before or context.after):
        surrounding = (
            f"…{escape(context.before)}<strong>{escape(citation.text)}</strong>"
            f"{escape(context.after)}…"
        )
        body += f"<details><summary>Show surrounding text</summary><p>{surrounding}</p></details>"
    attributes = (
        f'class="citation" data-source="{escape(citation.source)}" '
        f'data-start="{citation.start}" data-end="{citation.end}"'
    )
    return f"<li {attributes}><p>{head}</p>{body}</li>"


def _with_markers(text: str) -> str:
    """Escaped answer text whose `[n]` markers become superscript references."""
    pieces: list[str] = []
    last = 0
    for match in _MARKER.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append(f"<sup>[{match.group(1)}]</sup>")
        last = match.end()
    pieces.append(escape(text[last:]))
    return "".join(pieces)


def render_answer(answer: Answer, contexts: Sequence[ExcerptContext | None]) -> str:
    """The reply: the short answer with [n] markers, then the numbered excerpts."""
    if answer.abstained:
        lead = f"<p><strong>{escape(answer.text)}</strong></p>"
        if answer.citations:
            lead += "<p>The closest passages are below: related, but not an answer.</p>"
    else:
        lead = f'<p class="answer">{_with_markers(answer.text)}</p>'
    items = "".join(
        render_citation(c, ctx) for c, ctx in zip(answer.citations, contexts, strict=True)
    )
    return f'{lead}<ol class="citations">{items}</ol>' if items else lead


def render_user(question: str) -> str:
    """The user's own words, shown as text."""
    return escape(question)


def render_error(message: str) -> str:
    """A problem the user can act on, shown in the chat instead of a toast."""
    return f"<p><em>{escape(message)}</em></p>"


_KIND_NAMES = {"pdf": "PDF", "html": "HTML", "docx": "Word"}


def document_type(source: str, kind: str, pages: int | None = None) -> str:
    """ "PDF, 7 pages", "HTML", "Word", "Markdown", "text"."""
    if kind == "text":
        return "Markdown" if PurePosixPath(source).suffix.lower() == ".md" else "text"
    name = _KIND_NAMES.get(kind, kind)
    if pages is None:
        return name
    return f"{name}, {pages} page{'s' if pages != 1 else ''}"


def _document_item(document: IndexedDocument) -> str:
    kind = document_type(document.source, document.kind, document.pages)
    return (
        f'<li class="indexed-document" data-kind="{escape(document.kind)}">'
        f"{escape(document.title)} <small>({escape(kind)} · "
        f"<code>{escape(document.source)}</code>)</small></li>"
    )


def render_status(status: IndexStatus | None, problem: str | None = None) -> str:
    """The index panel (Markdown-safe): counts, and each document with its type
    and page count."""
    if status is None:
        return f"**Index:** unavailable. {escape(problem or '')}"
    built = status.built_at.strftime("%Y-%m-%d %H:%M UTC")
    titles = "".join(_document_item(d) for d in status.sources) or "".join(
        f"<li>{escape(t)}</li>" for t in status.titles
    )
    warning = (
        f"<em>Serving the previous index: {escape(status.fallback_reason)}</em><br>"
        if status.fallback_reason
        else ""
    )
    rule = status.abstention
    abstains = f"abstains below relevance {rule.abstain_below:.2f}<br>" if rule else ""
    return (
        f"**Index**<br>{warning}documents: {status.documents}<br>passages: {status.chunks}<br>"
        f"model: <code>{escape(status.model)}</code><br>built: {built}<br>{abstains}"
        f"<ul>{titles}</ul>"
    )


def render_viewer_message(message: str) -> str:
    """The viewer with a message instead of a document (placeholder or problem)."""
    return f'<div class="source-view"><p><em>{escape(message)}</em></p></div>'


def _page_figure(page: PageImage, view: SourceView) -> str:
    number = page.page_index + 1
    image = base64.b64encode(page.png).decode("ascii")
    # The boxes drawn into the image, in its pixels: for tests and tools that
    # check where the highlight is (the picture itself is what a reader sees).
    boxes = escape(json.dumps([list(box) for box in page.boxes]))
    alt = escape(f"Page {number} of {view.source}, the excerpt highlighted")
    return (
        f'<figure class="viewer-page" data-page="{number}">'
        f'<img src="data:image/png;base64,{image}" width="{page.width}" height="{page.height}" '
        f'alt="{alt}" data-boxes="{boxes}">'
        f"<figcaption>Page {number} of {view.page_count}</figcaption></figure>"
    )


def render_viewer(view: SourceView) -> str:
    """A citation in its document: the header (title, date, type, pages, section,
    file, offsets), each PDF page the excerpt is on with its characters boxed,
    and the excerpt marked in its text layer with the text around it."""
    head = " · ".join(
        part
        for part in (
            f"<strong>{escape(view.title)}</strong>",
            escape(_date(view.date)),
            escape(document_type(view.source, view.kind, view.page_count)),
            page_label(view.page, view.page_end),
            f"§ {escape(view.section)}" if view.section else "",
            f"<code>{escape(view.source)}</code>",
            f"characters {view.start}–{view.end}",
        )
        if part
    )
    figures = "".join(_page_figure(page, view) for page in view.pages)
    before = ("…" if view.clipped_before else "") + escape(view.before)
    after = escape(view.after) + ("…" if view.clipped_after else "")
    text = (
        f'<div class="viewer-text">{before}<mark id="viewer-excerpt">{escape(view.excerpt)}'
        f"</mark>{after}</div>"
    )
    if figures:  # the pages first; the text layer behind a disclosure
        text = f"<details><summary>Text of the document</summary>{text}</details>"
    attributes = (
        f'class="source-view" data-source="{escape(view.source)}" data-kind="{view.kind}" '
        f'data-start="{view.start}" data-end="{view.end}"'
    )
    return f"<div {attributes}><p>{head}</p>{figures}{text}</div>"
