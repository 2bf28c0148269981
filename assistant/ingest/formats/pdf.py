"""PDF → `Extracted` (through pypdfium2): refuse decompression bombs, read each
page's lines, lay them out as paragraphs, then pages, sections (bookmarks or large
lines), title and author, and the char runs behind every character.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from .extracted import Extracted
from .limits import MB, Deadline, ExtractLimits
from .pdf_layout import in_margin, lay_out
from .pdf_lines import Line, page_lines
from .text import clean

__all__ = ["extract_pdf"]

#: Streams that reading text never decodes: images (PDFium decodes them to render)
#: and attached files.
_UNREAD_STREAM = re.compile(rb"/Subtype\s*/Image\b|/Type\s*/EmbeddedFile\b")


def _check_pdf_streams(data: bytes, limits: ExtractLimits, deadline: Deadline) -> None:
    """Refuse a PDF whose Flate streams (those that reading text decodes: page
    contents, fonts, object streams; not images) unpack to more than the limit, a
    decompression bomb, counting without keeping what they unpack to."""
    limit = int(limits.max_uncompressed_mb * MB)
    total = 0
    position = 0
    while (found := data.find(b"stream", position)) >= 0:
        position = found + 6
        if data[found - 3 : found] == b"end":
            continue
        header = data[max(0, found - 4096) : found]
        header = header[header.rfind(b" obj") + 1 :]  # this stream's object: its dictionary
        if _UNREAD_STREAM.search(header):
            continue
        eol = data[position : position + 2]
        start = position + (2 if eol == b"\r\n" else 1 if eol[:1] in (b"\n", b"\r") else 0)
        if start == position or len(data) < start + 2:
            continue
        cmf, flg = data[start], data[start + 1]
        if cmf & 0x0F != 8 or (cmf << 8 | flg) % 31:
            continue  # not zlib: another filter, or none
        inflater = zlib.decompressobj()
        fed = start
        try:
            while not inflater.eof and fed < len(data):
                pending = data[fed : fed + (1 << 16)]
                fed += len(pending)
                while pending and not inflater.eof:
                    total += len(inflater.decompress(pending, 1 << 20))
                    if total > limit:
                        raise ValueError(
                            f"PDF streams unpack to more than {limits.max_uncompressed_mb:g} MB "
                            "(max_uncompressed_mb): a decompression bomb?"
                        )
                    pending = inflater.unconsumed_tail
                deadline.check()
        except zlib.error:
            pass
        position = max(position, fed - len(inflater.unused_data))


def extract_pdf(data: bytes, limits: ExtractLimits, deadline: Deadline) -> Extracted:
    """A PDF's text layer, pages, sections, title, author and char runs."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    if b"%%EOF" not in data[-1024:]:
        raise ValueError("truncated PDF: no %%EOF marker at the end")
    _check_pdf_streams(data, limits, deadline)
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ValueError("encrypted PDF: a password is needed to open it") from None
        raise ValueError(f"corrupt PDF: PDFium cannot open it ({exc})") from None
    try:
        count = len(document)
        if count == 0:
            raise ValueError("PDF has no pages")
        if count > limits.max_pages:
            raise ValueError(f"PDF has {count} pages; the limit is {limits.max_pages} (max_pages)")
        raw_pages: list[tuple[list[Line], float]] = []
        for number in range(count):
            deadline.check()
            page = document[number]
            try:
                raw_pages.append(page_lines(page, pdfium_c))
            finally:
                page.close()
        metadata = document.get_metadata_dict(skip_empty=True)
        outline = [
            (item.level, item.get_title(), _bookmark_page(item))
            for item in _bounded(document.get_toc(max_depth=6), 500)
        ]
    finally:
        document.close()
    if not any(not in_margin(ln, height) for lines, height in raw_pages for ln in lines):
        # Nothing but (at most) a stamp in the margins: pictures of pages, a scan.
        raise ValueError("no text layer: OCR is not supported")
    return _assemble_pdf(raw_pages, metadata, outline, deadline)


