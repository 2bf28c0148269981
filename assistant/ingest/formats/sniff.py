"""A file's kind from its bytes (magic numbers), checked against its extension:
`sniff_kind` for the extractor, `named_format` for the text decoder.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Literal

__all__ = ["SniffedKind", "content_kind", "named_format", "sniff_kind"]

SniffedKind = Literal["pdf", "html", "docx", "text"]


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
    """Whether the head of a file starts like an HTML document (WHATWG rules)."""
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
    """Whether the bytes are UTF-8 text without NUL bytes (the first 64 KB)."""
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


def content_kind(data: bytes) -> tuple[SniffedKind | None, str]:
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
    kind, what = content_kind(data)
    if kind in ("text", "html") or what == _UNRECOGNIZED:
        return None
    if kind == "pdf" and not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        # A PDF may have junk before its header, but text that merely quotes
        # "%PDF-" in its first kilobyte is text.
        return None if _is_text(data) else what
    return what


def _normal_suffix(suffix: str) -> str:
    """An extension lower-cased, with its leading dot."""
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
    kind, what = content_kind(data)
    if expected is None or expected == kind:
        return kind
    if expected == "text" and kind == "html":
        return "text"
    if expected == "html" and kind == "text" and _ANY_TAG.search(data[:65536]):
        return "html"
    raise ValueError(f"extension says {suffix} but content is {what}")
