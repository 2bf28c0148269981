"""PDF, HTML and Word extraction (issue #12): the brief printed by Chromium, saved
as a web page and written by python-docx comes back sentence for sentence, with
the right pages, without running headers, footers or page furniture; bad and
hostile files give a clear reason, never a crash or a hang."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.ingest.formats import (
    Extracted,
    ExtractLimits,
    chars_in_range,
    extract,
    named_format,
    page_of,
    render_page,
    sniff_kind,
)
from assistant.ingest.formats.text import clean as _clean
from assistant.ingest.formats.text import clean_mapped as _clean_mapped

from .. import formats_fixtures as ff

HAS_CHROMIUM = Path(ff.CHROMIUM).exists()


@dataclass(frozen=True)
class Documents:
    brief: ff.Brief
    pdf: bytes  # soft hyphens: many lines end hyphenated
    plain_pdf: bytes
    scan_pdf: bytes
    docx: bytes
    html: bytes


@pytest.fixture(scope="session")
def brief() -> ff.Brief:
    return ff.load_brief()


@pytest.fixture(scope="session")
def docs(tmp_path_factory: pytest.TempPathFactory, brief: ff.Brief) -> Documents:
    if not HAS_CHROMIUM:
        pytest.skip(f"{ff.CHROMIUM} is needed to print the PDF fixtures (make browser)")
    folder = tmp_path_factory.mktemp("formats")
    pdfs = ff.print_brief_pdfs(brief, folder)
    return Documents(
        brief=brief,
        pdf=pdfs["brief.pdf"],
        plain_pdf=pdfs["plain.pdf"],
        scan_pdf=pdfs["scan.pdf"],
        docx=ff.brief_docx(brief),
        html=ff.brief_web_page(brief).encode("utf-8"),
    )


@pytest.fixture(scope="session")
def pdf_result(docs: Documents) -> Extracted:
    return extract(docs.pdf, ".pdf")


def _pdfium_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "\f".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def _assert_all_sentences(result: Extracted, brief: ff.Brief) -> None:
    text = ff.squash(result.text)
    missing = [s for s in ff.brief_sentences(brief) if ff.squash(s) not in text]
    assert not missing, missing


# ------------------------------------------------------------------------------ PDF


@pytest.mark.parametrize("which", ["pdf", "plain_pdf"])
def test_pdf_text_layer_holds_every_sentence_and_paragraph(docs: Documents, which: str) -> None:
    result = extract(getattr(docs, which), ".pdf")
    assert result.kind == "pdf"
    _assert_all_sentences(result, docs.brief)
    # Lines of a paragraph are joined, across the page breaks too: each of the
    # brief's paragraphs is one line of the text layer, character for character.
    lines = result.text.split("\n")
    for paragraph in docs.brief.paragraphs:
        assert paragraph in lines
    for bullet in docs.brief.bullets:
        assert bullet in lines


def test_pdf_pages_are_exact(docs: Documents, pdf_result: Extracted) -> None:
    pages = pdf_result.pages
    assert pages is not None
    assert pages[0] == 0
    assert len(pages) == len(pdfium.PdfDocument(docs.pdf)) == 7
    text = pdf_result.text

    def pages_of(needle: str) -> tuple[int, int]:
        sentence = ff.sentence_containing(docs.brief, needle)
        start = text.index(sentence)
        return page_of(pages, start), page_of(pages, start + len(sentence) - 1)

    # Page 1: the header and the bullets; page 2: the first paragraph.
    assert page_of(pages, text.index(docs.brief.title)) == 1
    assert pages_of("rapprochement between Japan and South Korea has made significant") == (1, 1)
    assert pages_of("Last month, the United States") == (2, 2)
    assert pages_of("During the so-called 2+2 dialogue") == (2, 2)
    # Page 3 shows two lines of the second paragraph, which goes on to page 4:
    # its first sentence straddles the break and starts on page 3.
    assert pages_of("The Joint Statement released following the bilateral") == (3, 4)
    assert pages_of("Advanced Medium-Range Air-to-Air Missiles") == (4, 4)
    assert pages_of("Enhanced co-production") == (4, 4)
    last = ff.brief_sentences(docs.brief)[-1]
    assert page_of(pages, text.rindex(last)) == 7
    # Every page starts where the first word PDFium reads on it begins.
    raw = _pdfium_text(docs.pdf).split("\f")
    for number, start in enumerate(pages[1:], start=2):
        assert text[start:].startswith(raw[number - 1].split()[0]), number


def test_pdf_drops_running_header_footer_and_page_numbers(
    docs: Documents, pdf_result: Extracted
) -> None:
    raw = _pdfium_text(docs.pdf)
    assert raw.count(ff.PDF_HEADER) == 7
    assert raw.count(ff.PDF_FOOTER) == 7
    assert ff.PDF_HEADER not in pdf_result.text
    assert "Page 3 of 7" not in pdf_result.text
    assert ff.PDF_FOOTER not in pdf_result.text
    assert "INTELBRIEF" in pdf_result.text  # the series line at the top of page 1 stays


def test_pdf_hyphenation_joined_and_real_hyphens_kept(
    docs: Documents, pdf_result: Extracted
) -> None:
    raw = _pdfium_text(docs.pdf)
    # Chromium hyphenates at the soft hyphens with U+2010; lines end with it often.
    assert raw.count("\u2010\r\n") >= 20
    assert "\u2010" not in pdf_result.text
    assert "\u00ad" not in pdf_result.text
    for word in ("reconstitute", "rapprochement", "significant", "bolstering", "integrate"):
        assert word in pdf_result.text
    # "co-" ends page 3 with a real hyphen, which stays.
    assert "increase co\ufffe" in raw or "increase co-\r\n" in raw
    assert "co-development" in pdf_result.text
    plain = extract(docs.plain_pdf, ".pdf")
    for compound in ("Medium-Range", "Air-to-Air", "PAC-3", "co-production", "Indo-Pacific"):
        assert compound in pdf_result.text
        assert compound in plain.text


def test_pdf_title_and_sections(docs: Documents, pdf_result: Extracted) -> None:
    assert pdf_result.title == docs.brief.title
    assert pdf_result.date is None  # a PDF's /CreationDate is when it was printed
    headings = [heading for _, heading in pdf_result.sections]
    assert headings == [docs.brief.title, docs.brief.bluf_heading]
    for offset, heading in pdf_result.sections:
        assert pdf_result.text[offset : offset + len(heading)] == heading
        assert page_of(pdf_result.pages or [0], offset) == 1


@pytest.mark.parametrize("which", ["pdf", "plain_pdf"])
def test_pdf_char_runs_point_at_the_glyphs_read(docs: Documents, which: str) -> None:
    data = getattr(docs, which)
    result = extract(data, ".pdf")
    assert result.char_runs is not None
    document = pdfium.PdfDocument(data)
    textpages = [document[i].get_textpage() for i in range(len(document))]
    mapped: set[int] = set()
    for offset, length, page, char in result.char_runs:
        for k in range(length):
            letter = result.text[offset + k]
            code = pdfium.raw.FPDFText_GetUnicode(textpages[page].raw, char + k)
            glyph = "-" if code == 2 else chr(code)  # 2: PDFium's mark for a line-end "-"
            if letter == " ":
                assert glyph.isspace(), (offset + k, glyph)
            else:  # a ligature's letters both point at its glyph
                assert letter in _clean(glyph) or (letter, glyph) == ("-", "\u2010"), (
                    offset + k,
                    letter,
                    glyph,
                )
            mapped.add(offset + k)
    # Every letter has its glyph; only spaces and line breaks the joining inserted have none.
    assert all(c.isspace() for i, c in enumerate(result.text) if i not in mapped)
    # A run never crosses a page, and pages come in order along the text.
    pages = [page for _, _, page, _ in result.char_runs]
    assert pages == sorted(pages)
    for offset, _, page, _ in result.char_runs:
        assert page_of(result.pages or [0], offset) == page + 1
    document.close()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab fi\ufb01\ufb03\u00ad\t\n\x00\x1f\u00a0\ufeff -.")))
def test_clean_mapped_is_clean(text: str) -> None:
    where = list(range(len(text)))
    clean, places = _clean_mapped(text, where)
    assert clean == _clean(text)
    assert len(places) == len(clean)
    assert places == sorted(places)
    for letter, place in zip(clean, places, strict=True):
        assert letter in _clean(text[place]) or (letter == " " and text[place].isspace())


def test_render_page_boxes_are_pdfiums_char_boxes(docs: Documents, pdf_result: Extracted) -> None:
    text = pdf_result.text
    start = text.index("The Joint Statement released following the bilateral")
    end = text.index("increased cooperation.", start) + len("increased cooperation.")
    assert pdf_result.char_runs is not None
    by_page = chars_in_range(pdf_result.char_runs, start, end)
    assert sorted(by_page) == [2, 3]  # pages 3 and 4: the excerpt runs over the break
    document = pdfium.PdfDocument(docs.pdf)
    seen = ""
    for page_index, chars in by_page.items():
        image = render_page(docs.pdf, page_index, chars)
        textpage = document[page_index].get_textpage()
        assert image.chars == chars
        assert image.char_boxes == [textpage.get_charbox(c, loose=True) for c in chars]
        assert len(image.boxes) == len(chars)
        assert image.png.startswith(b"\x89PNG")
        assert image.width == 900
        seen += "".join(textpage.get_text_range(c, 1) for c in chars)
    # The glyphs boxed are the excerpt's, in order (PDFium's spaces and hyphens aside).
    assert _letters(seen) == _letters(text[start:end])
    document.close()


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def test_named_format() -> None:
    assert named_format(b"%PDF-1.7 ...") == "a PDF"
    assert named_format(ff._tiny_png()) == "a PNG image"
    assert named_format(b"<!DOCTYPE html><p>markup in a text file is text</p>") is None
    assert named_format("Café".encode("latin-1")) is None  # left to the text decoder
    assert named_format(b"plain words") is None
    assert named_format(b"A note: every PDF opens with %PDF-1.7, then objects.") is None
    assert named_format(b"\x00junk %PDF-1.7 \xff") == "a PDF"


def test_isolated_and_in_process_agree(docs: Documents, pdf_result: Extracted) -> None:
    assert extract(docs.pdf, ".pdf", isolate=False) == pdf_result
    assert extract(docs.docx, ".docx", isolate=False) == extract(docs.docx, ".docx")


# ----------------------------------------------------------------------------- DOCX


def test_docx_paragraphs_headings_and_lists_in_order(docs: Documents) -> None:
    result = extract(docs.docx, ".docx")
    assert result.kind == "docx"
    assert result.pages is None
    _assert_all_sentences(result, docs.brief)
    brief = docs.brief
    expected = [
        brief.series,
        brief.date_line,
        brief.title,
        brief.bluf_heading,
        *(f"- {bullet}" for bullet in brief.bullets),
        *brief.paragraphs,
    ]
    assert result.text.split("\n") == expected
    # The text layer is the brief's own text file, but for the list marks.
    assert result.text == ff.BRIEF_PATH.read_text(encoding="utf-8").rstrip("\n")
    assert result.sections == [
        (result.text.index(brief.title), brief.title),
        (result.text.index(brief.bluf_heading), brief.bluf_heading),
    ]
    assert (result.title, result.date, result.author) == (brief.title, ff.DATE, ff.AUTHOR)
    assert ff.PDF_HEADER not in result.text
    assert "Confidential draft" not in result.text


def test_docx_without_core_properties_and_with_a_table() -> None:
    import docx

    document = docx.Document()  # python-docx's template: author "python-docx", 2013 date
    document.add_heading("Basing review", level=2)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Site"
    table.cell(0, 1).text = "Units"
    table.cell(1, 0).text = "Kadena Air Base"
    table.cell(1, 1).text = "18th Wing"
    document.add_paragraph("The table lists one site.")
    out = io.BytesIO()
    document.save(out)
    result = extract(out.getvalue(), "docx")
    assert result.text.split("\n") == [
        "Basing review",
        "Site",
        "Units",
        "Kadena Air Base",
        "18th Wing",
        "The table lists one site.",
    ]
    assert (result.title, result.date, result.author) == (None, None, None)
    assert result.sections == [(0, "Basing review")]


# ----------------------------------------------------------------------------- HTML


def test_html_main_text_without_clutter(docs: Documents) -> None:
    result = extract(docs.html, ".html")
    assert result.kind == "html"
    _assert_all_sentences(result, docs.brief)
    lines = result.text.split("\n")
    for paragraph in docs.brief.paragraphs:
        assert paragraph in lines
    for bullet in docs.brief.bullets:
        assert f"- {bullet}" in lines
    for clutter in (
        "cookies",
        "Accept all",
        "Donate",
        "Search the site",
        "Related IntelBriefs",
        "Typhoon Relief",
        "All rights reserved",
        "Privacy policy",
        "newsletter",
        "gtag",
        "dataLayer",
        "position: fixed",
        "@context",
    ):
        assert clutter not in result.text, clutter
    assert (result.title, result.date, result.author) == (docs.brief.title, ff.DATE, ff.AUTHOR)
    assert (result.text.index(docs.brief.bluf_heading), docs.brief.bluf_heading) in (
        result.sections
    )


def _page(head: str) -> bytes:
    paragraphs = "".join(
        f"<p>Paragraph {n} of the note on alliance logistics, long enough to be the main "
        "text of the page rather than boilerplate around it.</p>"
        for n in range(6)
    )
    body = f"<body><article><h1>Heading in the text</h1>{paragraphs}</article></body>"
    return f"<!DOCTYPE html><html><head>{head}</head>{body}</html>".encode()


@pytest.mark.parametrize(
    ("head", "title", "date", "author"),
    [
        (
            "<title>Page title | Example Site</title>"
            '<meta property="og:site_name" content="Example Site">'
            '<meta property="og:title" content="Open Graph title">'
            '<meta property="article:published_time" content="2023-11-02T10:00:00Z">'
            '<meta name="author" content="Meta Author">'
            '<script type="application/ld+json">{"@type": "NewsArticle", "headline": '
            '"JSON-LD headline", "datePublished": "2024-01-05", "author": '
            '[{"name": "Ada One"}, {"name": "Bo Two"}]}</script>',
            "JSON-LD headline",
            dt.date(2024, 1, 5),
            "Ada One, Bo Two",
        ),
        (
            "<title>Page title | Example Site</title>"
            '<meta property="og:site_name" content="Example Site">'
            '<meta property="og:title" content="Open Graph title">'
            '<meta property="article:published_time" content="2023-11-02T10:00:00Z">'
            '<meta name="author" content="Meta Author">',
            "Open Graph title",
            dt.date(2023, 11, 2),
            "Meta Author",
        ),
        (
            '<title>Page title | Example Site</title><meta property="og:site_name" '
            'content="Example Site">',
            "Page title",
            None,
            None,
        ),
    ],
)
def test_html_metadata_before_heuristics(
    head: str, title: str, date: dt.date | None, author: str | None
) -> None:
    result = extract(_page(head), ".html")
    assert (result.title, result.date, result.author) == (title, date, author)
    assert "Paragraph 5 of the note" in result.text


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_html_without_a_declared_charset(encoding: str) -> None:
    paragraphs = "".join(
        f"<p>Japan’s “alliance” — paragraph {n}, long enough to be the main text of the "
        "page rather than the boilerplate around it.</p>"
        for n in range(5)
    )
    page = f"<!DOCTYPE html><html><body><article>{paragraphs}</article></body></html>"
    result = extract(page.encode(encoding), ".html")
    assert result.text.startswith("Japan’s “alliance” — paragraph 0")


# --------------------------------------------------------------------------- sniffing


def _zip(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


def test_sniff_kind_reads_the_content(docs: Documents) -> None:
    assert sniff_kind(docs.pdf, ".pdf") == "pdf"
    assert sniff_kind(docs.pdf, "PDF") == "pdf"
    assert sniff_kind(docs.docx, ".docx") == "docx"
    assert sniff_kind(docs.html, ".html") == "html"
    assert sniff_kind(docs.html, ".htm") == "html"
    assert sniff_kind(b"<p>A fragment</p> of a page", ".html") == "html"
    assert sniff_kind(b"Plain words.", ".txt") == "text"
    assert sniff_kind(b"<div>markup in markdown</div>", ".md") == "text"
    assert sniff_kind(b"", ".txt") == "text"
    assert sniff_kind(docs.pdf, ".bin") == "pdf"  # an unknown extension: content decides
    assert sniff_kind(ff._tiny_png(), "") is None


@pytest.mark.parametrize(
    ("content", "suffix", "says"),
    [
        ("pdf", ".docx", "extension says .docx but content is a PDF"),
        ("docx", ".pdf", "extension says .pdf but content is a Word document (DOCX)"),
        ("html", ".pdf", "extension says .pdf but content is an HTML page"),
        ("pdf", ".html", "extension says .html but content is a PDF"),
        ("docx", ".txt", "extension says .txt but content is a Word document (DOCX)"),
        ("png", ".pdf", "extension says .pdf but content is a PNG image"),
        ("text", ".pdf", "extension says .pdf but content is plain text"),
        ("empty", ".docx", "extension says .docx but content is an empty file"),
        ("xlsx", ".docx", "extension says .docx but content is an Excel workbook (XLSX)"),
        ("zip", ".docx", "extension says .docx but content is a ZIP archive"),
        ("ole2", ".docx", "legacy or password-protected Office file (OLE2)"),
    ],
)
def test_extension_that_lies(docs: Documents, content: str, suffix: str, says: str) -> None:
    data = {
        "pdf": docs.pdf,
        "docx": docs.docx,
        "html": docs.html,
        "png": ff._tiny_png(),
        "text": b"Just a few words of text.",
        "empty": b"",
        "xlsx": _zip(["[Content_Types].xml", "xl/workbook.xml"]),
        "zip": _zip(["notes/readme.xml"]),
        "ole2": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
    }[content]
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        sniff_kind(data, suffix)
    with pytest.raises(ValueError, match="extension says"):
        extract(data, suffix)


def test_extract_refuses_text_and_unknown_binary() -> None:
    with pytest.raises(ValueError, match="plain text"):
        extract(b"A plain note.", ".txt")
    with pytest.raises(ValueError, match="content is a PNG image"):
        extract(ff._tiny_png(), ".png")


def test_page_of() -> None:
    pages = [0, 10, 10, 25]  # page 3 is empty
    assert [page_of(pages, o) for o in (0, 9, 10, 24, 25, 1000)] == [1, 1, 3, 3, 4, 4]
    with pytest.raises(ValueError, match="start"):
        page_of([], 0)
    with pytest.raises(ValueError, match="start"):
        page_of([3, 10], 4)
    with pytest.raises(ValueError, match=">= 0"):
        page_of([0], -1)
    with pytest.raises(ValueError, match="pages must start"):
        Extracted(text="abc", pages=[1], kind="pdf")
    with pytest.raises(ValueError, match="section offsets"):
        Extracted(text="abc", sections=[(2, "b"), (0, "a")], kind="html")


# ---------------------------------------------------------------------- hostile files


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []  # noqa: RUF012 - shared by the handler instances

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"fetched")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request it gets."""
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    finally:
        server.shutdown()
        server.server_close()


