"""One job of the extractor, in whichever process runs it: extract a file (every
failure turned into a skip reason) or draw a page, as plain data; and the warm-up
that loads every parser once in the worker before it forks children.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from .drawing import RenderJob, render_checked
from .extracted import Extracted, Kind
from .html_page import extract_html
from .limits import Deadline, ExtractLimits, memory_budget_mb
from .pdf import extract_pdf
from .word import extract_docx

__all__ = ["extract_checked", "perform", "warm_up"]


def extract_checked(kind: Kind, data: bytes, limits: ExtractLimits) -> Extracted:
    """`_extract_kind` with every failure turned into a skip reason."""
    deadline = Deadline(limits.max_seconds)
    try:
        return _extract_kind(kind, data, limits, deadline)
    except ValueError:
        raise
    except MemoryError:
        raise ValueError(
            f"{kind.upper()} needs more memory than the limits allow "
            f"(about {memory_budget_mb(limits):.0f} MB)"
        ) from None
    except RecursionError:
        raise ValueError(f"{kind.upper()} is nested too deeply to read") from None
    except Exception as exc:  # a library's own error on a damaged file
        detail = " ".join(str(exc).split())[:200]
        raise ValueError(
            f"corrupt {kind.upper()}: {type(exc).__name__}{': ' + detail if detail else ''}"
        ) from None


def _extract_kind(kind: Kind, data: bytes, limits: ExtractLimits, deadline: Deadline) -> Extracted:
    """The extractor of `kind`, run on `data` (no failure handling here)."""
    if kind == "pdf":
        return extract_pdf(data, limits, deadline)
    if kind == "docx":
        return extract_docx(data, limits, deadline)
    return extract_html(data, limits, deadline)


def perform(kind: Kind, data: bytes, limits: ExtractLimits, render: dict[str, Any] | None) -> bytes:
    """One job of the worker, as the JSON of its model: an extraction (`Extracted`)
    or a rendered page (`PageImage`)."""
    if render is not None:
        page = render_checked(data, limits, RenderJob.model_validate(render))
        return page.model_dump_json().encode()
    return extract_checked(kind, data, limits).model_dump_json().encode()


def warm_up() -> None:
    """Run each extractor once on a small file, so that what they set up on first
    use (parsers, compiled XPaths, PDFium's fonts) is done once, in the zygote,
    and not again in every child."""
    import docx

    limits = ExtractLimits()
    words = "The alliance adapts its command structure to the region's changing security. "
    page = b"BT /F1 12 Tf 72 400 Td (" + words.encode() + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(page), page),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    pdf += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    document = docx.Document()
    document.add_heading("Warm", level=1)
    document.add_paragraph(words, style="List Bullet")
    packed = io.BytesIO()
    document.save(packed)
    paragraphs = f"<p>{words * 3}</p>" * 4
    html = f"<!DOCTYPE html><html><body><article>{paragraphs}</article></body></html>"
    for kind, data in (("pdf", bytes(pdf)), ("docx", packed.getvalue()), ("html", html.encode())):
        with contextlib.suppress(ValueError):
            extract_checked(kind, data, limits)  # type: ignore[arg-type]
    with contextlib.suppress(ValueError):
        render_checked(bytes(pdf), limits, RenderJob(page_index=0, chars=[0], width=64))
