"""PDF, HTML and Word sources through the whole product (issue #12): the brief in
each format answers like the .txt brief, with pages; every citation's offsets
index the stored text layer; the CLI prints pages; the viewer boxes the excerpt's
own glyphs; hostile files are skipped with their reason through `build_index`;
incremental builds extract and embed only what changed; an index built before
these formats stays valid."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from assistant import (
    Citation,
    IndexCorruptError,
    Settings,
    SourcesError,
    build_index,
    context_of,
    index_status,
    retrieve,
    source_text,
    view_source,
)
from assistant.cli import main
from assistant.indexing.generations import MANIFEST, read_generation
from assistant.indexing.text_layers import layer_names
from assistant.ingest import sources as sources_module

from .. import formats_fixtures as ff
from ..conftest import BRIEF, SOURCES
from ..test_cli import run

# Every test here builds or rebuilds an index of several formats (PDFs printed by
# Chromium): the full suite runs them, `make test-fast` does not.
pytestmark = pytest.mark.slow

FORMATS = ("txt", "pdf", "html", "docx")
# Each question, the words that prove an excerpt answers it, and the printed PDF's
# pages that excerpt is on (first, last): see formats_fixtures.brief_print_html.
QUESTIONS = {
    "Which missiles will be co-produced?": ("Advanced Medium-Range Air-to-Air Missiles", (3, 4)),
    "Who attended the 2+2 meeting in Tokyo?": ("28 July meeting between", (2, 2)),
}


@dataclass(frozen=True)
class Corpus:
    sources: Path
    index: Path

    @property
    def source(self) -> str:
        return next(iter(read_generation(self.index).manifest.documents))


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The brief in every format, each made by its real writer."""
    if not Path(ff.CHROMIUM).exists():
        pytest.skip(f"{ff.CHROMIUM} is needed to print the PDF fixtures (make browser)")
    brief = ff.load_brief()
    pdfs = ff.print_brief_pdfs(brief, tmp_path_factory.mktemp("print"))
    return {
        "txt": (SOURCES / BRIEF).read_bytes(),
        "pdf": pdfs["brief.pdf"],
        "plain.pdf": pdfs["plain.pdf"],
        "scan.pdf": pdfs["scan.pdf"],
        "html": ff.brief_web_page(brief).encode("utf-8"),
        "docx": ff.brief_docx(brief),
    }


@pytest.fixture(scope="module")
def corpora(
    tmp_path_factory: pytest.TempPathFactory, printed: dict[str, bytes], embedder
) -> dict[str, Corpus]:
    """One index per format, each of the brief alone (in one index the formats
    would be near-duplicates of each other, and only one would be cited)."""
    made = {}
    for kind in FORMATS:
        root = tmp_path_factory.mktemp(f"brief-{kind}")
        (root / "sources").mkdir()
        (root / "sources" / f"brief.{kind}").write_bytes(printed[kind])
        report = build_index(root / "sources", root / "index", embedder=embedder)
        assert report.added == [f"brief.{kind}"], report.summary()
        made[kind] = Corpus(root / "sources", root / "index")
    return made


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalnum()).lower()


