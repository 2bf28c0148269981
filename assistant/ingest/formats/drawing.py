"""One PDF page drawn as a PNG with translucent boxes over some of its characters
(in-process; `render_page` runs it in the isolated worker).
"""

from __future__ import annotations

import io
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .limits import ExtractLimits, memory_budget_mb

__all__ = ["MAX_IMAGE_PIXELS", "PageImage", "RenderJob", "render_checked"]

#: The highlight: a translucent yellow, one layer (overlapping boxes do not darken).
_HIGHLIGHT_RGBA = (255, 200, 0, 110)
MAX_IMAGE_PIXELS = 4096  # an image side, whatever the page size asks for


class RenderJob(BaseModel):
    """What `render_page` asks of the worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page_index: int = Field(ge=0)
    chars: list[int]
    width: int = Field(gt=0, le=MAX_IMAGE_PIXELS)


class PageImage(BaseModel):
    """One PDF page drawn as a PNG, with boxes over some of its characters."""

    # As JSON (how the worker hands it over) the PNG travels as base64.
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    page_index: int = Field(ge=0, description="0-based page index.")
    png: bytes = Field(description="The page as a PNG image, highlight drawn in.")
    width: int = Field(gt=0, description="Image width in pixels.")
    height: int = Field(gt=0, description="Image height in pixels.")
    chars: list[int] = Field(description="PDFium char indexes that were highlighted.")
    char_boxes: list[tuple[float, float, float, float]] = Field(
        description="Each highlighted character's loose box in page space (PDF points: "
        "left, bottom, right, top), as PDFium's FPDFText_GetLooseCharBox gives it."
    )
    boxes: list[tuple[int, int, int, int]] = Field(
        description="The same boxes in image pixels (left, top, right, bottom), as drawn."
    )


def render_checked(data: bytes, limits: ExtractLimits, job: RenderJob) -> PageImage:
    """`_render` with every failure turned into a reason."""
    try:
        return _render(data, job)
    except ValueError:
        raise
    except MemoryError:
        raise ValueError(
            f"drawing the page needs more memory than the limits allow "
            f"(about {memory_budget_mb(limits):.0f} MB)"
        ) from None
    except Exception as exc:  # PDFium's or Pillow's own error on a damaged page
        detail = " ".join(str(exc).split())[:200]
        raise ValueError(f"the page cannot be drawn: {type(exc).__name__}: {detail}") from None


def _render(data: bytes, job: RenderJob) -> PageImage:
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"PDFium cannot open the file ({exc})") from None
    try:
        if not 0 <= job.page_index < len(document):
            raise ValueError(f"the PDF has no page {job.page_index + 1}")
        page = document[job.page_index]
        points_wide, points_high = page.get_size()
        scale = min(job.width / max(points_wide, 1.0), MAX_IMAGE_PIXELS / max(points_high, 1.0))
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil().convert("RGB")
        convert = bitmap.get_posconv(page)
        textpage = page.get_textpage()
        count = textpage.count_chars()
        chars = [char for char in sorted(set(job.chars)) if 0 <= char < count]
        char_boxes = [tuple(float(v) for v in textpage.get_charbox(c, loose=True)) for c in chars]
        boxes = [_pixel_box(convert, box) for box in char_boxes]
    finally:
        document.close()
    mask = Image.new("L", image.size, 0)
    drawing = ImageDraw.Draw(mask)
    for left, top, right, bottom in boxes:
        drawing.rectangle((left, top, max(left, right - 1), max(top, bottom - 1)), fill=255)
    *color, alpha = _HIGHLIGHT_RGBA
    tint = Image.new("RGB", image.size, tuple(color))
    image = Image.composite(tint, image, mask.point(lambda v: alpha if v else 0))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return PageImage(
        page_index=job.page_index,
        png=out.getvalue(),
        width=image.width,
        height=image.height,
        chars=chars,
        char_boxes=char_boxes,
        boxes=boxes,
    )


def _pixel_box(convert: Any, box: tuple[float, ...]) -> tuple[int, int, int, int]:
    """A (left, bottom, right, top) page-space box as (left, top, right, bottom) pixels."""
    left, bottom, right, top = box
    corners = [convert.to_bitmap(x, y) for x, y in ((left, top), (right, bottom))]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return (min(xs), min(ys), max(xs), max(ys))
