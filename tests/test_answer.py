from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant import ABSTAIN_MESSAGE, Citation, ask
from assistant._answer import verify
from assistant._settings import AnswerSettings

from .conftest import SOURCES


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
