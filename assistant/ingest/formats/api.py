"""The two entry points: `extract` (a file's text layer and metadata) and
`render_page` (a PDF page with highlights), each checked up front and run in the
isolated worker unless told otherwise.
"""

from __future__ import annotations

from .drawing import PageImage, RenderJob, render_checked
from .extracted import Extracted, Kind
from .jobs import extract_checked
from .limits import MB, ExtractLimits
from .sniff import content_kind, sniff_kind
from .worker import run_isolated

__all__ = ["extract", "render_page"]


def extract(
    data: bytes, suffix: str, limits: ExtractLimits | None = None, *, isolate: bool = True
) -> Extracted:
    """The text layer, metadata, pages and sections of a PDF, HTML page or .docx.

    Args:
        data: The file's bytes.
        suffix: Its extension; the content must agree (see `sniff_kind`).
        limits: Bounds on pages, unpacked size, HTML size and time (defaults if None).
        isolate: Run the extraction in a child process that is killed at
            `limits.max_seconds` and whose memory is capped (the default). False runs
            it here, with the same checks but only a soft deadline between pages;
            for trusted files, benchmarks and debugging. The worker is one per
            process, started on first use (~0.5 s); threads take turns with it.

    Returns:
        The extraction; its `text` is what citation offsets index into.

    Raises:
        ValueError: The file is skipped; the message says why, e.g. "encrypted PDF:
            a password is needed to open it", "no text layer: OCR is not supported",
            "extension says .pdf but content is an HTML page". Plain text ("text"
            from `sniff_kind`) is refused too: read it with the UTF-8 text decoder.
    """
    data = bytes(data)
    limits = limits or ExtractLimits()
    kind = sniff_kind(data, suffix)
    if kind is None:
        _, what = content_kind(data)
        raise ValueError(f"not a PDF, HTML page or Word document: content is {what}")
    if kind == "text":
        raise ValueError("plain text, not a PDF, HTML page or Word document: read it as text")
    _check_size(kind, len(data), limits)
    if not isolate:
        return extract_checked(kind, data, limits)
    return Extracted.model_validate_json(run_isolated(kind, data, limits))


def _check_size(kind: Kind, size: int, limits: ExtractLimits) -> None:
    """Refuse a file larger than its kind's size limit, naming the setting."""
    limit_mb, setting = (
        (limits.max_html_mb, "max_html_mb")
        if kind == "html"
        else (limits.max_uncompressed_mb, "max_uncompressed_mb")
    )
    if size > limit_mb * MB:
        raise ValueError(
            f"{kind.upper()} file is {size / MB:.1f} MB; the limit is {limit_mb:g} MB ({setting})"
        )


def render_page(
    data: bytes,
    page_index: int,
    chars: list[int],
    limits: ExtractLimits | None = None,
    *,
    width: int = 900,
    isolate: bool = True,
) -> PageImage:
    """Draw one page of a PDF with translucent boxes over the given characters.

    The boxes are PDFium's own (loose) character boxes, mapped to the image with
    the same transform that drew the page, so they sit on the glyphs whatever the
    page's rotation or crop box. Like `extract`, it runs in the killed-on-timeout,
    memory-capped worker: drawing decodes the page's images, which reading its
    text never does.

    Args:
        data: The PDF's bytes (check them against the indexed hash first).
        page_index: 0-based page to draw.
        chars: PDFium char indexes of that page to highlight (`chars_in_range`);
            indexes outside the page are ignored.
        limits: Time and memory bounds (defaults if None).
        width: Image width in pixels; the height follows the page's proportions.
        isolate: Draw in the worker (default); False draws here (trusted files).

    Returns:
        The PNG, its size, and the boxes drawn, in page points and in pixels.

    Raises:
        ValueError: The file cannot be opened, has no such page, or drawing failed
            or took too long; the message says which.
    """
    limits = limits or ExtractLimits()
    job = RenderJob(page_index=page_index, chars=chars, width=width)
    if not isolate:
        return render_checked(bytes(data), limits, job)
    return PageImage.model_validate_json(run_isolated("pdf", bytes(data), limits, job.model_dump()))
