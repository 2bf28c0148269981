"""Word .docx → `Extracted` (through python-docx): the package checked first (size,
part count, no DTD), then paragraphs and table cells in document order, headings
and list items marked, title, date and author from the core properties.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from .extracted import Extracted
from .limits import MB, Deadline, ExtractLimits
from .text import Layer, clean

__all__ = ["extract_docx"]

_MAX_ZIP_MEMBERS = 10_000
_PYTHON_DOCX_TEMPLATE_CREATED = dt.datetime(2013, 12, 23, 23, 15, tzinfo=dt.UTC)


def _check_docx_package(data: bytes, limits: ExtractLimits, deadline: Deadline) -> None:
    """Refuse a DOCX that unpacks past the limit (its declared sizes bound what
    zipfile will inflate) or whose XML declares a DTD (entities that could expand
    or point outside); a damaged archive is reported as such."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"corrupt DOCX: not a readable ZIP archive, truncated? ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > _MAX_ZIP_MEMBERS:
            raise ValueError(f"DOCX has {len(members)} parts; a Word document has a few dozen")
        unpacked = sum(member.file_size for member in members)
        if unpacked > limits.max_uncompressed_mb * MB:
            raise ValueError(
                f"DOCX unpacks to {unpacked / MB:.0f} MB; the limit is "
                f"{limits.max_uncompressed_mb:g} MB (max_uncompressed_mb): a ZIP bomb?"
            )
        for member in members:
            if not member.filename.lower().endswith((".xml", ".rels")):
                continue
            deadline.check()
            try:
                content = archive.read(member)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
                raise ValueError(
                    f"corrupt DOCX: {member.filename} cannot be read ({exc})"
                ) from None
            if content.startswith((b"\xff\xfe", b"\xfe\xff")):
                content = content.decode("utf-16", "ignore").encode("utf-8", "ignore")
            if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
                raise ValueError(
                    f"DOCX part {member.filename} declares a DTD (<!DOCTYPE>/<!ENTITY>), which "
                    "Word never writes; refused: entities could expand or point outside the file"
                )


def _docx_style_heading(paragraph: Any) -> bool:
    """Whether a paragraph is a heading: Title, Heading n, or an outline level."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name == "Title" or re.match(r"^Heading \d$", name):
        return True
    ppr = paragraph._p.pPr
    level = ppr.find(_qn("w:outlineLvl")) if ppr is not None else None
    return level is not None and level.get(_qn("w:val")) != "9"  # 9: body text


def _docx_list_item(paragraph: Any) -> bool:
    """Whether a paragraph is a list item (a List style or numbering)."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    ppr = paragraph._p.pPr
    return name.startswith("List") or (ppr is not None and ppr.numPr is not None)


def _qn(tag: str) -> str:
    """The Clark name of a prefixed WordprocessingML tag ('w:val')."""
    from docx.oxml.ns import qn

    return str(qn(tag))


def _docx_blocks(container: Any, depth: int = 0) -> Iterator[Any]:
    """Paragraphs in document order, table cells included (merged cells once)."""
    from docx.table import Table

    if depth > 20:
        raise ValueError("DOCX tables are nested too deeply to read")
    for block in container.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                seen: set[int] = set()
                for cell in row.cells:
                    if id(cell._tc) in seen:
                        continue
                    seen.add(id(cell._tc))
                    yield from _docx_blocks(cell, depth + 1)
        else:
            yield block


def extract_docx(data: bytes, limits: ExtractLimits, deadline: Deadline) -> Extracted:
    """A Word document's text layer, sections, title, date and author."""
    _check_docx_package(data, limits, deadline)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except ValueError as exc:  # python-docx: "file ... is not a Word file, content type is ..."
        raise ValueError(f"not a Word document: {exc}") from None
    layer = Layer()
    first_title: str | None = None
    for number, paragraph in enumerate(_docx_blocks(document)):
        if number % 256 == 0:
            deadline.check()
        line = clean(paragraph.text)
        if not line:
            continue
        heading = _docx_style_heading(paragraph)
        if heading and first_title is None and paragraph.style is not None:
            first_title = line if paragraph.style.name == "Title" else None
        if not heading and _docx_list_item(paragraph):
            line = f"- {line}"
        layer.add(line, heading=heading)
    text = layer.text()
    if not text:
        raise ValueError("DOCX has no text")
    core = document.core_properties
    created = core.created
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    author = clean(core.author or "")
    return Extracted(
        text=text,
        title=clean(core.title or "") or first_title,
        date=created.date()
        if created is not None and created != _PYTHON_DOCX_TEMPLATE_CREATED
        else None,
        author=author if author and author != "python-docx" else None,
        pages=None,
        sections=layer.sections,
        kind="docx",
    )
