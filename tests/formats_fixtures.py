"""Fixture documents for the PDF, HTML and Word extractors, made by real writers
from the brief: PDFs printed by headless Chromium (through Playwright), a .docx
written by python-docx, a saved web page with the usual clutter. The hostile files
(bombs, encrypted, damaged, lying about their kind) are built here too; only they
are written byte by byte.

Used by tests/test_formats.py and benchmarks/ingest.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
import random
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRIEF_PATH = ROOT / "sources" / "2024-08-16-intelbrief-us-japan-alliance-modernization.txt"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

TITLE = "U.S. and Japan Announce Plans to Accelerate Alliance Modernization"
AUTHOR = "The Soufan Center"
DATE = dt.date(2024, 8, 16)
PDF_HEADER = "IntelBrief · The Soufan Center"
PDF_FOOTER = "Alliance Modernization · Page"

# Page geometry of the printed brief: 32 lines of 15 px fit on a page, so a
# paragraph after a 30-line spacer shows 2 lines and moves on to the next page.
_LINE_PX = 15
_LINES_PER_PAGE = 32


@dataclass(frozen=True)
class Brief:
    """The brief's parts, as its text file lays them out."""

    series: str
    date_line: str
    title: str
    bluf_heading: str
    bullets: list[str]
    paragraphs: list[str]

    @property
    def body(self) -> list[str]:
        """Bullets and paragraphs: the text every format must carry."""
        return [*self.bullets, *self.paragraphs]


def load_brief() -> Brief:
    lines = [line for line in BRIEF_PATH.read_text(encoding="utf-8").split("\n") if line.strip()]
    bullets = [line[2:] for line in lines if line.startswith("- ")]
    paragraphs = [line for line in lines[4:] if not line.startswith("- ")]
    return Brief(lines[0], lines[1], lines[2], lines[3], bullets, paragraphs)


def brief_sentences(brief: Brief) -> list[str]:
    """The body's sentences (pysbd, as the index cuts them), stripped."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    return [s.strip() for part in brief.body for s in segmenter.segment(part) if s.strip()]


def squash(text: str) -> str:
    """Whitespace collapsed, for 'verbatim modulo whitespace' checks."""
    return " ".join(text.split())


def sentence_containing(brief: Brief, needle: str) -> str:
    return next(s for s in brief_sentences(brief) if needle in s)


# ----------------------------------------------------------------------------- PDF

_SOFT_HYPHEN_WORD = re.compile(r"[A-Za-z]{7,}")


def _soft_hyphens(text: str) -> str:
    """Soft hyphens in every long word, every three letters (at least three
    letters on either side): a narrow column then breaks many words."""

    def hyphenate(match: re.Match[str]) -> str:
        word = match.group(0)
        cuts = range(3, len(word) - 2, 3)
        pieces = [word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True)]
        return "\u00ad".join(pieces)

    return _SOFT_HYPHEN_WORD.sub(hyphenate, text)


def brief_print_html(brief: Brief, *, soft_hyphens: bool = True) -> str:
    """The brief as a page laid out for print: page 1 the header and the bullets;
    page 2 the first paragraph; page 3 a spacer and the first two lines of the
    second paragraph, which goes on to page 4; the rest flows."""

    def esc(text: str) -> str:
        escaped = html.escape(text)
        return _soft_hyphens(escaped) if soft_hyphens else escaped

    bullets = "".join(f"<li>{esc(b)}</li>" for b in brief.bullets)
    first, second, *rest = brief.paragraphs
    spacer = (_LINES_PER_PAGE - 2) * _LINE_PX
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(brief.title)}</title>
<style>
  html, body {{ margin: 0; padding: 0; }}
  body {{ font-family: "DejaVu Serif", serif; font-size: 12px; line-height: {_LINE_PX}px;
         width: 70mm; text-align: justify; hyphens: manual; orphans: 1; widows: 1; }}
  p {{ margin: 0 0 {_LINE_PX}px 0; }}
  li {{ margin: 0; }}
  ul {{ margin: 0 0 {_LINE_PX}px 0; padding-left: 12px; }}
  h1 {{ font-size: 14px; line-height: {_LINE_PX}px; margin: 0 0 {_LINE_PX}px 0;
        text-align: left; }}
  h2 {{ font-size: 12px; line-height: {_LINE_PX}px; margin: 0 0 {_LINE_PX}px 0; }}
  .series {{ font-weight: bold; margin: 0; }}
  .page {{ break-before: page; }}
  .spacer {{ height: {spacer}px; }}
</style></head><body>
<p class="series">{html.escape(brief.series)}</p>
<p>{html.escape(brief.date_line)}</p>
<h1>{html.escape(brief.title)}</h1>
<h2>{html.escape(brief.bluf_heading)}</h2>
<ul>{bullets}</ul>
<p class="page">{esc(first)}</p>
<div class="page spacer"></div>
<p>{esc(second)}</p>
{"".join(f"<p>{esc(p)}</p>" for p in rest)}
</body></html>"""


