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

Not handled: OCR (a PDF with no text layer is skipped), PDF passwords, text in
DOCX headers, footers, footnotes and text boxes, and a PDF's publication date
(its /CreationDate is when the file was written: for a printed web page, the
day it was printed), which is left to the caller's text heuristics.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import dataclasses
import datetime as dt
import gc
import io
import itertools
import json
import math
import os
import pickle
import re
import select
import statistics
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from lxml.html import HtmlElement

__all__ = [
    "CharRun",
    "ExtractLimits",
    "Extracted",
    "PageImage",
    "chars_in_range",
    "check_char_runs",
    "extract",
    "named_format",
    "page_of",
    "render_page",
    "sniff_kind",
]

Kind = Literal["pdf", "html", "docx"]
SniffedKind = Literal["pdf", "html", "docx", "text"]

_MB = 1_000_000

#: (offset in the text layer, length, 0-based page index, first PDFium char index).
CharRun = tuple[int, int, int, int]


class ExtractLimits(BaseModel):
    """Bounds on one file's extraction; a file past any of them is skipped with the
    reason. Every bound is a setting: pass your own to `extract`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_pages: int = Field(default=2000, gt=0, description="Pages a PDF may have.")
    max_uncompressed_mb: float = Field(
        default=200,
        gt=0,
        description="Size a PDF or DOCX may have, and what its compressed streams or "
        "ZIP members may unpack to, in MB (10^6 bytes).",
    )
    max_seconds: float = Field(
        default=60, gt=0, description="Wall time for one file; the extractor is killed after."
    )
    max_html_mb: float = Field(default=20, gt=0, description="Size an HTML file may have, in MB.")


class Extracted(BaseModel):
    """What one PDF, HTML page or Word document yields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="The text layer: what citation offsets index into.")
    title: str | None = Field(default=None, description="From the file's metadata.")
    date: dt.date | None = Field(default=None, description="Publication date, if the file has one.")
    author: str | None = Field(default=None, description="From the file's metadata.")
    pages: list[int] | None = Field(
        default=None,
        description="PDF only: the offset in `text` where each page starts; pages[0] == 0.",
    )
    sections: list[tuple[int, str]] = Field(
        default_factory=list, description="(offset where a section starts, its heading)."
    )
    kind: Kind
    char_runs: list[CharRun] | None = Field(
        default=None,
        description="PDF only: where each character of `text` was read. A run "
        "(offset, length, page index, first char index) says that text[offset + k] is "
        "PDFium's character char index + k of page `page index` (0-based) for k < length. "
        "Characters in no run (the spaces and line breaks that joining lines inserts) "
        "have no box on the page.",
    )

    @model_validator(mode="after")
    def _offsets_inside(self) -> Extracted:
        size = len(self.text)
        if self.pages is not None:
            if not self.pages or self.pages[0] != 0:
                raise ValueError("pages must start with offset 0")
            if any(b < a for a, b in itertools.pairwise(self.pages)) or self.pages[-1] > size:
                raise ValueError("page offsets must be ascending and inside the text")
        offsets = [offset for offset, _ in self.sections]
        if offsets != sorted(offsets) or any(not 0 <= o <= size for o in offsets):
            raise ValueError("section offsets must be ascending and inside the text")
        if self.char_runs is not None:
            check_char_runs(self.char_runs, size)
        return self


def check_char_runs(runs: list[CharRun], size: int) -> None:
    """Refuse runs that overlap, go backwards, or reach outside a text of `size` chars.

    Raises:
        ValueError: Which rule a run breaks.
    """
    end = 0
    for offset, length, page, char in runs:
        if offset < end or length < 1 or offset + length > size or page < 0 or char < 0:
            raise ValueError(
                f"char run ({offset}, {length}, {page}, {char}) overlaps, goes backwards "
                f"or leaves the {size}-character text"
            )
        end = offset + length


def chars_in_range(runs: list[CharRun], start: int, end: int) -> dict[int, list[int]]:
    """The PDFium characters behind `text[start:end]`, page by page.

    Args:
        runs: `Extracted.char_runs` (ascending, as `extract` returns them).
        start: First text-layer offset, inclusive.
        end: Last text-layer offset, exclusive.

    Returns:
        0-based page index → its char indexes, ascending; pages with none are absent.
    """
    pages: dict[int, list[int]] = {}
    first = bisect.bisect_right([offset for offset, *_ in runs], start) - 1
    for offset, length, page, char in runs[max(first, 0) :]:
        if offset >= end:
            break
        low, high = max(offset, start), min(offset + length, end)
        if low < high:
            pages.setdefault(page, []).extend(range(char + low - offset, char + high - offset))
    return {page: sorted(set(chars)) for page, chars in pages.items()}


def page_of(pages: list[int], offset: int) -> int:
    """The 1-based page that holds the character at `offset`.

    Args:
        pages: `Extracted.pages`: the start offset of each page, ascending, pages[0] == 0.
        offset: An offset into the text layer (a citation's `start`).

    Returns:
        The page number, 1 for the first page. An offset past the end of the text
        maps to the last page; an empty page is never returned.

    Raises:
        ValueError: `pages` is empty or does not start at 0, or `offset` is negative.
    """
    if not pages or pages[0] != 0:
        raise ValueError("pages must be a non-empty list starting with offset 0")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return bisect.bisect_right(pages, offset)


# --------------------------------------------------------------------------- sniffing

_SUFFIX_KINDS: dict[str, SniffedKind] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".docx": "docx",
    ".txt": "text",
    ".md": "text",
}
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy or password-protected Office file (OLE2)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"%!PS", "a PostScript file"),
)
# WHATWG MIME sniffing: the tags that make a resource HTML when it starts with one.
_HTML_STARTS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
    b"<meta",
    b"<article",
    b"<main",
)
_ANY_TAG = re.compile(rb"<(?:html|head|body|p|div|article|main|h[1-6]|title|span|ul|table)\b", re.I)


