"""Answers and excerpts → chat HTML. Pure functions: no Gradio, no server.

Everything from a source or a user goes through `escape`, which turns HTML *and*
Markdown punctuation into character references, so a source holding `<script>`,
`<img onerror=…>`, `<style>` or `**bold**` shows those characters and does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant import Answer, Citation, ExcerptContext, IndexStatus

__all__ = [
    "EMPTY_QUESTION_REPLY",
    "escape",
    "render_answer",
    "render_citation",
    "render_error",
    "render_status",
    "render_user",
]

EMPTY_QUESTION_REPLY = (
    "Please type a question about the sources, for example: “What will U.S. Forces Japan become?”"
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


def render_citation(citation: Citation, context: ExcerptContext | None) -> str:
    """One numbered excerpt: title, date, file, offsets, the passage with its best
    sentence marked, and the neighbouring text behind a disclosure."""
    date = citation.date.strftime("%B %-d, %Y") if citation.date else "undated"
    head = (
        f"<strong>[{citation.rank}] {escape(citation.title)}</strong> · {escape(date)} · "
        f"<code>{escape(citation.source)}</code> · characters {citation.start}–{citation.end}"
    )
    body = f"<blockquote>{_marked_excerpt(citation)}</blockquote>"
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


def render_status(status: IndexStatus | None, problem: str | None = None) -> str:
    """The index panel (Markdown-safe)."""
    if status is None:
        return f"**Index:** unavailable. {escape(problem or '')}"
    built = status.built_at.strftime("%Y-%m-%d %H:%M UTC")
    titles = "".join(f"<li>{escape(t)}</li>" for t in status.titles)
    warning = (
        f"<em>Serving the previous index: {escape(status.fallback_reason)}</em><br>"
        if status.fallback_reason
        else ""
    )
    return (
        f"**Index**<br>{warning}documents: {status.documents}<br>passages: {status.chunks}<br>"
        f"model: <code>{escape(status.model)}</code><br>built: {built}<br>"
        f"<ul>{titles}</ul>"
    )