def test_encrypted_pdf(docs: Documents) -> None:
    sealed = ff.encrypted_pdf("Patriot PAC-3 Missile Segment Enhancements")
    opened = pdfium.PdfDocument(sealed, password="secret")  # a real encrypted file
    assert "PAC-3" in opened[0].get_textpage().get_text_range()
    opened.close()
    with pytest.raises(ValueError, match="encrypted PDF: a password is needed"):
        extract(sealed, ".pdf")


@pytest.mark.parametrize(
    ("make", "suffix", "reason"),
    [
        (lambda d: d.pdf[: len(d.pdf) // 2], ".pdf", "truncated PDF"),
        (lambda d: d.pdf[: len(d.pdf) - 2000] + b"%%EOF\n", ".pdf", "corrupt PDF"),
        (lambda d: ff.corrupt_pdf(), ".pdf", "corrupt PDF: PDFium cannot open it"),
        (lambda d: d.scan_pdf, ".pdf", "no text layer: OCR is not supported"),
        (lambda d: ff.many_pages_pdf(5000), ".pdf", "PDF has 5000 pages; the limit is 2000"),
        (lambda d: ff.flate_bomb_pdf(300), ".pdf", "unpack to more than 200 MB"),
        (lambda d: d.docx[: len(d.docx) // 2], ".docx", "corrupt DOCX: not a readable ZIP"),
        (lambda d: ff.docx_bomb(d.docx, 250), ".docx", "DOCX unpacks to 2.. MB; the limit is 200"),
        (lambda d: ff.docx_lying_sizes(d.docx), ".docx", "corrupt DOCX: word/document.xml"),
        (lambda d: ff.nested_html(50), ".html", "HTML file is 50.0 MB; the limit is 20 MB"),
    ],
    ids=[
        "truncated-pdf",
        "pdf-cut-in-the-middle",
        "corrupt-pdf",
        "scanned-pdf",
        "5000-pages",
        "pdf-flate-bomb",
        "truncated-docx",
        "docx-zip-bomb",
        "docx-lying-sizes",
        "html-50mb-nested",
    ],
)
def test_bad_files_are_skipped_with_a_reason(
    docs: Documents, make: object, suffix: str, reason: str
) -> None:
    data = make(docs)  # type: ignore[operator]
    with pytest.raises(ValueError, match=reason):
        extract(data, suffix)


def test_docx_external_entities_are_refused_and_nothing_fetched(
    docs: Documents, local_server: tuple[str, list[str]]
) -> None:
    url, requests = local_server
    hostile = ff.docx_with_entities(docs.docx, f"{url}/entity")
    with pytest.raises(ValueError, match="declares a DTD"):
        extract(hostile, ".docx")
    with pytest.raises(ValueError, match="declares a DTD"):
        extract(hostile, ".docx", isolate=False)
    assert requests == []


def test_docx_external_image_is_not_fetched(
    docs: Documents, local_server: tuple[str, list[str]]
) -> None:
    url, requests = local_server
    linked = ff.brief_docx(docs.brief, external_image=f"{url}/pixel.png")
    with zipfile.ZipFile(io.BytesIO(linked)) as archive:
        rels = archive.read("word/_rels/document.xml.rels").decode()
    assert f"{url}/pixel.png" in rels
    assert 'TargetMode="External"' in rels
    result = extract(linked, ".docx")
    _assert_all_sentences(result, docs.brief)
    assert "pixel" not in result.text
    assert requests == []


def test_deeply_nested_html_under_the_size_limit_returns() -> None:
    with pytest.raises(ValueError, match="no main text"):
        extract(ff.nested_html(15), ".html")


def test_image_streams_do_not_count_towards_the_unpacked_size(docs: Documents) -> None:
    # The scan's picture unpacks to 378 KB (300 × 420 RGB); text never decodes it.
    with pytest.raises(ValueError, match="no text layer"):
        extract(docs.scan_pdf, ".pdf", ExtractLimits(max_uncompressed_mb=0.1))


def test_in_process_extraction_has_a_soft_deadline(docs: Documents) -> None:
    long_pdf = ff.repeated_pdf(docs.pdf, 30)
    with pytest.raises(ValueError, match=r"took longer than 0\.01 s"):
        extract(long_pdf, ".pdf", ExtractLimits(max_seconds=0.01), isolate=False)


def test_a_dead_worker_is_replaced(docs: Documents) -> None:
    from assistant.ingest.formats import worker as _formats

    extract(docs.html, ".html")
    worker = _formats._ZYGOTE.process
    assert worker is not None
    worker.kill()
    worker.wait()
    _assert_all_sentences(extract(docs.html, ".html"), docs.brief)
    assert _formats._ZYGOTE.process is not worker


def test_limits_are_settings(docs: Documents) -> None:
    with pytest.raises(ValueError, match=r"PDF has 7 pages; the limit is 3 \(max_pages\)"):
        extract(docs.pdf, ".pdf", ExtractLimits(max_pages=3))
    with pytest.raises(ValueError, match=r"the limit is 0.01 MB \(max_uncompressed_mb\)"):
        extract(docs.docx, ".docx", ExtractLimits(max_uncompressed_mb=0.01))
    with pytest.raises(ValueError, match=r"the limit is 0.001 MB \(max_html_mb\)"):
        extract(docs.html, ".html", ExtractLimits(max_html_mb=0.001))
    with pytest.raises(ValueError, match="greater than 0"):
        ExtractLimits(max_seconds=0)


def test_slow_extraction_is_stopped_and_the_next_file_still_works(docs: Documents) -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in docs.brief.paragraphs) * 2500
    page = f"<!DOCTYPE html><html><body><article>{paragraphs}</article></body></html>"
    with pytest.raises(ValueError, match=r"took longer than 0.5 s \(max_seconds\)"):
        extract(page.encode(), ".html", ExtractLimits(max_seconds=0.5))
    _assert_all_sentences(extract(docs.pdf, ".pdf"), docs.brief)


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_workers_answer_is_validated_json_never_unpickled(tmp_path: Path) -> None:
    """The child parses untrusted files: whatever it writes on the pipe is bytes
    for the caller's model to validate, so a pickle it sends runs nothing."""
    import os
    import pickle

    from pydantic import ValidationError

    from assistant.ingest.formats import worker

    marker = tmp_path / "ran"
    read_end, write_end = os.pipe()
    worker._write_frames(write_end, b"ok", pickle.dumps(_RunsCodeWhenUnpickled(marker)))
    os.close(write_end)
    frames = worker._read_frames(read_end, 2, None)
    os.close(read_end)
    assert frames is not None
    assert frames[0] == b"ok"
    with pytest.raises(ValidationError):
        Extracted.model_validate_json(frames[1])
    assert not marker.exists()
    assert not hasattr(worker, "pickle")
