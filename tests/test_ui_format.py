import datetime as dt

from assistant import Answer, Citation, ExcerptContext, Span
from ui.format import escape, render_answer, render_citation, render_user

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
