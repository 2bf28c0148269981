"""Ingest of PDF, HTML and Word files, side by side in one run; every figure is a
median of `--repeat` runs or a ratio between two measured the same minute.

1. Speed per format: pages per second (PDF) and characters of text layer per
   second, for the brief (printed by Chromium, saved as a web page, written by
   python-docx) and for a copy `--copies` times as long; in-process against the
   isolated worker that `extract` uses by default.
2. What isolation costs per file: the worker (one fork per file) against
   `multiprocessing` pools made per file with the "spawn", "forkserver" and
   "fork" start methods, and against no isolation at all.
3. PDF extractors on the same files: the share of the brief's sentences found
   verbatim (whitespace aside) in each one's text, the share of the brief's long
   words found whole, and pages per second: ours (pypdfium2 plus layout), bare
   pypdfium2, pdfplumber, pdfminer.six and pypdf. Speed also on the PDFs that
   Debian ships under /usr/share/doc, where there are any.
4. The build time of 100 mixed documents (the alliance corpus's 28 articles,
   repeated to 100, a quarter each as .txt, PDF printed by Chromium, saved web
   page and .docx) against the same 100 as .txt in the same minute: a first
   build, an up-to-date build, and a rebuild after one PDF changed.

Needs /usr/bin/chromium; the peers come with the bench extra
(`pip install -e '.[bench]'`); a missing one is reported and skipped.
Run: `python -m benchmarks.ingest [--repeat 3] [--copies 30] [--documents 100]
[--only build]`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import html
import io
import multiprocessing
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from assistant import BuildReport, build_index
from assistant.ingest.formats import Extracted, ExtractLimits, _extract_checked, extract
from assistant.ingest.metadata import read_header
from tests import formats_fixtures as ff

ALLIANCE = Path(__file__).resolve().parent / "data" / "alliance" / "sources"
MIXED = ("txt", "pdf", "html", "docx")

DOC_PDFS = [
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),
]


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclasses.dataclass
class Inputs:
    brief: ff.Brief
    files: dict[str, tuple[bytes, str]]  # name -> (bytes, suffix)


def make_inputs(copies: int, folder: Path) -> Inputs:
    brief = ff.load_brief()
    pdfs = ff.print_brief_pdfs(brief, folder)
    long = dataclasses.replace(brief, paragraphs=brief.paragraphs * copies)
    files = {
        "pdf": (pdfs["brief.pdf"], ".pdf"),
        "plain pdf": (pdfs["plain.pdf"], ".pdf"),
        "docx": (ff.brief_docx(brief), ".docx"),
        "html": (ff.brief_web_page(brief).encode(), ".html"),
        f"pdf ×{copies}": (ff.repeated_pdf(pdfs["brief.pdf"], copies), ".pdf"),
        f"docx ×{copies}": (ff.brief_docx(long), ".docx"),
        f"html ×{copies}": (ff.brief_web_page(long).encode(), ".html"),
    }
    return Inputs(brief, files)


# ------------------------------------------------------------------- 1. per format


def speed_per_format(inputs: Inputs, repeat: int) -> None:
    print("1. Speed per format (median of", repeat, "runs; isolated = the default worker)")
    print(
        f"   {'file':12s} {'pages':>5s} {'chars':>9s} │ {'in-process':>10s} {'pages/s':>8s} "
        f"{'chars/s':>10s} │ {'isolated':>9s} {'pages/s':>8s} {'chars/s':>10s} │ ratio"
    )
    extract(*inputs.files["pdf"])  # start the worker outside the clock
    for name, (data, suffix) in inputs.files.items():
        if name == "plain pdf":
            continue
        result = extract(data, suffix, isolate=False)
        pages = len(result.pages) if result.pages else 0
        here = median_seconds(lambda: extract(data, suffix, isolate=False), repeat)  # noqa: B023
        there = median_seconds(lambda: extract(data, suffix), repeat)  # noqa: B023
        chars = len(result.text)

        def rate(count: int, seconds: float) -> str:
            return f"{count / seconds:,.0f}" if count else "–"

        print(
            f"   {name:12s} {pages or '–':>5} {chars:>9,d} │ {here * 1000:8.1f}ms "
            f"{rate(pages, here):>8s} {rate(chars, here):>10s} │ {there * 1000:7.1f}ms "
            f"{rate(pages, there):>8s} {rate(chars, there):>10s} │ ×{there / here:4.2f}"
        )


# ------------------------------------------------------------- 2. isolation costs


def _pool_per_file(method: str) -> Callable[[str, bytes], Extracted]:
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(
            ["assistant.ingest.formats", "pypdfium2", "docx", "trafilatura"]
        )

    def run(kind: str, data: bytes) -> Extracted:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            job = pool.submit(_extract_checked, kind, data, ExtractLimits())  # type: ignore[arg-type]
            return job.result(60)

    return run


def isolation_costs(inputs: Inputs, repeat: int) -> None:
    print("\n2. What isolation costs per file (median of", max(repeat, 5), "files)")
    repeat = max(repeat, 5)
    cases = [("pdf", inputs.files["pdf"][0]), ("html", inputs.files["html"][0])]
    ways: dict[str, Callable[[str, bytes], object]] = {
        "in-process (no kill, soft deadline)": lambda k, d: extract(d, k, isolate=False),
        "worker, one fork per file (ours)": lambda k, d: extract(d, k),
        "multiprocessing pool per file, spawn": _pool_per_file("spawn"),
        "  … forkserver, preloaded": _pool_per_file("forkserver"),
        "  … fork (unsafe with threads)": _pool_per_file("fork"),
    }
    for way in ways.values():  # warm: worker and forkserver started
        way("pdf", cases[0][1])
    base: dict[str, float] = {}
    print(f"   {'':38s} {'brief.pdf':>16s} {'brief.html':>16s}")
    for label, way in ways.items():
        cells = []
        for kind, data in cases:
            seconds = median_seconds(lambda: way(kind, data), repeat)  # noqa: B023
            base.setdefault(kind, seconds)
            cells.append(f"{seconds * 1000:7.1f}ms ×{seconds / base[kind]:5.1f}")
        print(f"   {label:38s} {cells[0]:>16s} {cells[1]:>16s}")


# ------------------------------------------------------------ 3. PDF extractors


def text_ours(pdf: bytes) -> str:
    return extract(pdf, ".pdf", isolate=False).text


def text_pypdfium2(pdf: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def text_pdfplumber(pdf: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as document:
        return "\n".join(page.extract_text() or "" for page in document.pages)


def text_pdfminer(pdf: bytes) -> str:
    from pdfminer.high_level import extract_text

    return str(extract_text(io.BytesIO(pdf)))


def text_pypdf(pdf: bytes) -> str:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    "ours (pypdfium2 + layout)": text_ours,
    "pypdfium2, bare": text_pypdfium2,
    "pdfplumber": text_pdfplumber,
    "pdfminer.six": text_pdfminer,
    "pypdf": text_pypdf,
}
_LINE_END_HYPHEN = re.compile(r"(\w)[-\u2010\u00ad\ufffe]\s*\n\s*(\w)")


_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}
)


def simple_cleanup(text: str) -> str:
    """Ligatures spelled out, every hyphen at a line end dropped and its word
    joined (real hyphens too): what a caller could add to any extractor."""
    text = text.translate(_LIGATURES).replace("\r\n", "\n").replace("\ufffe", "-\n")
    return _LINE_END_HYPHEN.sub(r"\1\2", text)


def quality(text: str, sentences: list[str], words: set[str]) -> tuple[float, float]:
    squashed = ff.squash(text)
    found = sum(ff.squash(s) in squashed for s in sentences) / len(sentences)
    tokens = set(re.findall(r"[^\W\d_]+", text))
    return found, len(words & tokens) / len(words)


def extractor_comparison(inputs: Inputs, repeat: int) -> None:
    print("\n3. PDF extractors on the same files")
    sentences = ff.brief_sentences(inputs.brief)
    words = {w for part in inputs.brief.body for w in re.findall(r"[^\W\d_]{7,}", part)}
    available: dict[str, Callable[[bytes], str]] = {}
    for name, function in EXTRACTORS.items():
        try:
            function(inputs.files["plain pdf"][0])
        except ImportError as exc:
            print(f"   {name}: not installed ({exc.name}); pip install -e '.[bench]'")
            continue
        available[name] = function
    long_name = next(n for n in inputs.files if n.startswith("pdf ×"))
    long_pdf = inputs.files[long_name][0]
    long_pages = len(extract(long_pdf, ".pdf", isolate=False).pages or [])
    print(
        f"   sentences: share of the brief's {len(sentences)} sentences found verbatim "
        f"(whitespace aside); words: share of its {len(words)} words of 7+ letters found whole"
    )
    print("   raw text / after a simple cleanup (ligatures spelled out, line-end hyphens dropped)")
    header = (
        f"   {'extractor':26s} │ {'brief.pdf (soft hyphens)':^29s} │ "
        f"{'plain.pdf (no soft hyphens)':^29s} │ {long_name + ' pages/s':>14s}"
    )
    print(header)
    print(f"   {'':26s} │ {'sentences':>14s} {'words':>14s} │ {'sentences':>14s} {'words':>14s} │")
    speeds: dict[str, float] = {}
    for name, function in available.items():
        cells = []
        for file in ("pdf", "plain pdf"):
            text = function(inputs.files[file][0])
            raw = quality(text, sentences, words)
            fixed = quality(simple_cleanup(text), sentences, words)
            cells.append(
                f"{raw[0]:6.0%} / {fixed[0]:4.0%}  {raw[1]:6.0%} / {fixed[1]:4.0%}".replace(
                    " /", "/"
                )
            )
        seconds = median_seconds(lambda: function(long_pdf), repeat)  # noqa: B023
        speeds[name] = long_pages / seconds
        print(f"   {name:26s} │ {cells[0]:>29s} │ {cells[1]:>29s} │ {speeds[name]:14,.0f}")
    docs = [path for path in DOC_PDFS if path.exists()]
    if docs:
        print("   pages/s on Debian's own PDFs (TeX and DocBook output):")
        for path in docs:
            data = path.read_bytes()
            pages = len(extract(data, ".pdf", isolate=False).pages or [])
            cells = []
            for function in available.values():
                seconds = median_seconds(lambda: function(data), repeat)  # noqa: B023
                cells.append(f"{pages / seconds:,.0f}")
            print(
                f"     {path.name} ({pages} pages): "
                + ", ".join(
                    f"{name.split(' (')[0]} {cell}"
                    for name, cell in zip(available, cells, strict=True)
                )
            )


# ------------------------------------------------------- 4. building mixed folders


@dataclasses.dataclass(frozen=True)
class Article:
    title: str
    date_line: str
    paragraphs: list[str]


def read_article(path: Path) -> Article:
    """A text or Markdown document as an article to write in another format: its
    title and date as the assistant reads them from its header lines, then the
    lines of its body (Markdown marks dropped)."""
    text = path.read_text(encoding="utf-8")
    header = read_header(text, path.name)
    date = header.date
    date_line = f"{date:%B} {date.day}, {date.year}" if date else ""
    body = [
        line.lstrip("# ").strip() for line in text[header.body_start :].split("\n") if line.strip()
    ]
    return Article(header.title, date_line, body)


def alliance_articles(count: int) -> list[Article]:
    """The alliance corpus's articles, repeated to `count`; each copy gets its own
    closing line, so that no two files have the same content hash."""
    articles = []
    paths = sorted(ALLIANCE.iterdir())
    for number in range(count):
        article = read_article(paths[number % len(paths)])
        closing = f"This is copy {number + 1} of the article, filed for the benchmark."
        articles.append(dataclasses.replace(article, paragraphs=[*article.paragraphs, closing]))
    return articles


def _article_html(article: Article) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(article.title)}'
        f'</title></head><body style="font-family: serif; font-size: 12px; width: 160mm">'
        f"<h1>{html.escape(article.title)}</h1><p>{html.escape(article.date_line)}</p>{body}"
        "</body></html>"
    )


def _article_docx(article: Article) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(article.title, style="Title")
    document.add_paragraph(article.date_line)
    for paragraph in article.paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@contextlib.contextmanager
def chromium_page() -> Iterator[Any]:
    """A page of headless Chromium, to print PDFs with."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=ff.CHROMIUM, headless=True, args=ff.CHROMIUM_ARGS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def write_article(article: Article, path: Path, page: Any) -> None:
    """`article` as the file `path` names: .txt, .html, .docx, or a PDF printed by
    Chromium (`page`)."""
    if path.suffix == ".txt":
        text = "\n".join([article.title, article.date_line, *article.paragraphs])
        path.write_text(text + "\n", encoding="utf-8")
    elif path.suffix == ".html":
        path.write_text(_article_html(article), encoding="utf-8")
    elif path.suffix == ".docx":
        path.write_bytes(_article_docx(article))
    else:
        page.set_content(_article_html(article))
        path.write_bytes(page.pdf(format="A4"))


