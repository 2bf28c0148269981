"""Retrieval metrics over a JSONL question file (`assistant eval`, `benchmarks/`).

Each line: `{"id", "question", "source", "evidence": [...], "kind": "answerable" | "off_topic"}`.
An answerable question is a hit at k when one of its evidence strings appears,
whitespace-normalized, inside one of the top-k excerpts.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._answer import ask
from ._errors import AssistantError
from ._types import Answer

__all__ = ["EvalItem", "EvalReport", "evaluate", "load_eval_items"]

CUTOFFS = (1, 3, 5)


class EvalItem(BaseModel):
    """One question of an evaluation file."""

    model_config = ConfigDict(extra="ignore")

    id: str
    question: str
    source: str | None = None
    evidence: list[str] = Field(default_factory=list)
    kind: Literal["answerable", "off_topic"] = "answerable"


class ItemResult(BaseModel):
    """How one question fared."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    hit_rank: int | None = Field(description="Rank of the first excerpt holding evidence.")
    highlight_hit: bool = Field(description="The top excerpt's highlight holds evidence.")
    abstained: bool
    returned: int = Field(description="Excerpts returned.")
    top_source: str | None


class EvalReport(BaseModel):
    """Aggregate figures; rates are fractions of the answerable questions."""

    model_config = ConfigDict(extra="forbid")

    k: int
    answerable: int
    off_topic: int
    hit_at: dict[int, float]
    mrr: float
    mean_top3_chars: float
    off_topic_empty: int = Field(description="Off-topic questions that returned nothing.")
    highlight_at_1: float = Field(description="Share whose top highlight holds evidence.")
    off_topic_abstained: int
    false_abstentions: int = Field(description="Answerable questions wrongly abstained on.")
    items: list[ItemResult]

    def table(self) -> str:
        """The figures as aligned text lines."""
        lines = [
            f"questions: {self.answerable} answerable, {self.off_topic} off-topic (k={self.k})"
        ]
        lines += [f"hit@{cut}: {rate:.3f}" for cut, rate in self.hit_at.items()]
        lines.append(f"MRR: {self.mrr:.3f}")
        lines.append(f"mean top-3 excerpt length: {self.mean_top3_chars:.0f} chars")
        lines.append(f"highlight@1: {self.highlight_at_1:.3f}")
        lines.append(f"off-topic abstained: {self.off_topic_abstained}/{self.off_topic}")
        lines.append(f"false abstentions: {self.false_abstentions}/{self.answerable}")
        lines.append(f"off-topic with no excerpt: {self.off_topic_empty}/{self.off_topic}")
        misses = [r.id for r in self.items if r.kind == "answerable" and r.hit_rank is None]
        if misses:
            lines.append(f"missed: {', '.join(misses)}")
        return "\n".join(lines)


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace to one space."""
    return " ".join(text.split())


def holds_evidence(excerpt: str, evidence: Sequence[str]) -> bool:
    """True when one evidence string appears (whitespace-normalized) in `excerpt`."""
    flat = normalize_space(excerpt)
    return any(normalize_space(e) in flat for e in evidence if e.strip())


def load_eval_items(path: str | os.PathLike[str]) -> list[EvalItem]:
    """Parse a JSONL question file.

    Raises:
        AssistantError: The file is missing or a line is not a valid question.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AssistantError(f"cannot read evaluation file {path}: {exc}") from None
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate_json(line))
        except ValidationError as exc:
            raise AssistantError(
                f"{path}, line {number}: not a question record ({exc.errors()[0]['msg']})"
            ) from None
    if not items:
        raise AssistantError(f"evaluation file {path} holds no question")
    return items


Answerer = Callable[[str, int], Answer]


def evaluate(
    items: Sequence[EvalItem],
    *,
    k: int = 5,
    index_dir: str | os.PathLike[str] | None = None,
    answerer: Answerer | None = None,
) -> EvalReport:
    """Run every question and compute hit@1/3/5, MRR, excerpt length, highlight@1
    and abstention.

    Args:
        items: Questions from `load_eval_items`.
        k: Excerpts retrieved per question.
        index_dir: Index folder for the default answerer.
        answerer: `(question, k) -> Answer`; defaults to `ask`.

    Returns:
        The aggregate report with one result per question.
    """
    run: Answerer = answerer or (lambda q, n: ask(q, n, index_dir=index_dir))
    results: list[ItemResult] = []
    top3_lengths: list[int] = []
    for item in items:
        answer = run(item.question, k)
        citations = answer.citations
        hit_rank = next((c.rank for c in citations if holds_evidence(c.text, item.evidence)), None)
        if item.kind == "answerable":
            top3_lengths.extend(len(c.text) for c in citations[:3])
        results.append(
            ItemResult(
                id=item.id,
                kind=item.kind,
                hit_rank=hit_rank,
                highlight_hit=bool(citations)
                and holds_evidence(
                    " ".join(
                        citations[0].text[h.start - citations[0].start : h.end - citations[0].start]
                        for h in citations[0].highlights
                    ),
                    item.evidence,
                ),
                abstained=answer.abstained,
                returned=len(citations),
                top_source=citations[0].source if citations else None,
            )
        )
    answerable = [r for r in results if r.kind == "answerable"]
    off_topic = [r for r in results if r.kind == "off_topic"]
    count = max(len(answerable), 1)
    return EvalReport(
        k=k,
        answerable=len(answerable),
        off_topic=len(off_topic),
        hit_at={
            cut: sum(1 for r in answerable if r.hit_rank is not None and r.hit_rank <= cut) / count
            for cut in CUTOFFS
            if cut <= k
        },
        mrr=sum(1 / r.hit_rank for r in answerable if r.hit_rank) / count,
        mean_top3_chars=statistics.fmean(top3_lengths) if top3_lengths else 0.0,
        off_topic_empty=sum(1 for r in off_topic if r.returned == 0),
        highlight_at_1=sum(1 for r in answerable if r.highlight_hit) / count,
        off_topic_abstained=sum(1 for r in off_topic if r.abstained),
        false_abstentions=sum(1 for r in answerable if r.abstained),
        items=results,
    )