def _bookmark_page(bookmark: Any) -> int | None:
    """The 0-based page a bookmark points to, or None."""
    with contextlib.suppress(Exception):
        destination = bookmark.get_dest()
        if destination is not None:
            index = destination.get_index()
            return int(index) if index is not None and index >= 0 else None
    return None


def _bounded(items: Iterable[Any], most: int) -> Iterator[Any]:
    """The first `most` of `items` (a hostile outline may be endless)."""
    for number, item in enumerate(items):
        if number >= most:
            return
        yield item


def _assemble_pdf(
    raw_pages: list[tuple[list[Line], float]],
    metadata: dict[str, str],
    outline: list[tuple[int, str, int | None]],
    deadline: Deadline,
) -> Extracted:
    """The text layer of the pages' lines, with its pages, sections, title and runs."""
    laid = lay_out(raw_pages, deadline)
    offsets: list[int] = []  # where each paragraph starts in the text layer
    position = 0
    for paragraph in laid.texts:
        offsets.append(position)
        position += len(paragraph) + 1
    text = "\n".join(laid.texts)
    starts = _page_offsets(laid.page_starts, offsets, len(text))
    sections = _outline_sections(text, starts, outline) or [
        (offsets[index], heading)
        for index, heading in laid.headings
        if laid.texts[index] == heading
    ]
    title = _metadata_title(metadata.get("Title")) or next(
        (h for o, h in sections if o < (starts[1] if len(starts) > 1 else len(text) + 1)), None
    )
    return Extracted(
        text=text,
        title=title,
        date=None,
        author=clean(metadata.get("Author", "")) or None,
        pages=starts,
        sections=sections,
        kind="pdf",
        char_runs=[
            (offsets[number] + offset, length, page, char)
            for number, runs in enumerate(laid.runs)
            for offset, length, page, char in runs
        ],
    )


def _page_offsets(
    page_starts: list[tuple[int, int] | None], offsets: list[int], size: int
) -> list[int]:
    """Each page's start offset in the text layer; an empty page starts where the
    next one does (the last, at the end), and the first page at 0."""
    starts: list[int] = []
    for start in reversed(page_starts):
        if start is None:
            starts.append(starts[-1] if starts else size)
        else:
            starts.append(offsets[start[0]] + start[1])
    starts.reverse()
    starts[0] = 0
    return starts


def _metadata_title(value: str | None) -> str | None:
    """A PDF's /Title, unless it is a file name or a placeholder."""
    title = clean(value or "")
    if not title or title.lower() in {"untitled", "title", "document", "microsoft word"}:
        return None
    if re.search(r"\.(?:docx?|pdf|html?|txt|indd|odt|pptx?)$", title, re.I) or title.startswith(
        "Microsoft Word - "
    ):
        return None
    return title


def _squash(text: str) -> tuple[str, list[int]]:
    """`text` lower-cased without whitespace, and each kept character's offset."""
    kept = [(i, c.lower()) for i, c in enumerate(text) if not c.isspace()]
    return "".join(c for _, c in kept), [i for i, _ in kept]


def _outline_sections(
    text: str, starts: list[int], outline: list[tuple[int, str, int | None]]
) -> list[tuple[int, str]]:
    """Sections from the PDF's bookmarks: each heading found on its page, else the
    page's start."""
    sections: list[tuple[int, str]] = []
    for _, raw_title, page_index in outline:
        title = clean(raw_title or "")
        if not title or page_index is None or not 0 <= page_index < len(starts):
            continue
        begin = starts[page_index]
        end = starts[page_index + 1] if page_index + 1 < len(starts) else len(text)
        squashed, where = _squash(text[begin:end])
        wanted = _squash(title)[0]
        found = squashed.find(wanted)
        if found >= 0:
            # The text's own spelling: bookmark titles may lose the spaces at line breaks.
            start, stop = begin + where[found], begin + where[found + len(wanted) - 1] + 1
            sections.append((start, text[start:stop]))
        else:
            sections.append((begin, title))
    sections.sort(key=lambda item: item[0])
    return sections