def _header_footer() -> tuple[str, str]:
    style = "font-size:8px; width:100%; text-align:center; font-family:sans-serif;"
    header = f'<div style="{style}">{html.escape(PDF_HEADER)}</div>'
    footer = (
        f'<div style="{style}">{html.escape(PDF_FOOTER)} <span class="pageNumber"></span>'
        ' of <span class="totalPages"></span></div>'
    )
    return header, footer


def print_brief_pdfs(brief: Brief, folder: Path) -> dict[str, bytes]:
    """The brief printed by headless Chromium (one browser, ~2 s in all) on
    110 × 170 mm pages with a running header and footer and bookmarks:

    - "brief.pdf": soft hyphens in long words, so many lines end hyphenated;
    - "plain.pdf": the same without them (lines break at spaces and hyphens);
    - "scan.pdf": a screenshot of the text, printed: pictures only, no text layer.
    """
    from playwright.sync_api import sync_playwright

    header, footer = _header_footer()
    jobs = {
        "brief.pdf": brief_print_html(brief, soft_hyphens=True),
        "plain.pdf": brief_print_html(brief, soft_hyphens=False),
    }
    made: dict[str, bytes] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 300, "height": 420})
            source = folder / "plain.html"
            source.write_text(jobs["plain.pdf"], encoding="utf-8")
            page.goto(source.as_uri())
            picture = base64.b64encode(page.screenshot()).decode("ascii")
            jobs["scan.pdf"] = (
                '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">'
                f'<img style="width:80mm" src="data:image/png;base64,{picture}"></body></html>'
            )
            for name, markup in jobs.items():
                source = folder / name.replace(".pdf", ".html")
                source.write_text(markup, encoding="utf-8")
                page.goto(source.as_uri())
                made[name] = page.pdf(
                    width="110mm",
                    height="170mm",
                    margin={"top": "20mm", "bottom": "20mm", "left": "15mm", "right": "15mm"},
                    display_header_footer=True,
                    header_template=header,
                    footer_template=footer,
                    outline=True,
                    tagged=True,
                )
        finally:
            browser.close()
    return made


# ---------------------------------------------------------------------------- DOCX


