import json
from pathlib import Path

import pytest

from assistant import AssistantError
from assistant._evaluation import evaluate, holds_evidence, load_eval_items
from assistant._types import Answer, Citation, Span

from .conftest import DEV_QA


def _citation(rank: int, text: str) -> Citation:
    return Citation(
        rank=rank, score=1.0 / rank, source="a.txt", title="A", text=text,
        start=0, end=len(text), chunk_id=rank, generation="g",
        highlights=[Span(start=0, end=len(text))] if rank == 1 else [],
    )  # fmt: skip


class FixedAnswerer:
    """Returns canned excerpts per question (an `Answerer`); abstains when it has none."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def __call__(self, question: str, k: int) -> Answer:
        citations = [_citation(i, t) for i, t in enumerate(self.answers[question][:k], 1)]
        return Answer(
            question=question, text="", citations=citations, abstained=not citations,
            relevance=1.0,
        )  # fmt: skip


def test_metrics_on_canned_results(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a", "question": "q1", "evidence": ["alpha  beta"], "kind": "answerable"},
        {"id": "b", "question": "q2", "evidence": ["gamma"], "kind": "answerable"},
        {"id": "c", "question": "q3", "evidence": ["delta"], "kind": "answerable"},
        {"id": "o", "question": "q4", "evidence": [], "kind": "off_topic"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    answerer = FixedAnswerer(
        {"q1": ["x alpha\nbeta y", "z"], "q2": ["no", "no", "a gamma"], "q3": ["none"], "q4": []}
    )
    report = evaluate(load_eval_items(path), k=5, answerer=answerer)
    assert report.hit_at == {1: 1 / 3, 3: 2 / 3, 5: 2 / 3}
    assert report.mrr == pytest.approx((1 + 1 / 3) / 3)
    assert report.off_topic_empty == 1
    assert report.highlight_at_1 == 1 / 3  # only q1's top excerpt (all highlighted) holds it
    assert report.off_topic_abstained == 1
    assert report.false_abstentions == 0
    assert report.mean_top3_chars == pytest.approx((14 + 1 + 2 + 2 + 7 + 4) / 6)
    assert "missed: c" in report.table()


def test_evidence_matching_normalizes_whitespace() -> None:
    assert holds_evidence("a  28\nJuly meeting", ["a 28 July meeting"])
    assert not holds_evidence("a 28 June meeting", ["a 28 July meeting"])


def test_bad_eval_file(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(AssistantError, match="line 1: not a question record"):
        load_eval_items(tmp_path / "bad.jsonl")
    with pytest.raises(AssistantError, match="cannot read evaluation file"):
        load_eval_items(tmp_path / "missing.jsonl")


def test_dev_set_retrieval_quality(brief_index: Path) -> None:
    """Quality gate on the development questions (k=5): the targets of issue #4."""
    report = evaluate(load_eval_items(DEV_QA), k=5, index_dir=brief_index)
    assert report.answerable == 24
    assert report.hit_at[1] >= 0.95, report.table()
    assert report.hit_at[3] == 1.0, report.table()
    assert report.mrr >= 0.95, report.table()
    assert report.highlight_at_1 >= 0.85, report.table()
    assert report.mean_top3_chars <= 350, report.table()
    assert report.off_topic_abstained == 4, report.table()
    assert report.false_abstentions == 0, report.table()
