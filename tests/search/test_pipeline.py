from pathlib import Path

import pytest

from assistant import QuestionError, build_index, retrieve
from assistant.search.question import clean_question
from assistant.search.searcher import load_searcher

from ..conftest import BRIEF, SOURCES


def test_citation_fields_and_round_trip(brief_index: Path, brief_text: str) -> None:
    citations = retrieve("Who is Japan's defense minister?", k=5, index_dir=brief_index)
    assert [c.rank for c in citations] == [1, 2, 3, 4, 5]
    assert [c.score for c in citations] == sorted((c.score for c in citations), reverse=True)
    top = citations[0]
    assert top.source == BRIEF
    assert top.title == "U.S. and Japan Announce Plans to Accelerate Alliance Modernization"
    assert top.date is not None
    assert top.date.isoformat() == "2024-08-16"
    assert "Defense Minister Kihara Minoru" in top.text
    for citation in citations:
        text = Path(SOURCES, citation.source).read_text(encoding="utf-8")
        assert text[citation.start : citation.end] == citation.text
        for span in citation.highlights:
            assert citation.start <= span.start < span.end <= citation.end


def test_highlight_is_the_matching_sentence(brief_index: Path, brief_text: str) -> None:
    top = retrieve(
        "What does the command change give the U.S. commander in Japan?", k=3, index_dir=brief_index
    )[0]
    (span,) = top.highlights
    assert brief_text[span.start : span.end].startswith(
        "The long awaited move grants the U.S. commander"
    )


def test_k_beyond_the_corpus(brief_index: Path) -> None:
    searcher = load_searcher(brief_index)
    citations = retrieve("Japan", k=1000, index_dir=brief_index)
    ids = [c.chunk_id for c in citations]
    assert len(ids) == len(set(ids))
    assert all(0 <= i < searcher.generation.index.count for i in ids)
    # only near-duplicates (the summary bullets repeat body sentences) are left out
    assert searcher.generation.index.count - 4 <= len(ids) <= searcher.generation.index.count


def test_near_duplicate_bullet_and_body_are_not_both_returned(brief_index: Path) -> None:
    citations = retrieve("What will U.S. Forces Japan become?", k=5, index_dir=brief_index)
    reconstitute = [
        c for c in citations if "agreed to reconstitute its military headquarters" in c.text
    ]
    assert len(reconstitute) == 1


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x01", "\ud800"])
def test_empty_question_fails_before_any_model_or_index(question: str, tmp_path: Path) -> None:
    # tmp_path holds no index: reaching the index or the model would raise something else
    with pytest.raises(QuestionError, match="the question is empty") as caught:
        retrieve(question, index_dir=tmp_path)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("k", [0, -3, 2.5, "5", True])
def test_bad_k(k: object, brief_index: Path) -> None:
    with pytest.raises(QuestionError, match="k must be"):
        retrieve("Who is Japan's defense minister?", k=k, index_dir=brief_index)  # type: ignore[arg-type]


def test_overlong_question_is_refused_with_a_clear_message(brief_index: Path) -> None:
    with pytest.raises(QuestionError, match=r"100,000 characters long; the limit is 4,000"):
        retrieve("x" * 100_000, index_dir=brief_index)


def test_long_question_within_the_limit_is_truncated_by_the_model(brief_index: Path) -> None:
    question = "Which missiles will the U.S. and Japan co-produce? " + "Patriot " * 450
    assert len(question) < 4000
    citations = retrieve(question, k=3, index_dir=brief_index)
    assert any("Patriot PAC-3" in c.text for c in citations)


def test_control_characters_and_surrogates_are_cleaned() -> None:
    assert clean_question("Who\x00 is\u200b Japan's\ud800 defense\nminister?", 100) == (
        "Who is Japan's defense minister?"
    )


def test_loaded_index_is_cached_and_reloaded_after_a_rebuild(
    sources_copy: Path, tmp_path: Path, embedder
) -> None:
    index_dir = tmp_path / "index"
    build_index(sources_copy, index_dir, embedder=embedder)
    first = load_searcher(index_dir)
    retrieve("Who is Japan's defense minister?", index_dir=index_dir)
    assert load_searcher(index_dir) is first
    (sources_copy / "extra.txt").write_text("Extra Notes\nThe Kadena air base hosts F-15EX jets.\n")
    build_index(sources_copy, index_dir, embedder=embedder)
    hits = retrieve("Which jets are at Kadena?", k=1, index_dir=index_dir)
    assert load_searcher(index_dir) is not first
    assert hits[0].source == "extra.txt"


def test_environment_variable_selects_the_index(
    brief_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX", str(brief_index))
    assert retrieve("Who is Japan's defense minister?", k=1)[0].source == BRIEF