def _zip_kind(data: bytes) -> tuple[SniffedKind | None, str]:
    """What a ZIP container holds: a Word document, another Office file, or not."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        # Truncated: no central directory, but the local headers still name parts.
        head = data[: 1 << 20]
        if b"word/" in head and b"[Content_Types].xml" in head:
            return "docx", "a Word document (DOCX)"
        return None, "a ZIP archive"
    if "word/document.xml" in names or (
        "[Content_Types].xml" in names and any(n.startswith("word/") for n in names)
    ):
        return "docx", "a Word document (DOCX)"
    if any(n.startswith("xl/") for n in names):
        return None, "an Excel workbook (XLSX)"
    if any(n.startswith("ppt/") for n in names):
        return None, "a PowerPoint file (PPTX)"
    if "mimetype" in names or "META-INF/manifest.xml" in names:
        return None, "an OpenDocument or EPUB file"
    return None, "a ZIP archive"


def _looks_like_html(head: bytes) -> bool:
    head = head.removeprefix(b"\xef\xbb\xbf")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16-le" if head[:1] == b"\xff" else "utf-16-be"
        head = head[2:].decode(encoding, "ignore").encode("ascii", "ignore")
    start = head.lstrip(b" \t\r\n\x0c").lower()
    if start.startswith(b"<?xml") and b"<html" in start[:1024]:
        return True
    for tag in _HTML_STARTS:
        if start.startswith(tag):
            after = start[len(tag) : len(tag) + 1]
            if tag == b"<!--" or after in (b" ", b">", b"\t", b"\n", b"\r", b"\x0c", b"/"):
                return True
    return False


def _is_text(data: bytes) -> bool:
    head = data[:65536]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 64 KB window is still text.
        return len(data) > len(head) and exc.start >= len(head) - 3
    return True


_UNRECOGNIZED = "binary data"


def _content_kind(data: bytes) -> tuple[SniffedKind | None, str]:
    """The kind the bytes are, by their magic numbers, and how to name it."""
    if not data:
        return "text", "an empty file"
    if b"%PDF-" in data[:1024]:
        return "pdf", "a PDF"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_kind(data)
    for magic, name in _OTHER_MAGIC:
        if data.startswith(magic):
            return None, name
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return None, "a WebP image"
    if _looks_like_html(data[:4096]):
        return "html", "an HTML page"
    if _is_text(data):
        return "text", "plain text"
    return None, _UNRECOGNIZED


def named_format(data: bytes) -> str | None:
    """What the bytes are when their magic numbers name a format other than text.

    A text file's reader calls this before decoding: a .txt that is really a PDF
    or an image is refused by what it is, while bytes that are merely not UTF-8
    are left to the text decoder, whose reason is more precise.

    Args:
        data: The file's bytes.

    Returns:
        "a PDF", "a Word document (DOCX)", "a PNG image", "a ZIP archive" …, or None
        for text, HTML (markup in a text file is text) and unrecognized bytes.
    """
    data = bytes(data)
    kind, what = _content_kind(data)
    if kind in ("text", "html") or what == _UNRECOGNIZED:
        return None
    if kind == "pdf" and not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        # A PDF may have junk before its header, but text that merely quotes
        # "%PDF-" in its first kilobyte is text.
        return None if _is_text(data) else what
    return what


def _normal_suffix(suffix: str) -> str:
    suffix = suffix.strip().lower()
    return suffix if suffix.startswith(".") or not suffix else f".{suffix}"


def sniff_kind(data: bytes, suffix: str) -> SniffedKind | None:
    """The kind of a file, read from its bytes (magic numbers), checked against its
    extension.

    Args:
        data: The file's bytes.
        suffix: Its extension (".pdf", "pdf", ".HTML"); an unknown or empty one lets
            the content decide.

    Returns:
        "pdf", "html", "docx" or "text", or None when the content is none of these
        (an image, an archive, other binary data) and the extension names none.
        Markup in a .txt or .md file is still "text"; an .html file whose text has
        tags but no document header (a fragment) is "html".

    Raises:
        ValueError: The extension names a kind and the content is another, e.g.
            "extension says .pdf but content is a Word document (DOCX)".
    """
    data = bytes(data)
    suffix = _normal_suffix(suffix)
    expected = _SUFFIX_KINDS.get(suffix)
    kind, what = _content_kind(data)
    if expected is None or expected == kind:
        return kind
    if expected == "text" and kind == "html":
        return "text"
    if expected == "html" and kind == "text" and _ANY_TAG.search(data[:65536]):
        return "html"
    raise ValueError(f"extension says {suffix} but content is {what}")


# --------------------------------------------------------------------------- running


class _Deadline:
    """A soft deadline checked between steps (the hard one is the child's kill)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise ValueError(_timeout_reason(self.seconds))


def _timeout_reason(seconds: float) -> str:
    return f"extraction took longer than {seconds:g} s (max_seconds); stopped"


def _memory_budget_mb(limits: ExtractLimits) -> float:
    """Address space a child may add to what it starts with: parsers hold several
    times what they unpack, so six times the largest size limit, at least 1 GB."""
    return max(1024.0, 6 * max(limits.max_uncompressed_mb, limits.max_html_mb))


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
        _, what = _content_kind(data)
        raise ValueError(f"not a PDF, HTML page or Word document: content is {what}")
    if kind == "text":
        raise ValueError("plain text, not a PDF, HTML page or Word document: read it as text")
    _check_size(kind, len(data), limits)
    if not isolate:
        return _extract_checked(kind, data, limits)
    return Extracted.model_validate(_run_isolated(kind, data, limits))


def _check_size(kind: Kind, size: int, limits: ExtractLimits) -> None:
    limit_mb, setting = (
        (limits.max_html_mb, "max_html_mb")
        if kind == "html"
        else (limits.max_uncompressed_mb, "max_uncompressed_mb")
    )
    if size > limit_mb * _MB:
        raise ValueError(
            f"{kind.upper()} file is {size / _MB:.1f} MB; the limit is {limit_mb:g} MB ({setting})"
        )


def _extract_checked(kind: Kind, data: bytes, limits: ExtractLimits) -> Extracted:
    """`_extract_kind` with every failure turned into a skip reason."""
    deadline = _Deadline(limits.max_seconds)
    try:
        return _extract_kind(kind, data, limits, deadline)
    except ValueError:
        raise
    except MemoryError:
        raise ValueError(
            f"{kind.upper()} needs more memory than the limits allow "
            f"(about {_memory_budget_mb(limits):.0f} MB)"
        ) from None
    except RecursionError:
        raise ValueError(f"{kind.upper()} is nested too deeply to read") from None
    except Exception as exc:  # a library's own error on a damaged file
        detail = " ".join(str(exc).split())[:200]
        raise ValueError(
            f"corrupt {kind.upper()}: {type(exc).__name__}{': ' + detail if detail else ''}"
        ) from None


def _extract_kind(kind: Kind, data: bytes, limits: ExtractLimits, deadline: _Deadline) -> Extracted:
    if kind == "pdf":
        return _extract_pdf(data, limits, deadline)
    if kind == "docx":
        return _extract_docx(data, limits, deadline)
    return _extract_html(data, limits, deadline)


# The isolation: one long-lived worker process (a "zygote") per calling process,
# started on first use from this file alone, with the parsers imported. For each
# file it forks a child that caps its own memory and CPU, extracts, writes the
# result down a pipe and exits; the zygote kills a child that runs past
# max_seconds. A fork of a small single-threaded process costs a few ms, the
# child starts with every parser loaded, and nothing of one file (memory, PDFium
# state) reaches the next. multiprocessing's own start methods fit less well:
# "fork" copies the caller's threads and locks (torch, tokenizers), "spawn"
# imports the parsers again per file (~0.5 s), and "forkserver" re-imports the
# caller's __main__ in every child.

_WORKER_BOOT = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('assistant_formats_worker', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = module\n"
    "spec.loader.exec_module(module)\n"
    "module._zygote_main()\n"
)
_WORKER_START_SECONDS = 120.0
_GRACE_SECONDS = 10.0  # the zygote's own answer after a kill; past it, the zygote goes too
_HEADER = struct.Struct("<Q")


def _limit_child_resources(limits: ExtractLimits) -> None:
    """Cap this process's address space and CPU time (Linux and macOS)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/statm", encoding="ascii") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        budget = current + int(_memory_budget_mb(limits) * _MB)
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    with contextlib.suppress(OSError, ValueError):
        cpu = math.ceil(limits.max_seconds) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _write_frame(fd: int, payload: object) -> None:
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """`size` bytes from `fd`; None at end of file or when `deadline` passes."""
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None) -> tuple[bool, Any]:
    """(True, payload), or (False, None) at end of file or past the deadline."""
    header = _read_exactly(fd, _HEADER.size, deadline)
    if header is None:
        return False, None
    body = _read_exactly(fd, _HEADER.unpack(header)[0], deadline)
    if body is None:
        return False, None
    return True, pickle.loads(body)


def _zygote_main() -> None:
    """The worker's loop: read a job from stdin, fork a child for it, answer on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol gets private copies of stdin and stdout; whatever a library
    # prints goes to /dev/null instead of into the answers.
    jobs, answers = os.dup(0), os.dup(1)
    nowhere = os.open(os.devnull, os.O_RDWR)
    os.dup2(nowhere, 0)
    os.dup2(nowhere, 1)
    os.close(nowhere)
    _warm_up()
    gc.freeze()  # children's collections then leave the zygote's objects (and pages) alone
    _write_frame(answers, "ready")
    while True:
        received, job = _read_frame(jobs, None)
        if not received:
            return
        kind, data, raw_limits, render = job
        limits = ExtractLimits.model_validate(raw_limits)
        _write_frame(answers, _zygote_job(kind, data, limits, (jobs, answers), render))


def _warm_up() -> None:
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
            _extract_checked(kind, data, limits)  # type: ignore[arg-type]
    with contextlib.suppress(ValueError):
        _render_checked(bytes(pdf), limits, _RenderJob(page_index=0, chars=[0], width=64))


def _zygote_job(
    kind: Kind,
    data: bytes,
    limits: ExtractLimits,
    zygote_fds: tuple[int, ...] = (),
    render: dict[str, Any] | None = None,
) -> tuple[str, Any]:
    """Extract one file (or, given `render`, draw one PDF page) in a forked child,
    killed past `limits.max_seconds`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            for fd in (read_end, *zygote_fds):
                os.close(fd)
            _limit_child_resources(limits)
            try:
                answer: tuple[str, Any] = ("ok", _perform(kind, data, limits, render))
            except ValueError as exc:
                answer = ("error", str(exc))
            _write_frame(write_end, answer)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        received, answer = _read_frame(read_end, time.monotonic() + limits.max_seconds)
    finally:
        os.close(read_end)
    if not received:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    if received:
        return (str(answer[0]), answer[1])
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9:
        return ("error", _timeout_reason(limits.max_seconds))
    return ("error", _crash_reason(kind, status))


def _crash_reason(kind: Kind, status: int) -> str:
    import signal

    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if name == "SIGXCPU":
            return f"{kind.upper()} needed more CPU time than max_seconds allows; stopped"
        return f"the {kind.upper()} extractor crashed ({name})"
    code = os.WEXITSTATUS(status)
    return f"the {kind.upper()} extractor stopped unexpectedly (exit status {code})"


class _Zygote:
    """The calling process's handle on its worker; one job at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C at the terminal is the caller's to handle
        )
        assert process.stdout is not None
        received, hello = _read_frame(
            process.stdout.fileno(), time.monotonic() + _WORKER_START_SECONDS
        )
        if not received or hello != "ready":
            self._stop(process)
            raise ValueError("the extraction worker did not start")
        return process

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(Exception):
            process.wait(5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        with self.lock:
            if self.process is not None:
                self._stop(self.process)
                self.process = None

    def run(
        self, kind: Kind, data: bytes, limits: ExtractLimits, render: dict[str, Any] | None
    ) -> tuple[str, Any]:
        with self.lock:
            for attempt in (1, 2):
                if self.process is None or self.process.poll() is not None:
                    self.process = self._start()
                process = self.process
                assert process.stdin is not None
                assert process.stdout is not None
                try:
                    _write_frame(process.stdin.fileno(), (kind, data, limits.model_dump(), render))
                except (BrokenPipeError, OSError):
                    self._stop(process)
                    self.process = None
                    if attempt == 2:
                        raise ValueError("the extraction worker is not answering") from None
                    continue
                deadline = time.monotonic() + limits.max_seconds + _GRACE_SECONDS
                received, answer = _read_frame(process.stdout.fileno(), deadline)
                if received:
                    return answer  # type: ignore[no-any-return]
                self._stop(process)
                self.process = None
                return ("error", _timeout_reason(limits.max_seconds))
        raise AssertionError("unreachable")

    def forget(self) -> None:
        """In a child forked from the caller: the worker and its pipes are the
        parent's; start afresh (without touching them)."""
        self.lock = threading.Lock()
        self.process = None


_ZYGOTE = _Zygote()
atexit.register(_ZYGOTE.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ZYGOTE.forget)


def _perform(
    kind: Kind, data: bytes, limits: ExtractLimits, render: dict[str, Any] | None
) -> dict[str, Any]:
    """One job of the worker, as plain data: an extraction or a rendered page."""
    if render is not None:
        return _render_checked(data, limits, _RenderJob.model_validate(render)).model_dump()
    return _extract_checked(kind, data, limits).model_dump()


def _run_isolated(
    kind: Kind, data: bytes, limits: ExtractLimits, render: dict[str, Any] | None = None
) -> dict[str, Any]:
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no fork, soft deadline only
        return _perform(kind, data, limits, render)
    status, payload = _ZYGOTE.run(kind, data, limits, render)
    if status == "ok":
        return payload  # type: ignore[no-any-return]
    raise ValueError(str(payload))


# --------------------------------------------------------------------------- text helpers

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff]")
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb06": "st",
    }
)


