from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant import ABSTAIN_MESSAGE, Citation, ExtractiveGenerator, Span, ask
from assistant._settings import AnswerSettings
from assistant.answer.verify import verify

from ..conftest import SOURCES


def test_answer_sentences_are_verbatim_with_markers(brief_index: Path) -> None:
    answer = ask("What will U.S. Forces Japan become?", index_dir=brief_index)
    assert not answer.abstained
    assert "as a Joint Force Headquarters" in answer.text
    assert answer.text.endswith("]")
    assert verify(answer.text, answer.citations) == answer.text
    for citation in answer.citations:
        text = Path(SOURCES, citation.source).read_text(encoding="utf-8")
        assert text[citation.start : citation.end] == citation.text


@pytest.mark.parametrize(
    "question",
    ["Who wrote Hamlet?", "How do I make a cup of tea?", "What is the GDP of Australia?"],
)
def test_off_topic_questions_abstain(question: str, brief_index: Path) -> None:
    answer = ask(question, index_dir=brief_index)
    assert answer.abstained
    assert answer.text == ABSTAIN_MESSAGE
    assert len(answer.citations) <= 3
    assert answer.relevance < AnswerSettings().abstain_below


@pytest.mark.parametrize(
    ("question", "evidence"),
    [
        ("Is Kishida stepping down?", "decision by Kishida to step down"),
        ("How close is Japan's westernmost island to Taiwan?", "just under 70 miles from Taiwan"),
        ("What did China cut off to Japan in 2010?", "embargo on rare earth mineral exports"),
    ],
)
def test_answerable_paraphrases_do_not_abstain(
    question: str, evidence: str, brief_index: Path
) -> None:
    answer = ask(question, index_dir=brief_index)
    assert not answer.abstained
    assert any(evidence in c.text for c in answer.citations)


def test_verify_drops_sentences_not_in_the_cited_excerpt() -> None:
    citations = [
        Citation(
            rank=1, score=1.0, source="a.txt", title="A", text="Alpha is true. Beta too.",
            start=0, end=24, chunk_id=0, generation="g",
        )
    ]  # fmt: skip
    assert verify("Alpha is true. [1] Gamma is made up. [1] Beta too. [2]", citations) == (
        "Alpha is true. [1]"
    )


class InventingGenerator:
    """A `Generator` that invents one sentence and quotes one correctly."""

    def generate(self, question: str, citations: Sequence[Citation]) -> str:
        quote = citations[0].text[
            citations[0].highlights[0].start - citations[0].start : citations[0].highlights[0].end
            - citations[0].start
        ]
        return f"Japan has 900 aircraft carriers. [1] {quote} [1]"


def test_pluggable_generator_is_verified(brief_index: Path) -> None:
    answer = ask(
        "Who is Japan's defense minister?", index_dir=brief_index, generator=InventingGenerator()
    )
    assert "aircraft carriers" not in answer.text
    assert "Defense Minister Kihara Minoru" in answer.text


def _excerpt(rank: int, source: str, text: str, score: float) -> Citation:
    return Citation(
        rank=rank, score=score, source=source, title=source, text=text, start=0,
        end=len(text), highlights=[Span(start=0, end=len(text))], chunk_id=rank,
        generation="g",
    )  # fmt: skip


REPORTS = [
    _excerpt(
        1, "tokyo.txt", "The carrier Liaoning sailed through the Miyako Strait on May 3.", 0.9
    ),
    _excerpt(
        2, "tokyo.txt", "Officials in Tokyo lodged a protest through diplomatic channels.", 0.85
    ),
    _excerpt(
        3,
        "beijing.txt",
        "On May 3 the Liaoning sailed through the Miyako Strait, state media said.",
        0.5,
    ),
    _excerpt(4, "other.txt", "A cabinet reshuffle took place in the autumn.", 0.4),
]


def test_the_same_fact_in_another_document_is_grouped_not_repeated() -> None:
    text = ExtractiveGenerator(AnswerSettings()).generate("Where did the Liaoning sail?", REPORTS)
    assert text.startswith(
        "The carrier Liaoning sailed through the Miyako Strait on May 3. [1] (also reported in [3])"
    )
    assert "[4]" not in text
    assert verify(text, REPORTS) == text


def test_verify_drops_a_grouping_the_excerpts_do_not_support() -> None:
    first = "The carrier Liaoning sailed through the Miyako Strait on May 3."
    # [4] does not report the fact, [2] is the same document, [9] does not exist
    claimed = f"{first} [1] (also reported in [2], [3], [4], [9])"
    assert verify(claimed, REPORTS) == f"{first} [1] (also reported in [3])"
    assert verify(f"{first} [1] (also reported in [4])", REPORTS) == f"{first} [1]"