def _timed_build(sources: Path, index: Path) -> tuple[float, BuildReport]:
    started = time.perf_counter()
    report = build_index(sources, index)
    return time.perf_counter() - started, report


def mixed_build(documents: int) -> None:
    print(f"\n4. Build time of {documents} mixed documents vs the same {documents} as .txt")
    articles = alliance_articles(documents)
    rows = []
    with tempfile.TemporaryDirectory() as scratch, chromium_page() as page:
        for label, kinds in (
            ("mixed: ¼ each .txt .pdf .html .docx", MIXED),
            (".txt only", ("txt",)),
        ):
            sources = Path(scratch) / kinds[-1] / "sources"
            sources.mkdir(parents=True)
            paths = [sources / f"article-{n:03d}.{kinds[n % len(kinds)]}" for n in range(documents)]
            for article, path in zip(articles, paths, strict=True):
                write_article(article, path, page)
            index = sources.parent / "index"
            first, report = _timed_build(sources, index)
            again, _ = _timed_build(sources, index)
            # One document changes: the first PDF (the same article in the .txt folder).
            number = MIXED.index("pdf")
            late = [*articles[number].paragraphs, "A late correction was added."]
            write_article(
                dataclasses.replace(articles[number], paragraphs=late), paths[number], page
            )
            one, changed = _timed_build(sources, index)
            assert changed.changed == [paths[number].name], changed.summary()
            rows.append((label, first, again, one, report.chunks_total))
    head = ("first build", "up to date", "one changed", "passages")
    print(f"   {'':38s} {head[0]:>12s} {head[1]:>11s} {head[2]:>12s} {head[3]:>9s}")
    for label, first, again, one, passages in rows:
        print(f"   {label:38s} {first:11.1f}s {again:10.2f}s {one:11.2f}s {passages:>9d}")
    (_, mixed_first, _, mixed_one, _), (_, text_first, _, text_one, _) = rows
    print(
        f"   mixed / .txt: first build ×{mixed_first / text_first:.2f}, one changed "
        f"×{mixed_one / text_one:.2f}; one changed / first build (mixed) "
        f"{mixed_one / mixed_first:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per median")
    parser.add_argument("--copies", type=int, default=30, help="length of the long copies")
    parser.add_argument("--documents", type=int, default=100, help="files in the build test")
    parser.add_argument("--only", choices=("build",), help="run only this part")
    args = parser.parse_args(argv)
    if args.only != "build":
        with tempfile.TemporaryDirectory() as folder:
            inputs = make_inputs(args.copies, Path(folder))
        speed_per_format(inputs, args.repeat)
        isolation_costs(inputs, args.repeat)
        extractor_comparison(inputs, args.repeat)
    mixed_build(args.documents)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