def _clean(text: str) -> str:
    """One line of text: no control characters, ligatures spelled out, single spaces."""
    text = _CONTROL.sub("", text.translate(_LIGATURES)).replace("\u00ad", "")
    return _SPACES.sub(" ", text).strip()


# Anything `_clean` would change: a character it drops or spells out, whitespace
# other than a single space, or whitespace at either end.
_UNCLEAN = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff\u00ad\ufb00-\ufb06]"
    r"|\s\s|[^\S ]|^\s|\s$"
)


def _clean_mapped(text: str, where: list[int]) -> tuple[str, list[int]]:
    """`_clean(text)`, and for each of its characters the `where` of the character
    it came from (a ligature's letters share their glyph's; a run of whitespace
    becomes one space, placed where the run's first character was).

    Args:
        text: One line as PDFium reads it.
        where: One entry per character of `text` (a PDFium char index, or -1).
    """
    if not _UNCLEAN.search(text):
        return text, list(where)
    chars: list[str] = []
    places: list[int] = []
    for character, place in zip(text, where, strict=True):
        for letter in character.translate(_LIGATURES):
            if _CONTROL.match(letter) or letter == "\u00ad":
                continue
            if letter.isspace():
                if chars and chars[-1] == " ":
                    continue
                letter = " "
            chars.append(letter)
            places.append(place)
    while chars and chars[-1] == " ":
        chars.pop()
        places.pop()
    first = next((i for i, c in enumerate(chars) if c != " "), len(chars))
    return "".join(chars[first:]), places[first:]