def _pdf_pages(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    try:
        return [_letters(document[i].get_textpage().get_text_range()) for i in range(len(document))]
    finally:
        document.close()


def test_metadata_of_every_format(corpora: dict[str, Corpus]) -> None:
    for kind, corpus in corpora.items():
        record = read_generation(corpus.index).manifest.documents[f"brief.{kind}"]
        assert record.title == ff.TITLE, kind
        assert record.date == ff.DATE, kind  # the PDF's from its date line
        assert record.kind == ("text" if kind == "txt" else kind)
        assert (record.pages is not None) == (kind == "pdf")
    status = index_status(corpora["pdf"].index)
    assert [(d.kind, d.pages) for d in status.sources] == [("pdf", 7)]


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_each_format_cites_the_txt_excerpt_with_its_pages(
    corpora: dict[str, Corpus], printed: dict[str, bytes], question: str
) -> None:
    evidence, (first, last) = QUESTIONS[question]

    def cited(kind: str) -> Citation:
        citations = retrieve(question, k=5, index_dir=corpora[kind].index)
        return next(c for c in citations if evidence in c.text)

    expected = cited("txt")
    assert expected.page is None
    for kind in ("pdf", "html", "docx"):
        citation = cited(kind)
        assert ff.squash(citation.text) == ff.squash(expected.text), kind
        if kind != "pdf":
            assert citation.page is None
            continue
        assert (citation.page, citation.page_end or citation.page) == (first, last)
        assert citation.page_end == (last if last != first else None)
        # PDFium's own text of those pages holds the excerpt's first and last words.
        pages = _pdf_pages(printed["pdf"])
        words = citation.text.split()
        assert _letters(" ".join(words[:4])) in pages[first - 1]
        assert _letters(" ".join(words[-4:])) in pages[last - 1]
        assert citation.section == ff.load_brief().bluf_heading


@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_one_folder_with_every_format_cites_the_excerpt_three_more_ways(
    tmp_path: Path,
    printed: dict[str, bytes],
    embedder,
    question: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's scenario: the brief as text, PDF, web page and Word file in one
    folder. The excerpt is cited once, and its copies are named with their pages."""
    sources = tmp_path / "sources"
    sources.mkdir()
    for kind in FORMATS:
        (sources / f"brief.{kind}").write_bytes(printed[kind])
    build_index(sources, tmp_path / "index", embedder=embedder)
    evidence, (first, _last) = QUESTIONS[question]

    citations = retrieve(question, k=5, index_dir=tmp_path / "index")

    holding = [c for c in citations if evidence in c.text]
    assert len(holding) == 1, [c.source for c in holding]
    (cited,) = holding
    copies = {copy.source: copy for copy in cited.also_in}
    assert {cited.source, *copies} == {f"brief.{kind}" for kind in FORMATS}
    for copy in copies.values():
        text = source_text(copy.source, index_dir=tmp_path / "index", sources_dir=sources)
        assert ff.squash(text[copy.start : copy.end]) == ff.squash(cited.text)
    pdf = copies.get("brief.pdf") or cited
    assert pdf.page == first
    assert main(["ask", question, "--index", str(tmp_path / "index")]) == 0
    printed_answer = capsys.readouterr().out
    assert "    also in " in printed_answer
    assert f"p. {first}" in printed_answer


def test_offsets_round_trip_for_every_chunk_and_citation(corpora: dict[str, Corpus]) -> None:
    for kind, corpus in corpora.items():
        generation = read_generation(corpus.index)
        text = source_text(f"brief.{kind}", index_dir=corpus.index, sources_dir=corpus.sources)
        assert generation.chunks
        for chunk in generation.chunks:
            assert text[chunk.start : chunk.end] == chunk.text, (kind, chunk.id)
            for sentence in chunk.sentences:
                assert chunk.start <= sentence.start <= sentence.end <= chunk.end
        for question in [*QUESTIONS, "Japan", "What did China say?"]:
            for citation in retrieve(question, k=10, index_dir=corpus.index):
                assert text[citation.start : citation.end] == citation.text, kind
                for span in citation.highlights:
                    assert citation.start <= span.start <= span.end <= citation.end
        if kind == "txt":
            assert text == (corpus.sources / "brief.txt").read_text(encoding="utf-8")


def test_source_text_refuses_what_is_not_indexed(corpora: dict[str, Corpus]) -> None:
    corpus = corpora["txt"]
    with pytest.raises(SourcesError, match="is not in the index"):
        source_text("other.txt", index_dir=corpus.index, sources_dir=corpus.sources)


def test_context_and_viewer_of_a_web_page(corpora: dict[str, Corpus]) -> None:
    corpus = corpora["html"]
    citation = retrieve("Which missiles will be co-produced?", k=1, index_dir=corpus.index)[0]
    context = context_of(citation, corpus.sources, index_dir=corpus.index)
    assert context is not None
    text = source_text("brief.html", index_dir=corpus.index)
    # the text layer's words just before and after the excerpt, at most 400 characters
    assert 0 < len(context.before) <= 400
    assert text[: citation.start].endswith(context.before)
    assert 0 < len(context.after) <= 400
    assert text[citation.end :].startswith(context.after)
    view = view_source(citation, index_dir=corpus.index, sources_dir=corpus.sources)
    assert view.kind == "html"
    assert view.excerpt == citation.text
    assert view.pages == []
    assert (view.before + view.excerpt + view.after) in text


def test_viewer_boxes_are_pdfiums_boxes_of_the_excerpt(
    corpora: dict[str, Corpus], printed: dict[str, bytes]
) -> None:
    corpus = corpora["pdf"]
    question = "Which missiles will be co-produced?"
    citation = next(
        c
        for c in retrieve(question, k=5, index_dir=corpus.index)
        if QUESTIONS[question][0] in c.text
    )
    view = view_source(citation, index_dir=corpus.index, sources_dir=corpus.sources)
    assert [page.page_index + 1 for page in view.pages] == [3, 4]
    assert (view.page, view.page_end, view.page_count) == (3, 4, 7)
    document = pdfium.PdfDocument(printed["pdf"])
    boxed = ""
    for page in view.pages:
        textpage = document[page.page_index].get_textpage()
        assert page.chars
        assert page.char_boxes == [textpage.get_charbox(c, loose=True) for c in page.chars]
        boxed += "".join(textpage.get_text_range(c, 1) for c in page.chars)
        # the pixel boxes are those page boxes, scaled onto the image
        scale = page.width / document[page.page_index].get_width()
        for (left, _, right, top), (x0, y0, x1, _) in zip(page.char_boxes, page.boxes, strict=True):
            assert abs(x0 - left * scale) <= 1.5
            assert abs(x1 - right * scale) <= 1.5
            assert abs(y0 - (document[page.page_index].get_height() - top) * scale) <= 1.5
    document.close()
    # exactly the excerpt's glyphs were boxed: the same letters, in order
    assert _letters(boxed) == _letters(citation.text)


def test_viewer_refuses_a_changed_pdf(
    corpora: dict[str, Corpus], printed: dict[str, bytes], tmp_path: Path
) -> None:
    corpus = corpora["pdf"]
    citation = retrieve("Who attended the 2+2 meeting in Tokyo?", k=1, index_dir=corpus.index)[0]
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "brief.pdf").write_bytes(printed["plain.pdf"])  # same name, other bytes
    with pytest.raises(SourcesError, match="changed since the index was built"):
        view_source(citation, index_dir=corpus.index, sources_dir=sources)


@pytest.mark.slow
def test_cli_prints_pages(corpora: dict[str, Corpus]) -> None:
    index = str(corpora["pdf"].index)
    asked = run("ask", "Which missiles will be co-produced?", "--index", index)
    assert asked.returncode == 0, asked.stderr
    assert "brief.pdf pp. 3–4 [" in asked.stdout or "brief.pdf p. " in asked.stdout
    assert "    brief.pdf p. 4 [" in asked.stdout or "    brief.pdf pp. 3–4 [" in asked.stdout
    as_json = json.loads(
        run("ask", "Who attended the 2+2 meeting in Tokyo?", "--json", "--index", index).stdout
    )
    top = next(c for c in as_json["citations"] if "28 July meeting" in c["text"])
    assert (top["page"], top["page_end"], top["kind"]) == (2, None, "pdf")
    plain = run("ask", "Which missiles will be co-produced?", "--index", str(corpora["txt"].index))
    assert " p. " not in plain.stdout


# ------------------------------------------------------------------ hostile files


def _hostile(printed: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """File name → (content, the skip reason it must give)."""
    docx = printed["docx"]
    return {
        "encrypted.pdf": (ff.encrypted_pdf("PAC-3 co-production"), "encrypted PDF"),
        "bomb.pdf": (ff.flate_bomb_pdf(300), "unpack to more than 200 MB"),
        "corrupt.pdf": (ff.corrupt_pdf(), "corrupt PDF"),
        "truncated.pdf": (printed["pdf"][: len(printed["pdf"]) // 2], "truncated PDF"),
        "scan.pdf": (printed["scan.pdf"], "no text layer: OCR is not supported"),
        "thick.pdf": (
            ff.many_pages_pdf(2100),
            "PDF has 2100 pages; the limit is 2000 (ASSISTANT_MAX_PDF_PAGES)",
        ),
        "bomb.docx": (
            ff.docx_bomb(docx, 250),
            "the limit is 200 MB (ASSISTANT_MAX_UNPACKED_MB): a ZIP bomb?",
        ),
        "entities.docx": (ff.docx_with_entities(docx, "http://127.0.0.1:9/x"), "declares a DTD"),
        "truncated.docx": (docx[: len(docx) // 2], "corrupt DOCX"),
        "lying.txt": (printed["pdf"], "extension says .txt but content is a PDF"),
        "lying.pdf": (docx, "extension says .pdf but content is a Word document (DOCX)"),
        "nested.html": (ff.nested_html(15), "no main text found"),
        "huge.html": (ff.nested_html(25), "exceeds the 20.0 MB limit (ASSISTANT_MAX_FILE_MB)"),
        "empty.docx": (b"", "empty file"),
    }


def test_hostile_files_are_skipped_with_their_reason(
    printed: dict[str, bytes], tmp_path: Path, embedder, caplog: pytest.LogCaptureFixture
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(SOURCES / BRIEF, sources / BRIEF)
    (sources / "brief.html").write_bytes(printed["html"])
    hostile = _hostile(printed)
    for name, (data, _) in hostile.items():
        (sources / name).write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="assistant"):
        report = build_index(sources, tmp_path / "index", embedder=embedder)
    reasons = {item.source: item.reason for item in report.skipped}
    assert set(reasons) == set(hostile)
    for name, (_, reason) in hostile.items():
        assert reason in reasons[name], (name, reasons[name])
        assert f"skipped {name}: {reasons[name]}" in report.summary()
        assert f"skipped {name}: {reasons[name]}" in caplog.text
    assert report.added == sorted([BRIEF, "brief.html"])
    top = retrieve("Which missiles will be co-produced?", k=3, index_dir=tmp_path / "index")
    assert {c.source for c in top} <= {BRIEF, "brief.html"}


def test_slow_extraction_is_stopped_and_the_rest_indexed(
    printed: dict[str, bytes], tmp_path: Path, embedder
) -> None:
    brief = ff.load_brief()
    paragraphs = "".join(f"<p>{p}</p>" for p in brief.paragraphs) * 2500
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "slow.html").write_text(
        f"<!DOCTYPE html><html><body><article>{paragraphs}</article></body></html>"
    )
    (sources / "brief.pdf").write_bytes(printed["pdf"])
    base = Settings()
    settings = base.model_copy(
        update={"ingest": base.ingest.model_copy(update={"max_extract_seconds": 2.0})}
    )
    report = build_index(sources, tmp_path / "index", embedder=embedder, settings=settings)
    assert [s.source for s in report.skipped] == ["slow.html"]
    assert "took longer than 2 s (ASSISTANT_MAX_EXTRACT_SECONDS)" in report.skipped[0].reason
    assert report.added == ["brief.pdf"]


def test_limits_come_from_the_environment(
    printed: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "brief.pdf").write_bytes(printed["pdf"])
    monkeypatch.setenv("ASSISTANT_MAX_PDF_PAGES", "3")
    documents, skipped = sources_module.load_documents(tmp_path, limits=Settings.from_env().ingest)
    assert documents == []
    assert skipped[0].reason == "PDF has 7 pages; the limit is 3 (ASSISTANT_MAX_PDF_PAGES)"
    monkeypatch.setenv("ASSISTANT_MAX_PDF_PAGES", "many")
    with pytest.raises(ValueError, match="ASSISTANT_MAX_PDF_PAGES='many' is not valid"):
        Settings.from_env()


# ------------------------------------------------------------- incremental builds


@pytest.fixture
def count_extractions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The suffix of every file the loader hands to the extractor."""
    calls: list[str] = []
    real = sources_module.extract

    def counting(data: bytes, suffix: str, *args: object, **kwargs: object) -> object:
        calls.append(suffix)
        return real(data, suffix, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sources_module, "extract", counting)
    return calls


def _layer_inode(index: Path, sha256: str, kind: str) -> int:
    generation = read_generation(index)
    name, _ = layer_names(sha256, kind)  # type: ignore[arg-type]
    return os.stat(generation.path / name).st_ino


def test_a_changed_pdf_is_the_only_document_extracted_and_embedded(
    printed: dict[str, bytes], tmp_path: Path, embedder, count_extractions: list[str]
) -> None:
    sources, index = tmp_path / "sources", tmp_path / "index"
    sources.mkdir()
    for kind in FORMATS:
        (sources / f"brief.{kind}").write_bytes(printed[kind])
    build_index(sources, index, embedder=embedder)
    assert sorted(count_extractions) == [".docx", ".html", ".pdf"]
    before = read_generation(index).manifest
    docx_inode = _layer_inode(index, before.documents["brief.docx"].sha256, "docx")

    count_extractions.clear()
    again = build_index(sources, index, embedder=embedder)
    assert again.up_to_date
    assert count_extractions == []

    (sources / "brief.pdf").write_bytes(printed["plain.pdf"])  # the PDF changes
    report = build_index(sources, index, embedder=embedder)
    assert count_extractions == [".pdf"]
    assert report.changed == ["brief.pdf"]
    assert sorted(report.unchanged) == ["brief.docx", "brief.html", "brief.txt"]
    after = read_generation(index).manifest
    assert report.chunks_embedded == after.documents["brief.pdf"].chunks
    # the unchanged documents' text layers are the previous generation's files, linked
    assert _layer_inode(index, after.documents["brief.docx"].sha256, "docx") == docx_inode
    old_pdf, _ = layer_names(before.documents["brief.pdf"].sha256, "pdf")
    assert old_pdf not in after.files
    generation = read_generation(index)
    for chunk in generation.chunks:
        text = source_text(chunk.source, index_dir=index, sources_dir=sources)
        assert text[chunk.start : chunk.end] == chunk.text


def test_a_damaged_text_layer_is_reported_and_extracted_again(
    printed: dict[str, bytes], tmp_path: Path, embedder, count_extractions: list[str]
) -> None:
    sources, index = tmp_path / "sources", tmp_path / "index"
    sources.mkdir()
    (sources / "brief.docx").write_bytes(printed["docx"])
    (sources / "brief.txt").write_bytes(printed["txt"])
    build_index(sources, index, embedder=embedder)
    generation = read_generation(index)
    name, _ = layer_names(generation.manifest.documents["brief.docx"].sha256, "docx")
    layer = generation.path / name
    layer.write_bytes(layer.read_bytes().replace(b"Japan", b"Japon", 1))
    with pytest.raises(IndexCorruptError, match="does not match its checksum"):
        source_text("brief.docx", index_dir=index)
    count_extractions.clear()
    report = build_index(sources, index, embedder=embedder)
    assert count_extractions == [".docx"]
    assert report.changed == ["brief.docx"]
    assert "Japan" in source_text("brief.docx", index_dir=index)


def test_an_index_built_before_rich_formats_stays_valid(
    printed: dict[str, bytes], tmp_path: Path, embedder
) -> None:
    sources, index = tmp_path / "sources", tmp_path / "index"
    sources.mkdir()
    (sources / BRIEF).write_bytes(printed["txt"])
    build_index(sources, index, embedder=embedder)
    # Write the manifest as the previous version did: no kind, author, pages, sections.
    generation = read_generation(index)
    manifest = json.loads((generation.path / MANIFEST).read_text())
    for record in manifest["documents"].values():
        for field in ("kind", "author", "pages", "sections"):
            del record[field]
    (generation.path / MANIFEST).write_text(json.dumps(manifest, indent=2))

    old = retrieve("Who attended the 2+2 meeting in Tokyo?", k=3, index_dir=index)
    assert all(c.page is None and c.kind == "text" for c in old)
    assert build_index(sources, index, embedder=embedder).up_to_date
    (sources / "brief.pdf").write_bytes(printed["pdf"])
    report = build_index(sources, index, embedder=embedder)
    assert (report.added, report.unchanged, report.chunks_embedded) == (
        ["brief.pdf"],
        [BRIEF],
        read_generation(index).manifest.documents["brief.pdf"].chunks,
    )
    records = read_generation(index).manifest.documents
    assert (records[BRIEF].kind, records[BRIEF].pages) == ("text", None)
    assert (records["brief.pdf"].kind, len(records["brief.pdf"].pages or [])) == ("pdf", 7)


# ------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def pdf_server(
    tmp_path_factory: pytest.TempPathFactory, printed: dict[str, bytes], embedder
) -> Iterator[tuple[str, Path, Path]]:
    from ui.app import serve

    from ..conftest import DATA
    from ..ui.test_app import _free_port

    root = tmp_path_factory.mktemp("viewer")
    sources = root / "sources"
    sources.mkdir()
    (sources / "brief.pdf").write_bytes(printed["pdf"])
    shutil.copy(DATA / "typhoon-relief.txt", sources / "typhoon-relief.txt")
    build_index(sources, root / "index", embedder=embedder)
    app, url = serve(root / "index", sources, port=_free_port(), block=False)
    yield url, sources, root / "index"
    app.close()


# The share of a box's pixels tinted by the highlight (yellow: red and green
# high, blue low), read from the <img> as the browser decoded it.
_TINTED_SHARE_JS = """
([index, box]) => {
  const image = document.querySelectorAll("#viewer figure img")[index];
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const [left, top, right, bottom] = box;
  const data = context.getImageData(left, top, right - left, bottom - top).data;
  let tinted = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] > 180 && data[i + 1] > 120 && data[i + 2] < 200) tinted += 1;
  }
  return tinted / (data.length / 4);
}
"""


def test_view_handler_opens_only_cited_excerpts(pdf_server: tuple[str, Path, Path]) -> None:
    from ui.app import ChatHandlers

    _, sources, index = pdf_server
    handlers = ChatHandlers(index, sources)
    _, _, turns = handlers.respond("Who attended the 2+2 meeting in Tokyo?", [], 3, [])
    cited = turns[-1]["answer"]["citations"][0]
    request = {"source": cited["source"], "start": cited["start"], "end": cited["end"]}
    shown = handlers.view(json.dumps(request), turns)
    last = cited["page_end"] or cited["page"]
    assert shown.count("<img ") == last - cited["page"] + 1
    assert f'data-page="{cited["page"]}"' in shown
    for hostile in (
        {**request, "start": request["start"] + 1},  # not an excerpt that was cited
        {**request, "source": "../../etc/passwd"},
        {"source": "brief.pdf"},
    ):
        assert "not an excerpt of this conversation" in handlers.view(json.dumps(hostile), turns)
    assert "not an excerpt" in handlers.view("{not json", turns)
    assert "not an excerpt" in handlers.view(json.dumps(request), [])


@pytest.mark.browser
def test_browser_opens_a_pdf_page_with_the_excerpt_boxed(
    pdf_server: tuple[str, Path, Path],
) -> None:
    from playwright.sync_api import sync_playwright

    from ..ui.test_app import ARTIFACTS, CHROMIUM_ARGS

    url, sources, index = pdf_server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=ff.CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        box = page.locator("#question textarea")
        box.fill("Which missiles will be co-produced?")
        box.press("Enter")
        page.wait_for_selector("li.citation", timeout=90_000)
        assert "PDF, 7 pages" in page.locator("#index-status").inner_text()
        items = page.locator("#chat li.citation")
        evidence = QUESTIONS["Which missiles will be co-produced?"][0]
        number = next(i for i in range(items.count()) if evidence in items.nth(i).inner_text())
        assert "pp. 3–4" in items.nth(number).inner_text()
        items.nth(number).locator("a.view-source").click()
        page.wait_for_selector("#viewer figure img", timeout=60_000)
        images = page.locator("#viewer figure img")
        assert images.count() == 2
        assert "pp. 3–4" in page.locator("#viewer").inner_text()
        # what the server drew: the boxes of the excerpt's glyphs (see the test above)
        citation = next(
            c
            for c in retrieve("Which missiles will be co-produced?", k=5, index_dir=index)
            if evidence in c.text
        )
        view = view_source(citation, index_dir=index, sources_dir=sources)
        for number, drawn in enumerate(view.pages):
            image = images.nth(number)
            image.evaluate("e => e.decode()")
            assert image.evaluate("e => e.naturalWidth") == drawn.width
            assert (image.get_attribute("src") or "").startswith("data:image/png;base64,")
            assert json.loads(image.get_attribute("data-boxes") or "") == [
                list(b) for b in drawn.boxes
            ]
            # the highlight is in the picture where those boxes are, and not elsewhere
            words = [b for b in drawn.boxes if b[2] - b[0] > 6]
            tinted = [page.evaluate(_TINTED_SHARE_JS, [number, list(b)]) for b in words]
            assert min(tinted) > 0.5, tinted
            top = min(b[1] for b in drawn.boxes)
            if top > 40:  # a band above the excerpt: page, not highlight
                band = [drawn.boxes[0][0], top - 30, drawn.boxes[0][0] + 200, top - 5]
                assert page.evaluate(_TINTED_SHARE_JS, [number, band]) < 0.05
        page.screenshot(path=str(ARTIFACTS / "viewer-pdf.png"), full_page=False)

        # a text source: its text, the excerpt marked and scrolled into view
        box.fill("How many helicopter sorties did the logistics cell coordinate?")
        box.press("Enter")
        page.wait_for_function(
            "document.querySelector('#chat').innerText.includes('helicopter sorties')",
            timeout=90_000,
        )
        last = page.locator("#chat li.citation").filter(has_text="helicopter sorties").last
        last.locator("a.view-source").click()
        page.wait_for_selector("#viewer .viewer-text mark", timeout=60_000)
        mark = page.locator("#viewer .viewer-text mark")
        assert "forty helicopter sorties" in mark.inner_text()
        page.wait_for_timeout(800)  # the smooth scroll
        inside = page.evaluate(
            """() => {
              const mark = document.querySelector('#viewer .viewer-text mark');
              const box = mark.closest('.viewer-text').getBoundingClientRect();
              const at = mark.getBoundingClientRect();
              return at.top >= box.top - 1 && at.top <= box.bottom
                && at.top >= 0 && at.top <= window.innerHeight;
            }"""
        )
        assert inside
        page.screenshot(path=str(ARTIFACTS / "viewer-text.png"), full_page=False)
        browser.close()