def brief_docx(brief: Brief, *, external_image: str | None = None) -> bytes:
    """The brief as python-docx writes it: Title, date, Heading 1, a bulleted list,
    paragraphs; title, author and date in the core properties; a running header
    and footer (which are not body text). With `external_image`, a picture linked
    (not embedded) from that URL."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml.ns import qn
    from docx.shared import Mm

    document = docx.Document()
    core = document.core_properties
    core.title = brief.title
    core.author = AUTHOR
    core.created = dt.datetime(2024, 8, 16, 9, 0, tzinfo=dt.UTC)
    section = document.sections[0]
    section.header.paragraphs[0].text = PDF_HEADER
    section.footer.paragraphs[0].text = "Confidential draft"
    document.add_paragraph(brief.series)
    document.add_paragraph(brief.date_line)
    document.add_paragraph(brief.title, style="Title")
    document.add_heading(brief.bluf_heading, level=1)
    for bullet in brief.bullets:
        document.add_paragraph(bullet, style="List Bullet")
    for paragraph in brief.paragraphs:
        document.add_paragraph(paragraph)
    if external_image is not None:
        run = document.add_paragraph().add_run()
        run.add_picture(io.BytesIO(_tiny_png()), width=Mm(5))
        rel_id = document.part.relate_to(external_image, RELATIONSHIP_TYPE.IMAGE, is_external=True)
        blip = run._r.xpath(".//a:blip")[0]
        del blip.attrib[qn("r:embed")]
        blip.set(qn("r:link"), rel_id)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _rezip(docx_bytes: bytes, replace: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx_bytes)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info)))
    return out.getvalue()


def docx_with_entities(docx_bytes: bytes, url: str) -> bytes:
    """The document with a DTD declaring external entities (a file and a URL),
    referenced from its text: XXE."""
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as archive:
        xml = archive.read("word/document.xml").decode("utf-8")
    declaration, rest = xml.split("?>", 1)
    doctype = (
        '<!DOCTYPE w:document [<!ENTITY secret SYSTEM "file:///etc/passwd">'
        f'<!ENTITY remote SYSTEM "{url}">]>'
    )
    rest = rest.replace("Bottom Line Up Front", "&secret;&remote;", 1)
    return _rezip(docx_bytes, {"word/document.xml": f"{declaration}?>{doctype}{rest}".encode()})


def docx_bomb(docx_bytes: bytes, megabytes: int) -> bytes:
    """The document with `megabytes` MB of whitespace inside its main XML part:
    a few hundred KB that unpack to far more (a ZIP bomb)."""
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as archive:
        xml = archive.read("word/document.xml")
        others = [(info, archive.read(info)) for info in archive.infolist()]
    head, tail = xml.split(b"<w:body>", 1)
    out = io.BytesIO()
    block = b" " * (1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info, body in others:
            if info.filename != "word/document.xml":
                target.writestr(info.filename, body)
                continue
            with target.open("word/document.xml", "w", force_zip64=True) as member:
                member.write(head + b"<w:body>")
                for _ in range(megabytes):
                    member.write(block)
                member.write(tail)
    return out.getvalue()


def docx_lying_sizes(docx_bytes: bytes) -> bytes:
    """The document with its main part's declared size shrunk to 100 bytes in both
    ZIP headers, so the declared total says small while the data says more."""
    data = bytearray(docx_bytes)
    name = b"word/document.xml"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        name_at = 30 if signature == b"PK\x03\x04" else 46
        position = 0
        while (position := data.find(signature, position)) >= 0:
            length = struct.unpack_from("<H", data, position + 28)[0]
            if data[position + name_at : position + name_at + length] == name:
                struct.pack_into("<I", data, position + size_at, 100)
            position += 4
    return bytes(data)


# ---------------------------------------------------------------------------- HTML


def brief_web_page(brief: Brief) -> str:
    """The brief as a saved article page: navigation, a cookie banner, scripts and
    styles, a related-links list and a footer around the article; title, date and
    author in <title>, Open Graph and JSON-LD."""
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": brief.title,
        "datePublished": "2024-08-16T08:00:00-04:00",
        "author": {"@type": "Organization", "name": AUTHOR},
    }
    import json

    nav = "".join(
        f'<li><a href="/{w.lower()}">{w}</a></li>'
        for w in ["Home", "Research", "IntelBrief", "Events", "About", "Donate"]
    )
    related = "".join(
        f'<li><a href="/intelbrief-{n}">IntelBrief: {t}</a></li>'
        for n, t in enumerate(
            [
                "Quad Foreign Ministers Meet in Tokyo",
                "Typhoon Relief Exposes Gaps in Regional Logistics",
                "North Korea Tests New Solid-Fuel Missile",
            ]
        )
    )
    bullets = "".join(f"<li>{html.escape(b)}</li>" for b in brief.bullets)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in brief.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(brief.title)} | {AUTHOR}</title>
<meta property="og:site_name" content="{AUTHOR}">
<meta property="og:title" content="{html.escape(brief.title)}">
<meta property="og:type" content="article">
<meta property="article:published_time" content="2024-08-16T12:00:00+00:00">
<meta name="author" content="{AUTHOR}">
<link rel="stylesheet" href="/static/site.css">
<style>.cookie-banner {{ position: fixed; bottom: 0; }} nav li {{ display: inline; }}</style>
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}
gtag('js', new Date()); gtag('config', 'G-TRACKER');</script>
<script type="application/ld+json">{json.dumps(ld)}</script>
</head>
<body class="single-post">
<div id="cookie-banner" class="cookie-banner" role="dialog" aria-label="cookie consent">
  <p>We use cookies to improve your experience and analyse traffic.
  By clicking Accept all cookies you agree to our use of cookies.</p>
  <button>Accept all cookies</button> <button>Manage preferences</button>
</div>
<header class="site-header"><a class="logo" href="/">{AUTHOR}</a>
<nav class="main-nav"><ul>{nav}</ul></nav>
<form class="search"><input type="search" placeholder="Search the site"></form></header>
<main>
<article class="post">
<p class="kicker">{html.escape(brief.series)}</p>
<h1 class="entry-title">{html.escape(brief.title)}</h1>
<p class="meta">By <span class="author">{AUTHOR}</span> ·
<time datetime="2024-08-16">{html.escape(brief.date_line)}</time></p>
<div class="entry-content">
<h2>{html.escape(brief.bluf_heading)}</h2>
<ul>{bullets}</ul>
{body}
</div>
</article>
<aside class="related-posts"><h3>Related IntelBriefs</h3><ul>{related}</ul></aside>
</main>
<footer class="site-footer"><p>© 2024 {AUTHOR}. All rights reserved.</p>
<nav><a href="/privacy">Privacy policy</a> · <a href="/contact">Contact us</a> ·
<a href="/newsletter">Subscribe to our newsletter</a></nav></footer>
<script>document.querySelector('#cookie-banner button').onclick = function () {{
  document.cookie = 'consent=1'; }};</script>
</body></html>"""