def _runs_of(where: list[int]) -> list[tuple[int, int, int]]:
    """(offset, length, first value) for each stretch of `where` that counts up by
    one from a value >= 0."""
    runs: list[tuple[int, int, int]] = []
    for offset, place in enumerate(where):
        if place < 0:
            continue
        if runs:
            start, length, first = runs[-1]
            if start + length == offset and first + length == place:
                runs[-1] = (start, length + 1, first)
                continue
        runs.append((offset, 1, place))
    return runs


class _Layer:
    """Builds a text layer one paragraph per line, remembering offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.sections: list[tuple[int, str]] = []

    def add(self, line: str, *, heading: bool = False) -> int:
        """Append `line` as a paragraph; returns where it starts."""
        if self.size:
            self.parts.append("\n")
            self.size += 1
        start = self.size
        self.parts.append(line)
        self.size += len(line)
        if heading:
            self.sections.append((start, line.removeprefix("- ")))
        return start

    def text(self) -> str:
        return "".join(self.parts)


# --------------------------------------------------------------------------- PDF


#: Streams that reading text never decodes: images (PDFium decodes them to render)
#: and attached files.
_UNREAD_STREAM = re.compile(rb"/Subtype\s*/Image\b|/Type\s*/EmbeddedFile\b")


def _check_pdf_streams(data: bytes, limits: ExtractLimits, deadline: _Deadline) -> None:
    """Refuse a PDF whose Flate streams (those that reading text decodes: page
    contents, fonts, object streams; not images) unpack to more than the limit, a
    decompression bomb, counting without keeping what they unpack to."""
    limit = int(limits.max_uncompressed_mb * _MB)
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


@dataclasses.dataclass
class _Line:
    """One line of a PDF page as PDFium reads it, with its box (PDF points)."""

    text: str
    left: float
    right: float
    bottom: float
    top: float
    size: float
    hyphen: str = ""  # the hyphen that ended the line ("-", "\u2010", "\u00ad"), if any
    runs: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    """(offset in `text`, length, first PDFium char index): where `text` was read."""
    hyphen_char: int = -1  # the PDFium char index of `hyphen`, if known


_PDFIUM_HYPHEN = "\ufffe"  # PDFium's mark for a "-" it found at a line end
_BREAKS = re.compile(r"\r\n|\r|\n|\ufffe")


def _page_lines(page: Any, pdfium_c: Any) -> tuple[list[_Line], float]:
    """The lines of one page in PDFium's reading order, and the page's height."""
    _, height = page.get_size()
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range() if count > 0 else ""
        where = _text_char_indexes(textpage, pdfium_c, text)
        lines: list[_Line] = []
        start = 0
        for match in [*_BREAKS.finditer(text), None]:
            end = match.start() if match else len(text)
            raw = text[start:end]
            marker = match.group() if match else ""
            line_start = start
            start = match.end() if match else len(text)
            hyphen = "-" if marker == _PDFIUM_HYPHEN else ""
            hyphen_at = end if hyphen else -1
            stripped = raw.rstrip()
            if not hyphen and stripped.endswith(("\u2010", "\u00ad")):
                hyphen, stripped = stripped[-1], stripped[:-1]
                hyphen_at = line_start + len(stripped)
            elif not hyphen and stripped.endswith("-") and len(stripped) > 1:
                hyphen, stripped = "-", stripped[:-1]
                hyphen_at = line_start + len(stripped)
            clean, places = _clean_mapped(stripped, where[line_start : line_start + len(stripped)])
            if not clean:
                continue
            first = line_start + (len(raw) - len(raw.lstrip()))
            last = line_start + len(stripped) - 1
            box_first = _char_box(textpage, pdfium_c, first)
            box_last = _char_box(textpage, pdfium_c, max(first, last))
            # The size of the first letter or digit: a bullet glyph is often smaller.
            sized = next((first + i for i, c in enumerate(raw.lstrip()) if c.isalnum()), first)
            size = pdfium_c.FPDFText_GetFontSize(
                textpage.raw, _char_index(textpage, pdfium_c, sized)
            )
            lines.append(
                _Line(
                    text=clean,
                    left=box_first[0],
                    right=box_last[2],
                    bottom=min(box_first[1], box_last[1]),
                    top=max(box_first[3], box_last[3]),
                    size=float(size),
                    hyphen=hyphen,
                    runs=_runs_of(places),
                    hyphen_char=where[hyphen_at] if hyphen_at >= 0 else -1,
                )
            )
        return lines, float(height)
    finally:
        textpage.close()


def _text_char_indexes(textpage: Any, pdfium_c: Any, text: str) -> list[int]:
    """For each character of the page's `text`, PDFium's index of the character
    it was read from, or -1 (a character PDFium inserted, or one that does not
    check out: a highlight may then miss a letter, but never marks another)."""
    raw = textpage.raw
    indexes: list[int] = []
    unit = 0  # PDFium counts UTF-16 code units; a character beyond U+FFFF is two
    for character in text:
        index = int(pdfium_c.FPDFText_GetCharIndexFromTextIndex(raw, unit))
        code = int(pdfium_c.FPDFText_GetUnicode(raw, index)) if index >= 0 else -1
        point = ord(character)
        same = (
            code == point
            or (character == _PDFIUM_HYPHEN and code == 2)  # its mark for a line-end "-"
            or (point > 0xFFFF and 0xD800 <= code < 0xDC00)  # the pair's first half
        )
        indexes.append(index if same else -1)
        unit += 2 if point > 0xFFFF else 1
    return indexes


def _char_index(textpage: Any, pdfium_c: Any, text_index: int) -> int:
    index = int(pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, text_index))
    return index if index >= 0 else text_index


def _char_box(textpage: Any, pdfium_c: Any, text_index: int) -> tuple[float, float, float, float]:
    try:
        box = textpage.get_charbox(_char_index(textpage, pdfium_c, text_index))
    except Exception:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|seite|pág\.?)?\s*\d{1,4}(?:\s*(?:of|/|von|de)\s*\d{1,4})?$", re.I
)
_ROMAN = re.compile(r"^[ivxlcdm]{1,6}$", re.I)
_MARGIN_BAND = 0.15  # share of the page height, top and bottom, where running lines live


def _in_margin(line: _Line, height: float) -> bool:
    return line.top >= height * (1 - _MARGIN_BAND) or line.bottom <= height * _MARGIN_BAND


def _margin_key(line: _Line) -> str:
    return re.sub(r"\d+", "#", line.text.lower())


def _drop_running_lines(pages: list[tuple[list[_Line], float]]) -> list[list[_Line]]:
    """Remove running headers and footers: lines in the top or bottom band of the
    page whose text (digits aside) repeats at the same height on at least half the
    pages, and page numbers standing alone in those bands."""

    seen: dict[str, list[tuple[int, float]]] = {}
    for number, (lines, height) in enumerate(pages):
        for line in lines:
            if _in_margin(line, height):
                seen.setdefault(_margin_key(line), []).append((number, line.bottom))
    needed = max(2, math.ceil(len(pages) / 2))
    running: set[tuple[str, int]] = set()
    for key, places in seen.items():
        heights = statistics.median(bottom for _, bottom in places)
        near = {page for page, bottom in places if abs(bottom - heights) <= 3}
        if len(near) >= needed:
            running.update((key, page) for page, bottom in places if abs(bottom - heights) <= 3)
    kept: list[list[_Line]] = []
    for number, (lines, height) in enumerate(pages):
        kept.append(
            [
                line
                for line in lines
                if (_margin_key(line), number) not in running
                and not (
                    _in_margin(line, height)
                    and (_PAGE_NUMBER.match(line.text) or _ROMAN.match(line.text))
                )
            ]
        )
    return kept


_WORD = re.compile(r"[^\W\d_]+(?:[-\u2010][^\W\d_]+)*")
_TERMINAL = (".", "!", "?", ":", ";", '"', "”", "’", ")", "]")
_BULLET = re.compile(r"^(?:[•▪◦‣●○■□–—*-]|\d{1,3}[.)]|[a-z][.)])\s")
#: Prefixes written with a hyphen; a line break after one keeps it ("co-production").
_HYPHENATED_PREFIXES = frozenset({"co", "non", "self", "so", "well", "half", "cross", "anti"})


class _Hyphenation:
    """Decides whether a hyphen at a line end is the writer's (kept) or the
    typesetter's (dropped, the word joined), from the document's own words."""

    def __init__(self, pages: list[list[_Line]]) -> None:
        self.words: Counter[str] = Counter()
        self.soft_breaks = 0
        for lines in pages:
            for line in lines:
                self.words.update(
                    w.lower().replace("\u2010", "-") for w in _WORD.findall(line.text)
                )
                self.soft_breaks += line.hyphen in ("\u2010", "\u00ad")

    def keep(self, before: str, after: str, hyphen: str) -> bool:
        left = _WORD.findall(before)
        right = _WORD.findall(after)
        if not left or not right or not before.endswith(left[-1]) or not after.startswith(right[0]):
            return True  # not a word broken in two ("U.S.-", "PAC-", "1990-")
        head, tail = left[-1].lower(), right[0].lower()
        if hyphen == "\u00ad":
            return False
        if self.words[f"{head}-{tail}"]:
            return True
        if self.words[head + tail]:
            return False
        if "-" in tail:
            return True  # a compound that goes on with hyphens ("Air-" + "to-Air")
        if right[0][0].isupper():
            return True
        if hyphen == "-" and self.soft_breaks:
            # This writer marks its own breaks with U+2010 (Chromium, Skia):
            # a plain hyphen at a line end is part of the word.
            return True
        return head.rsplit("-", 1)[-1] in _HYPHENATED_PREFIXES


def _join(before: str, after: str, hyphen: str, rules: _Hyphenation) -> str:
    if not hyphen:
        return f"{before} {after}"
    if rules.keep(before, after, hyphen):
        return f"{before}-{after}"
    return before + after


@dataclasses.dataclass(frozen=True)
class _Metrics:
    """A page's body text: line pitch, left and right edges, and whether its lines
    are justified (every line but a paragraph's last reaches the right edge)."""

    pitch: float = 0.0
    left: float = 0.0
    right: float = 0.0
    justified: bool = False

    @property
    def width(self) -> float:
        return max(self.right - self.left, 1.0)


def _page_metrics(lines: list[_Line]) -> _Metrics:
    steps = [
        a.bottom - b.bottom
        for a, b in itertools.pairwise(lines)
        if 0.5 * a.size < a.bottom - b.bottom < 3 * max(a.size, 1)
    ]
    pitch = statistics.median(steps) if steps else max((ln.size for ln in lines), default=10) * 1.2
    lefts = sorted(ln.left for ln in lines)
    rights = sorted(ln.right for ln in lines)
    left, right = lefts[len(lefts) // 10], rights[(len(rights) * 9) // 10]
    full = sum(ln.right >= right - 0.03 * max(right - left, 1.0) for ln in lines)
    return _Metrics(pitch, left, right, justified=len(lines) >= 4 and full >= 0.6 * len(lines))


def _starts_paragraph(previous: _Line, line: _Line, metrics: _Metrics, same_page: bool) -> bool:
    """Whether `line` opens a paragraph rather than continuing `previous`'s."""
    if _BULLET.match(line.text):
        return True
    if previous.hyphen:
        return False  # a word broken across the lines
    if abs(line.size - previous.size) > 0.15 * max(previous.size, 1):
        return True  # a heading, or back from one
    reach = (previous.right - metrics.left) / metrics.width
    if reach < 0.6 or (
        previous.text.endswith(_TERMINAL) and reach < (0.95 if metrics.justified else 0.8)
    ):
        return True  # the previous line stopped short: its paragraph ended
    if line.left > metrics.left + 0.8 * max(line.size, 1) and previous.text.endswith(_TERMINAL):
        return True  # an indented first line
    if same_page:
        gap = previous.bottom - line.bottom
        return gap > 1.45 * metrics.pitch or gap < -0.5 * metrics.pitch
    return False


def _extract_pdf(data: bytes, limits: ExtractLimits, deadline: _Deadline) -> Extracted:
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
        raw_pages: list[tuple[list[_Line], float]] = []
        for number in range(count):
            deadline.check()
            page = document[number]
            try:
                raw_pages.append(_page_lines(page, pdfium_c))
            finally:
                page.close()
        metadata = document.get_metadata_dict(skip_empty=True)
        outline = [
            (item.level, item.get_title(), _bookmark_page(item))
            for item in _bounded(document.get_toc(max_depth=6), 500)
        ]
    finally:
        document.close()
    if not any(not _in_margin(ln, height) for lines, height in raw_pages for ln in lines):
        # Nothing but (at most) a stamp in the margins: pictures of pages, a scan.
        raise ValueError("no text layer: OCR is not supported")
    return _assemble_pdf(raw_pages, metadata, outline, deadline)


def _bookmark_page(bookmark: Any) -> int | None:
    with contextlib.suppress(Exception):
        destination = bookmark.get_dest()
        if destination is not None:
            index = destination.get_index()
            return int(index) if index is not None and index >= 0 else None
    return None


def _bounded(items: Iterable[Any], most: int) -> Iterator[Any]:
    for number, item in enumerate(items):
        if number >= most:
            return
        yield item


def _assemble_pdf(
    raw_pages: list[tuple[list[_Line], float]],
    metadata: dict[str, str],
    outline: list[tuple[int, str, int | None]],
    deadline: _Deadline,
) -> Extracted:
    pages = _drop_running_lines(raw_pages)
    rules = _Hyphenation(pages)
    paragraphs: list[str] = []  # finished paragraphs
    paragraph_runs: list[list[CharRun]] = []  # where each one's characters were read
    current = ""
    current_runs: list[CharRun] = []
    current_hyphen = ""
    previous: _Line | None = None
    previous_page = 0
    previous_metrics = _Metrics()
    # (page, paragraph index, offset inside that paragraph) where each page starts
    page_starts: list[tuple[int, int] | None] = []
    line_sizes = [line.size for lines in pages for line in lines]
    body_size = statistics.median(line_sizes) if line_sizes else 0.0
    headings: list[tuple[int, str]] = []  # (paragraph index, text) of large single lines
    for page_index, lines in enumerate(pages):
        deadline.check()
        if not lines:
            page_starts.append(None)
            continue
        metrics = _page_metrics(lines)
        for number, line in enumerate(lines):
            if previous is not None and not _starts_paragraph(
                previous, line, metrics if number else previous_metrics, number > 0
            ):
                joined = _join(current, line.text, current_hyphen, rules)
                line_at = len(joined) - len(line.text)
                if number == 0:
                    page_starts.append((len(paragraphs), line_at))
                kept_hyphen = line_at == len(current) + 1 and joined[len(current)] == "-"
                if kept_hyphen and previous.hyphen_char >= 0:
                    current_runs.append((len(current), 1, previous_page, previous.hyphen_char))
                current = joined
            else:
                if current:
                    paragraphs.append(current)
                    paragraph_runs.append(current_runs)
                if number == 0:
                    page_starts.append((len(paragraphs), 0))
                current, current_runs, line_at = line.text, [], 0
                if body_size and line.size >= 1.2 * body_size and len(line.text) <= 150:
                    headings.append((len(paragraphs), line.text))
            current_runs.extend(
                (line_at + offset, length, page_index, char) for offset, length, char in line.runs
            )
            current_hyphen = line.hyphen
            previous, previous_page = line, page_index
        previous_metrics = metrics
    if current:
        paragraphs.append(current)
        paragraph_runs.append(current_runs)

    offsets: list[int] = []
    position = 0
    for paragraph in paragraphs:
        offsets.append(position)
        position += len(paragraph) + 1
    text = "\n".join(paragraphs)
    starts: list[int] = []
    for start in reversed(page_starts):  # an empty page starts where the next one does
        if start is None:
            starts.append(starts[-1] if starts else len(text))
        else:
            starts.append(offsets[start[0]] + start[1])
    starts.reverse()
    starts[0] = 0
    heading_paragraphs = {index for index, _ in headings}
    sections = _outline_sections(text, starts, outline) or [
        (offsets[index], heading)
        for index, heading in headings
        if index in heading_paragraphs and paragraphs[index] == heading
    ]
    title = _metadata_title(metadata.get("Title")) or next(
        (h for o, h in sections if o < (starts[1] if len(starts) > 1 else len(text) + 1)), None
    )
    return Extracted(
        text=text,
        title=title,
        date=None,
        author=_clean(metadata.get("Author", "")) or None,
        pages=starts,
        sections=sections,
        kind="pdf",
        char_runs=[
            (offsets[number] + offset, length, page, char)
            for number, runs in enumerate(paragraph_runs)
            for offset, length, page, char in runs
        ],
    )


def _metadata_title(value: str | None) -> str | None:
    """A PDF's /Title, unless it is a file name or a placeholder."""
    title = _clean(value or "")
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
        title = _clean(raw_title or "")
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


# --------------------------------------------------------------------------- page images

#: The highlight: a translucent yellow, one layer (overlapping boxes do not darken).
_HIGHLIGHT_RGBA = (255, 200, 0, 110)
_MAX_IMAGE_PIXELS = 4096  # an image side, whatever the page size asks for


class _RenderJob(BaseModel):
    """What `render_page` asks of the worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page_index: int = Field(ge=0)
    chars: list[int]
    width: int = Field(gt=0, le=_MAX_IMAGE_PIXELS)


class PageImage(BaseModel):
    """One PDF page drawn as a PNG, with boxes over some of its characters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    job = _RenderJob(page_index=page_index, chars=chars, width=width)
    if not isolate:
        return _render_checked(bytes(data), limits, job)
    return PageImage.model_validate(_run_isolated("pdf", bytes(data), limits, job.model_dump()))


def _render_checked(data: bytes, limits: ExtractLimits, job: _RenderJob) -> PageImage:
    """`_render` with every failure turned into a reason."""
    try:
        return _render(data, job)
    except ValueError:
        raise
    except MemoryError:
        raise ValueError(
            f"drawing the page needs more memory than the limits allow "
            f"(about {_memory_budget_mb(limits):.0f} MB)"
        ) from None
    except Exception as exc:  # PDFium's or Pillow's own error on a damaged page
        detail = " ".join(str(exc).split())[:200]
        raise ValueError(f"the page cannot be drawn: {type(exc).__name__}: {detail}") from None


def _render(data: bytes, job: _RenderJob) -> PageImage:
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
        scale = min(job.width / max(points_wide, 1.0), _MAX_IMAGE_PIXELS / max(points_high, 1.0))
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


# --------------------------------------------------------------------------- DOCX

_MAX_ZIP_MEMBERS = 10_000
_PYTHON_DOCX_TEMPLATE_CREATED = dt.datetime(2013, 12, 23, 23, 15, tzinfo=dt.UTC)


def _check_docx_package(data: bytes, limits: ExtractLimits, deadline: _Deadline) -> None:
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
        if unpacked > limits.max_uncompressed_mb * _MB:
            raise ValueError(
                f"DOCX unpacks to {unpacked / _MB:.0f} MB; the limit is "
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
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name == "Title" or re.match(r"^Heading \d$", name):
        return True
    ppr = paragraph._p.pPr
    level = ppr.find(_qn("w:outlineLvl")) if ppr is not None else None
    return level is not None and level.get(_qn("w:val")) != "9"  # 9: body text


def _docx_list_item(paragraph: Any) -> bool:
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    ppr = paragraph._p.pPr
    return name.startswith("List") or (ppr is not None and ppr.numPr is not None)


def _qn(tag: str) -> str:
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


def _extract_docx(data: bytes, limits: ExtractLimits, deadline: _Deadline) -> Extracted:
    _check_docx_package(data, limits, deadline)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except ValueError as exc:  # python-docx: "file ... is not a Word file, content type is ..."
        raise ValueError(f"not a Word document: {exc}") from None
    layer = _Layer()
    first_title: str | None = None
    for number, paragraph in enumerate(_docx_blocks(document)):
        if number % 256 == 0:
            deadline.check()
        line = _clean(paragraph.text)
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
    author = _clean(core.author or "")
    return Extracted(
        text=text,
        title=_clean(core.title or "") or first_title,
        date=created.date()
        if created is not None and created != _PYTHON_DOCX_TEMPLATE_CREATED
        else None,
        author=author if author and author != "python-docx" else None,
        pages=None,
        sections=layer.sections,
        kind="docx",
    )


# --------------------------------------------------------------------------- HTML

_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "blogposting",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "scholarlyarticle",
    "report",
    "techarticle",
    "webpage",
}
_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "dcterms.date",
    "citation_publication_date",
    "citation_date",
    "parsely-pub-date",
    "sailthru.date",
    "pubdate",
    "publish-date",
)
_AUTHOR_META = ("author", "article:author", "dc.creator", "citation_author", "parsely-author")
_TITLE_META = ("og:title", "twitter:title", "dc.title", "citation_title")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.search(value)
    if match:
        with contextlib.suppress(ValueError):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
    return None


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if len(raw) > _MB:
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        stack: list[Any] = [parsed]
        visited = 0
        while stack and visited < 1000:
            visited += 1
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _ld_types(item: dict[str, Any]) -> set[str]:
    kinds = item.get("@type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return {str(k).lower() for k in kinds}


def _ld_author(value: Any) -> str | None:
    values = value if isinstance(value, list) else [value]
    names = []
    for entry in values[:10]:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and _clean(name):
            names.append(_clean(name))
    return ", ".join(names) or None


def _html_metadata(tree: HtmlElement) -> tuple[str | None, dt.date | None, str | None]:
    """Title, date and author from the page's metadata: JSON-LD, then Open Graph and
    other <meta> tags, then <title>; None where the page states none."""
    title: str | None = None
    date: dt.date | None = None
    author: str | None = None
    articles = [item for item in _json_ld_objects(tree) if _ld_types(item) & _ARTICLE_TYPES]
    articles.sort(key=lambda item: "webpage" in _ld_types(item))  # articles first
    for item in articles:
        headline = item.get("headline") or item.get("name")
        title = title or (_clean(headline) if isinstance(headline, str) else None) or None
        date = (
            date or _parse_date(item.get("datePublished")) or _parse_date(item.get("dateCreated"))
        )
        author = author or _ld_author(item.get("author") or item.get("creator"))
    meta: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (
            element.get("property") or element.get("name") or element.get("itemprop") or ""
        ).strip()
        value = element.get("content")
        if key and value and key.lower() not in meta:
            meta[key.lower()] = value
    for key in _TITLE_META:
        title = title or _clean(meta.get(key, "")) or None
    for key in _DATE_META:
        date = date or _parse_date(meta.get(key))
    for key in _AUTHOR_META:
        value = _clean(meta.get(key, ""))
        if value and not value.startswith(("http://", "https://")):
            author = author or value
    if title is None:
        element = tree.find(".//title")
        page_title = _clean(element.text_content()) if element is not None else ""
        site = _clean(meta.get("og:site_name", ""))
        for separator in (" | ", " - ", " – ", " — ", " · "):
            if site and page_title.endswith(separator + site):
                page_title = page_title[: -len(separator + site)]
        title = page_title or None
    return title, date, author


def _html_block_text(element: Any) -> str:
    for lb in element.iter("lb"):
        lb.tail = " " + (lb.tail or "")
    return _clean("".join(element.itertext()))


def _html_blocks(body: Any, depth: int = 0) -> Iterator[tuple[str, bool]]:
    """(line, is heading) for each block of trafilatura's main-text tree."""
    for element in body:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "head":
            yield _html_block_text(element), True
        elif tag == "list" and depth < 20:
            for item in element:
                nested = [child for child in item if child.tag == "list"]
                for child in nested:
                    item.remove(child)
                yield f"- {_html_block_text(item)}", False
                for child in nested:
                    yield from _html_blocks([child], depth + 1)
        elif tag == "table":
            for row in element.iter("row"):
                cells = [_html_block_text(cell) for cell in row.iter("cell")]
                yield " | ".join(cell for cell in cells if cell), False
        elif tag == "div" and depth < 20:
            yield from _html_blocks(element, depth + 1)
        elif tag:
            yield _html_block_text(element), False


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _html_encoding(data: bytes) -> str:
    """The page's encoding: its byte-order mark, its <meta> charset, else UTF-8 if
    it decodes as such, else Windows-1252 (what browsers assume)."""
    import codecs

    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if data.startswith(bom):
            return name
    declared = _META_CHARSET.search(data[:8192])
    if declared:
        with contextlib.suppress(LookupError):
            return codecs.lookup(declared.group(1).decode("ascii")).name
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _extract_html(data: bytes, limits: ExtractLimits, deadline: _Deadline) -> Extracted:
    import lxml.etree
    import lxml.html
    import trafilatura
    from trafilatura.settings import use_config

    parser = lxml.html.HTMLParser(
        encoding=_html_encoding(data),
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        huge_tree=False,
    )
    try:
        tree = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ValueError(f"unreadable HTML: {exc}") from None
    deadline.check()
    title, date, author = _html_metadata(tree)
    config = use_config()
    config.set("DEFAULT", "MAX_FILE_SIZE", str(int(limits.max_html_mb * _MB)))
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    document = trafilatura.bare_extraction(
        tree,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        config=config,
    )
    deadline.check()
    if document is None or isinstance(document, dict) or document.body is None:
        raise ValueError("no main text found in the HTML page")
    layer = _Layer()
    for line, heading in _html_blocks(document.body):
        if line and line != "-":
            layer.add(line, heading=heading)
    text = layer.text()
    if not text:
        raise ValueError("no main text found in the HTML page")
    return Extracted(
        text=text,
        title=title or (_clean(document.title or "") or None),
        date=date or _parse_date(document.date),
        author=author or (_clean(document.author or "") or None),
        pages=None,
        sections=layer.sections,
        kind="html",
    )
