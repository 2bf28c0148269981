"""`verify` and the "(also reported in [n])" grouping, on hand-made excerpts."""

from assistant import Citation, Span
from assistant.answer.verify import also_reported, reports_same, verify

FACT = "The coast guard escorted four supply boats to the shoal on Tuesday."


def _citation(rank: int, source: str, text: str) -> Citation:
    return Citation(
        rank=rank,
        score=1.0 / rank,
        source=source,
        title=source,
        text=text,
        start=100,
        end=100 + len(text),
        highlights=[Span(start=100, end=100 + len(text))],
        chunk_id=rank,
        generation="g",
    )


CITATIONS = [
    _citation(1, "a.txt", FACT),
    _citation(2, "b.txt", "On Tuesday the coast guard escorted supply boats to the shoal."),
    _citation(3, "a.txt", FACT),  # the same document: not another report
    _citation(4, "c.txt", "Typhoon relief reached the northern provinces."),
]


def test_also_reported_names_other_documents_reporting_the_fact() -> None:
    assert reports_same(FACT, "a.txt", CITATIONS[1])
    assert not reports_same(FACT, "a.txt", CITATIONS[2])
    assert not reports_same("Boats went there.", "a.txt", CITATIONS[1])  # too few terms
    assert also_reported(FACT, CITATIONS[0], CITATIONS) == " (also reported in [2])"
    # [2] reports it too, but ranks above [3]: only lower ranks are grouped
    assert also_reported(FACT, CITATIONS[2], CITATIONS) == ""


def test_verify_keeps_verbatim_sentences_and_true_groupings() -> None:
    text = f"{FACT} [1] (also reported in [2], [4]) Made up. [4] {FACT} [9]"
    assert verify(text, CITATIONS) == f"{FACT} [1] (also reported in [2])"


def test_highlight_texts_cut_the_excerpt_at_absolute_offsets() -> None:
    citation = _citation(1, "a.txt", "First sentence. Second one.").model_copy(
        update={"highlights": [Span(start=116, end=127), Span(start=100, end=115)]}
    )
    assert citation.highlight_texts() == ["Second one.", "First sentence."]