def nested_html(megabytes: float) -> bytes:
    """A page of `megabytes` MB that is nothing but nested <div>s."""
    count = int(megabytes * 1_000_000) // len(b"<div>")
    return b"<!DOCTYPE html><html><body>" + b"<div>" * count + b"deep" + b"</body></html>"


# ---------------------------------------------------------------------- hostile PDFs

_PDF_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _pdf_file(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF from numbered object bodies (1-based), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\n" % (len(objects) + 1, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n" % (dictionary, len(data)) + data + b"\nendstream"


def encrypted_pdf(text: str, user_password: bytes = b"secret") -> bytes:
    """A one-page PDF encrypted with the standard security handler (RC4, 40-bit,
    revision 2): it opens only with `user_password`."""
    owner_key = hashlib.md5((b"owner" + _PDF_PAD)[:32]).digest()[:5]
    owner = _rc4(owner_key, (user_password + _PDF_PAD)[:32])
    permissions = -4
    file_id = hashlib.md5(b"alliance-assistant").digest()
    key = hashlib.md5(
        (user_password + _PDF_PAD)[:32] + owner + struct.pack("<i", permissions) + file_id
    ).digest()[:5]
    user = _rc4(key, _PDF_PAD)

    def seal(number: int, data: bytes) -> bytes:
        object_key = hashlib.md5(key + struct.pack("<i", number)[:3] + b"\x00\x00").digest()[:10]
        return _rc4(object_key, data)

    content = b"BT /F1 12 Tf 72 700 Td (%s) Tj ET" % text.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(b"", seal(4, content)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner.hex().encode(), user.hex().encode(), permissions),
    ]
    return _pdf_file(objects, b"/Encrypt 6 0 R /ID [<%s> <%s>] " % ((file_id.hex().encode(),) * 2))


def flate_bomb_pdf(megabytes: int) -> bytes:
    """A one-page PDF whose content stream is `megabytes` MB of spaces, deflated
    to about a thousandth of that."""
    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    packed = b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        _stream(b"/Filter /FlateDecode", packed),
    ]
    return _pdf_file(objects)


def many_pages_pdf(pages: int) -> bytes:
    """A PDF of `pages` blank pages written by PDFium (pypdfium2)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(612, 792).close()
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def repeated_pdf(pdf: bytes, times: int) -> bytes:
    """`pdf`'s pages `times` over, one document (PDFium's page import)."""
    import pypdfium2 as pdfium

    source = pdfium.PdfDocument(pdf)
    document = pdfium.PdfDocument.new()
    for _ in range(times):
        document.import_pages(source)
    out = io.BytesIO()
    document.save(out)
    document.close()
    source.close()
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """A PDF header, then noise, then an end marker."""
    return b"%PDF-1.7\n" + random.Random(12).randbytes(20_000) + b"\n%%EOF\n"
