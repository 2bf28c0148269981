"""Rich documents → one text layer that citations index: PDF (its text layer, read
with PDFium through pypdfium2), saved web pages (the article's main text, through
trafilatura) and Word .docx (python-docx).

`extract` returns an `Extracted`: the text layer (the exact string that every
citation's `start`/`end` index into, built once), the title, date and author from
the file's own metadata, the page start offsets of a PDF (`page_of` maps an offset
to its 1-based page), the (offset, heading) pairs of its sections and, for a PDF,
where each character of the text layer was read (`char_runs`: page and PDFium
char index, so `chars_in_range` finds the glyphs behind any excerpt). `render_page`
draws one PDF page with boxes over such glyphs, in the same isolated worker.

The text layer is written one paragraph per line, like the plain-text briefs: the
lines of a PDF paragraph are joined (across page breaks too), words hyphenated at
a line end are joined, and running headers, footers and page numbers that repeat
on the pages are dropped. List items start with "- ".

A bad or hostile file gives a `ValueError` whose message is the skip reason, never
a crash and never a hang: the kind is read from the content (magic bytes), sizes
are checked before anything is unpacked (PDF Flate streams are inflated and
counted, ZIP members' declared sizes summed, which bounds what zipfile inflates),
a DOCX part with a DTD is refused (no entity is ever resolved, nothing fetched),
and the extraction itself runs in a child process (forked from a small worker
with the parsers loaded: ~10 ms per file) that is killed when it passes
`ExtractLimits.max_seconds` and cannot allocate more memory than the limits allow.

The modules, one job each: `sniff` (the kind from the bytes), `extracted`,
`limits` and `offsets` (the result, its bounds, offsets → pages and glyphs),
`text` (cleaned lines, the layer), `pdf` with `pdf_lines` and `pdf_layout`,
`word`, `html_page`, `drawing` (page images), `jobs` (one extraction or drawing,
failures as reasons), `worker` (the isolated process) and `api` (`extract`,
`render_page`).

Not handled: OCR (a PDF with no text layer is skipped), PDF passwords, text in
DOCX headers, footers, footnotes and text boxes, and a PDF's publication date
(its /CreationDate is when the file was written: for a printed web page, the
day it was printed), which is left to the caller's text heuristics.
"""

from .api import extract, render_page
from .drawing import PageImage
from .extracted import Extracted, Kind
from .jobs import extract_checked as _extract_checked  # benchmarks/ingest.py times it in-process
from .limits import ExtractLimits
from .offsets import CharRun, chars_in_range, check_char_runs, page_of
from .sniff import SniffedKind, named_format, sniff_kind

__all__ = [
    "CharRun",
    "ExtractLimits",
    "Extracted",
    "Kind",
    "PageImage",
    "SniffedKind",
    "_extract_checked",
    "chars_in_range",
    "check_char_runs",
    "extract",
    "named_format",
    "page_of",
    "render_page",
    "sniff_kind",
]
