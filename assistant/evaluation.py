"""Retrieval and abstention metrics over JSONL evaluation files (`assistant eval`,
`benchmarks/quality.py`).

Question file, one JSON object a line:
`{"id", "question", "source", "evidence": [...], "kind", "split"}`.

- `kind` is `factoid`, `why_how`, `paraphrase`, `which_report` or the legacy
  `answerable` (all answerable), or `off_topic` / `near_topic` (not answered by
  the sources: the right response is to abstain).
- `split` is `dev` or `heldout`, optional.
- Other spellings are read as these: case, hyphens, spaces and slashes do not
  matter ("Off-topic", "why/how", "held-out"); "why" and "how" are `why_how`,
  "unanswerable" is `near_topic`, "test" is `heldout`, "development",
  "validation" and "val" are `dev`.

An answerable question is a hit at k when one of its evidence strings appears,
whitespace-normalized, inside one of the top-k excerpts. Every figure is given
overall, per split, per kind and per split × kind.

Dialogue file, one JSON object a line:
`{"id", "split", "turns": [{"question", "source", "evidence", "refers_back"}, ...]}`.
Turns are asked in order; each is first resolved with `resolve_followup` against
the previous turn (its question, query and answer's citations), exactly as the
chat UI does.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ._errors import AssistantError
from ._settings import Settings
from ._types import Answer, Citation
from .answer.compose import ask
from .answer.followups import PreviousTurn, resolve_followup

__all__ = [
    "ANSWERABLE_KINDS",
    "KINDS",
    "Answerer",
    "Dialogue",
    "DialogueMetrics",
    "DialogueReport",
    "DialogueTurn",
    "EvalItem",
    "EvalReport",
    "GroupMetrics",
    "TableRow",
    "dialogue_markdown_table",
    "evaluate",
    "evaluate_dialogues",
    "load_dialogues",
    "load_eval_items",
    "markdown_table",
    "run_eval",
    "select_split",
]

CUTOFFS = (1, 3, 5)

Kind = Literal[
    "factoid", "why_how", "paraphrase", "which_report", "answerable", "off_topic", "near_topic"
]
Split = Literal["dev", "heldout"]
#: Every kind, in the order tables list them.
KINDS: tuple[Kind, ...] = (
    "factoid", "why_how", "paraphrase", "which_report", "answerable", "off_topic", "near_topic"
)  # fmt: skip
#: Kinds the sources answer; the others should be abstained on.
ANSWERABLE_KINDS: frozenset[str] = frozenset(
    {"factoid", "why_how", "paraphrase", "which_report", "answerable"}
)
SPLITS: tuple[Split, ...] = ("dev", "heldout")

# Spellings other question files use for the same kinds and splits.
_ALIASES = {
    "why": "why_how", "how": "why_how", "which": "which_report", "unanswerable": "near_topic",
    "held_out": "heldout", "test": "heldout", "development": "dev", "validation": "dev",
    "val": "dev",
}  # fmt: skip


def _canonical(value: object) -> object:
    """A kind or split as this module spells it ("Off-topic" -> "off_topic")."""
    if not isinstance(value, str):
        return value
    name = "_".join(value.strip().lower().replace("-", " ").replace("/", " ").split())
    return _ALIASES.get(name, name)


_KindField = Annotated[Kind, BeforeValidator(_canonical)]
_SplitField = Annotated[Split, BeforeValidator(_canonical)]


class EvalItem(BaseModel):
    """One question of an evaluation file."""

    model_config = ConfigDict(extra="ignore")

    id: str
    question: str
    source: str | None = None
    evidence: list[str] = Field(default_factory=list)
    kind: _KindField = "answerable"
    split: _SplitField | None = None

    @property
    def answerable(self) -> bool:
        return self.kind in ANSWERABLE_KINDS


class ItemResult(BaseModel):
    """How one question fared."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    split: str | None = None
    hit_rank: int | None = Field(description="Rank of the first excerpt holding evidence.")
    highlight_hit: bool = Field(description="The top excerpt's highlight holds evidence.")
    abstained: bool
    relevance: float = Field(description="The answer's abstention signal.")
    returned: int = Field(description="Excerpts returned.")
    top_source: str | None
    right_document: bool | None = Field(
        description="The top excerpt comes from the question's source (None: no source given)."
    )
    top3_chars: list[int] = Field(description="Lengths of the top three excerpts.")

    @property
    def answerable(self) -> bool:
        return self.kind in ANSWERABLE_KINDS


class GroupMetrics(BaseModel):
    """Figures over one group of questions. Rates are fractions of the group's
    answerable questions (0.0 when it has none: see `answerable`)."""

    model_config = ConfigDict(extra="forbid")

    questions: int
    answerable: int
    off_topic: int
    near_topic: int
    hit_at: dict[int, float]
    mrr: float
    doc_at_1: float = Field(
        description="Share of answerable questions with a source whose top excerpt is from it."
    )
    mean_top3_chars: float = Field(description="Mean length of the answerable top-3 excerpts.")
    highlight_at_1: float = Field(description="Share whose top highlight holds evidence.")
    off_topic_abstained: int
    near_topic_abstained: int
    false_abstentions: int = Field(description="Answerable questions wrongly abstained on.")
    off_topic_empty: int = Field(description="Off-topic questions that returned nothing.")


class EvalReport(GroupMetrics):
    """The overall figures (inherited fields), the same per split, per kind and
    per split × kind, and one result per question."""

    k: int
    by_split: dict[str, GroupMetrics] = Field(default_factory=dict)
    by_kind: dict[str, GroupMetrics] = Field(default_factory=dict)
    by_split_kind: dict[str, dict[str, GroupMetrics]] = Field(default_factory=dict)
    items: list[ItemResult]

    def group(self, split: str | None = None, kind: str | None = None) -> GroupMetrics | None:
        """The figures of one split and/or kind (both None: overall); None when empty."""
        if split is None and kind is None:
            return self
        if split is None:
            return self.by_kind.get(str(kind))
        if kind is None:
            return self.by_split.get(split)
        return self.by_split_kind.get(split, {}).get(kind)

    def table(self) -> str:
        """The overall figures as text lines, then one aligned line per split, kind
        and split × kind when the file has more than one."""
        lines = [
            f"questions: {self.questions} ({self.answerable} answerable, "
            f"{self.off_topic} off-topic, {self.near_topic} near-topic), k={self.k}"
        ]
        lines += [f"hit@{cut}: {rate:.3f}" for cut, rate in self.hit_at.items()]
        lines.append(f"MRR: {self.mrr:.3f}")
        lines.append(f"right document first: {self.doc_at_1:.3f}")
        lines.append(f"mean top-3 excerpt length: {self.mean_top3_chars:.0f} chars")
        lines.append(f"highlight@1: {self.highlight_at_1:.3f}")
        lines.append(f"off-topic abstained: {self.off_topic_abstained}/{self.off_topic}")
        if self.near_topic:
            lines.append(f"near-topic abstained: {self.near_topic_abstained}/{self.near_topic}")
        lines.append(f"false abstentions: {self.false_abstentions}/{self.answerable}")
        lines.append(f"off-topic with no excerpt: {self.off_topic_empty}/{self.off_topic}")
        groups: list[tuple[str, GroupMetrics]] = []
        if len(self.by_split) > 1:
            groups += list(self.by_split.items())
        if len(self.by_kind) > 1:
            groups += list(self.by_kind.items())
        if len(self.by_split) > 1 and len(self.by_kind) > 1:
            groups += [
                (f"{split}/{kind}", metrics)
                for split, kinds in self.by_split_kind.items()
                for kind, metrics in kinds.items()
            ]
        if groups:
            lines += ["", _text_table([TableRow(label, m) for label, m in groups])]
        misses = [r.id for r in self.items if r.answerable and r.hit_rank is None]
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


_Record = TypeVar("_Record", bound=BaseModel)


def _load_jsonl(path: str | os.PathLike[str], model: type[_Record], what: str) -> list[_Record]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AssistantError(f"cannot read evaluation file {path}: {exc}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate_json(line))
        except ValidationError as exc:
            raise AssistantError(
                f"{path}, line {number}: not a {what} record ({exc.errors()[0]['msg']})"
            ) from None
    if not records:
        raise AssistantError(f"evaluation file {path} holds no {what}")
    return records


def load_eval_items(path: str | os.PathLike[str]) -> list[EvalItem]:
    """Parse a JSONL question file.

    Raises:
        AssistantError: The file is missing or a line is not a valid question.
    """
    return _load_jsonl(path, EvalItem, "question")


_WithSplit = TypeVar("_WithSplit", "EvalItem", "Dialogue")


def select_split(records: Sequence[_WithSplit], split: str | None) -> list[_WithSplit]:
    """The records of `split` (`None` or "all": every record).

    Raises:
        AssistantError: No record has that split.
    """
    if split in (None, "all"):
        return list(records)
    chosen = [r for r in records if r.split == split]
    if not chosen:
        raise AssistantError(f"no record of split {split!r} (splits are dev and heldout)")
    return chosen


#: `(question, k, previous turn or None) -> Answer`: a dialogue's later turns come
#: with the turn before them (`ask` resolves a follow-up itself; an answerer that
#: does not can call `resolve_followup`); single questions come with None.
Answerer = Callable[[str, int, PreviousTurn | None], Answer]


def _default_answerer(
    answerer: Answerer | None,
    index_dir: str | os.PathLike[str] | None,
    settings: Settings | None,
) -> Answerer:
    if answerer is not None:
        return answerer
    return lambda q, n, previous: ask(
        q, n, index_dir=index_dir, settings=settings, previous=previous
    )


def _hit_rank(citations: Sequence[Citation], evidence: Sequence[str]) -> int | None:
    return next((c.rank for c in citations if holds_evidence(c.text, evidence)), None)


def _highlight_hit(citations: Sequence[Citation], evidence: Sequence[str]) -> bool:
    if not citations:
        return False
    return holds_evidence(" ".join(citations[0].highlight_texts()), evidence)


def evaluate(
    items: Sequence[EvalItem],
    *,
    k: int = 5,
    index_dir: str | os.PathLike[str] | None = None,
    answerer: Answerer | None = None,
    settings: Settings | None = None,
) -> EvalReport:
    """Run every question and compute hit@1/3/5, MRR, right document first,
    excerpt length, highlight@1 and abstention, overall and per split and kind.

    Args:
        items: Questions from `load_eval_items`.
        k: Excerpts retrieved per question.
        index_dir: Index folder for the default answerer.
        answerer: `(question, k, previous) -> Answer`; defaults to `ask`.
        settings: Settings for the default answerer (see `ask`).

    Returns:
        The aggregate report with one result per question.
    """
    run = _default_answerer(answerer, index_dir, settings)
    results = [_item_result(item, run(item.question, k, None)) for item in items]
    return _report(results, k)


def _item_result(item: EvalItem, answer: Answer) -> ItemResult:
    """How `answer` fared on `item`."""
    citations = answer.citations
    top_source = citations[0].source if citations else None
    return ItemResult(
        id=item.id,
        kind=item.kind,
        split=item.split,
        hit_rank=_hit_rank(citations, item.evidence),
        highlight_hit=_highlight_hit(citations, item.evidence),
        abstained=answer.abstained,
        relevance=answer.relevance,
        returned=len(citations),
        top_source=top_source,
        right_document=None if item.source is None else top_source == item.source,
        top3_chars=[len(c.text) for c in citations[:3]],
    )


def _report(results: list[ItemResult], k: int) -> EvalReport:
    """The figures over `results`: overall, per split, per kind, per split × kind."""
    cutoffs = tuple(cut for cut in CUTOFFS if cut <= k)
    splits = [s for s in SPLITS if any(r.split == s for r in results)]
    kinds = [kind for kind in KINDS if any(r.kind == kind for r in results)]
    by_split_kind: dict[str, dict[str, GroupMetrics]] = {}
    for split in splits:
        in_split = [r for r in results if r.split == split]
        by_split_kind[split] = {
            kind: _metrics([r for r in in_split if r.kind == kind], cutoffs)
            for kind in kinds
            if any(r.kind == kind for r in in_split)
        }
    return EvalReport(
        **_metrics(results, cutoffs).model_dump(),
        k=k,
        by_split={s: _metrics([r for r in results if r.split == s], cutoffs) for s in splits},
        by_kind={kind: _metrics([r for r in results if r.kind == kind], cutoffs) for kind in kinds},
        by_split_kind=by_split_kind,
        items=results,
    )


def _metrics(results: Sequence[ItemResult], cutoffs: Sequence[int]) -> GroupMetrics:
    answerable = [r for r in results if r.answerable]
    off_topic = [r for r in results if r.kind == "off_topic"]
    near_topic = [r for r in results if r.kind == "near_topic"]
    sourced = [r for r in answerable if r.right_document is not None]
    count = max(len(answerable), 1)
    lengths = [n for r in answerable for n in r.top3_chars]
    return GroupMetrics(
        questions=len(results),
        answerable=len(answerable),
        off_topic=len(off_topic),
        near_topic=len(near_topic),
        hit_at={
            cut: sum(1 for r in answerable if r.hit_rank is not None and r.hit_rank <= cut) / count
            for cut in cutoffs
        },
        mrr=sum(1 / r.hit_rank for r in answerable if r.hit_rank) / count,
        doc_at_1=sum(1 for r in sourced if r.right_document) / max(len(sourced), 1),
        mean_top3_chars=statistics.fmean(lengths) if lengths else 0.0,
        highlight_at_1=sum(1 for r in answerable if r.highlight_hit) / count,
        off_topic_abstained=sum(1 for r in off_topic if r.abstained),
        near_topic_abstained=sum(1 for r in near_topic if r.abstained),
        false_abstentions=sum(1 for r in answerable if r.abstained),
        off_topic_empty=sum(1 for r in off_topic if r.returned == 0),
    )


# --- dialogues ---------------------------------------------------------------------


class DialogueTurn(BaseModel):
    """One turn of a dialogue; `refers_back` is meaningful from the second turn on."""

    model_config = ConfigDict(extra="ignore")

    question: str
    source: str | None = None
    evidence: list[str] = Field(min_length=1)
    refers_back: bool = False


class Dialogue(BaseModel):
    """A short conversation, asked turn by turn."""

    model_config = ConfigDict(extra="ignore")

    id: str
    split: _SplitField | None = None
    turns: list[DialogueTurn] = Field(min_length=1)


def load_dialogues(path: str | os.PathLike[str]) -> list[Dialogue]:
    """Parse a JSONL dialogue file.

    Raises:
        AssistantError: The file is missing or a line is not a valid dialogue.
    """
    return _load_jsonl(path, Dialogue, "dialogue")


TurnRole = Literal["first", "follow_up", "standalone"]


class TurnResult(BaseModel):
    """How one dialogue turn fared."""

    model_config = ConfigDict(extra="forbid")

    dialogue: str
    split: str | None
    turn: int = Field(description="1 for the opening question.")
    role: TurnRole = Field(
        description="first; follow_up (refers_back true); standalone (refers_back false)."
    )
    question: str
    query: str = Field(description="What was retrieved with, after resolve_followup.")
    merged: bool = Field(description="The query joins the previous turn's query.")
    hit_rank: int | None
    top_source: str | None
    abstained: bool


class DialogueMetrics(BaseModel):
    """Figures over a set of dialogues; evidence counts when in the top 3 excerpts."""

    model_config = ConfigDict(extra="forbid")

    dialogues: int
    first_turns: int
    first_hit_at_3: float
    follow_ups: int = Field(description="Later turns with refers_back true.")
    follow_up_hit_at_3: float
    follow_ups_merged: int = Field(description="Follow-ups resolve_followup joined to context.")
    standalone: int = Field(description="Later turns with refers_back false.")
    standalone_hit_at_3: float
    standalone_merged: int = Field(description="Standalone turns wrongly joined to context.")
    abstained: int = Field(description="Turns abstained on (every turn is answerable).")


class DialogueReport(DialogueMetrics):
    """The overall figures (inherited fields), the same per split, and every turn."""

    k: int
    by_split: dict[str, DialogueMetrics] = Field(default_factory=dict)
    turns: list[TurnResult]

    def table(self) -> str:
        """The figures as aligned text lines."""
        lines = [f"dialogues: {self.dialogues} (k={self.k})"]
        groups: list[tuple[str, DialogueMetrics]] = [("all", self), *self.by_split.items()]
        for label, m in groups:
            lines.append(
                f"{label:8} first turns hit@3 {_rate(m.first_hit_at_3, m.first_turns)}; "
                f"follow-ups hit@3 {_rate(m.follow_up_hit_at_3, m.follow_ups)} "
                f"(joined {m.follow_ups_merged}/{m.follow_ups}); "
                f"standalone hit@3 {_rate(m.standalone_hit_at_3, m.standalone)} "
                f"(wrongly joined {m.standalone_merged}/{m.standalone}); "
                f"abstained {m.abstained}"
            )
        misses = [
            f"{t.dialogue}#{t.turn}" for t in self.turns if t.hit_rank is None or t.hit_rank > 3
        ]
        if misses:
            lines.append(f"missed (not in top 3): {', '.join(misses)}")
        return "\n".join(lines)


def evaluate_dialogues(
    dialogues: Sequence[Dialogue],
    *,
    k: int = 5,
    index_dir: str | os.PathLike[str] | None = None,
    answerer: Answerer | None = None,
    settings: Settings | None = None,
) -> DialogueReport:
    """Ask each dialogue turn by turn, resolving every turn with `resolve_followup`
    against the previous turn's question, query and answer's citations (as the
    chat UI does), and measure whether each turn's evidence is in the top 3 excerpts.

    Args:
        dialogues: Dialogues from `load_dialogues`.
        k: Excerpts retrieved per turn.
        index_dir: Index folder for the default answerer.
        answerer: `(question, k, previous) -> Answer`; defaults to `ask`.
        settings: Settings for the default answerer (see `ask`).
    """
    run = _default_answerer(answerer, index_dir, settings)
    results = [turn for dialogue in dialogues for turn in _ask_dialogue(dialogue, run, k)]
    splits = [s for s in SPLITS if any(d.split == s for d in dialogues)]
    return DialogueReport(
        **_dialogue_metrics(results).model_dump(),
        k=k,
        by_split={s: _dialogue_metrics([t for t in results if t.split == s]) for s in splits},
        turns=results,
    )


def _ask_dialogue(dialogue: Dialogue, run: Answerer, k: int) -> list[TurnResult]:
    """Each turn of `dialogue` resolved against the previous one and asked."""
    results: list[TurnResult] = []
    previous: PreviousTurn | None = None
    for number, turn in enumerate(dialogue.turns, 1):
        question = turn.question.strip()
        query = resolve_followup(question, previous)  # as `ask` resolves it, to report
        answer = run(question, k, previous)
        role: TurnRole = (
            "first" if number == 1 else "follow_up" if turn.refers_back else "standalone"
        )
        results.append(
            TurnResult(
                dialogue=dialogue.id,
                split=dialogue.split,
                turn=number,
                role=role,
                question=turn.question,
                query=query,
                merged=query != question,
                hit_rank=_hit_rank(answer.citations, turn.evidence),
                top_source=answer.citations[0].source if answer.citations else None,
                abstained=answer.abstained,
            )
        )
        previous = PreviousTurn(question=question, query=query, citations=answer.citations)
    return results


def _dialogue_metrics(turns: Sequence[TurnResult]) -> DialogueMetrics:
    def top3(role: TurnRole) -> tuple[int, float]:
        chosen = [t for t in turns if t.role == role]
        hits = sum(1 for t in chosen if t.hit_rank is not None and t.hit_rank <= 3)
        return len(chosen), hits / max(len(chosen), 1)

    first, first_rate = top3("first")
    follow_ups, follow_rate = top3("follow_up")
    standalone, standalone_rate = top3("standalone")
    return DialogueMetrics(
        dialogues=len({t.dialogue for t in turns}),
        first_turns=first,
        first_hit_at_3=first_rate,
        follow_ups=follow_ups,
        follow_up_hit_at_3=follow_rate,
        follow_ups_merged=sum(1 for t in turns if t.role == "follow_up" and t.merged),
        standalone=standalone,
        standalone_hit_at_3=standalone_rate,
        standalone_merged=sum(1 for t in turns if t.role == "standalone" and t.merged),
        abstained=sum(1 for t in turns if t.abstained),
    )


# --- tables ------------------------------------------------------------------------

_DASH = "–"


def _rate(value: float, count: int) -> str:
    """A rate with its denominator, or a dash when nothing was counted."""
    return f"{value:.3f} (n={count})" if count else _DASH


@dataclass(frozen=True)
class TableRow:
    """One row of a table: a label, its figures (None: not run), and the columns
    to show as "n/a" (e.g. highlight@1 for a method that marks no sentence)."""

    label: str
    metrics: GroupMetrics | None
    not_applicable: frozenset[str] = frozenset()


def _count(done: int, total: int) -> str:
    return f"{done}/{total}" if total else _DASH


def _answerable_cell(value: Callable[[GroupMetrics], str]) -> Callable[[GroupMetrics], str]:
    return lambda m: value(m) if m.answerable else _DASH


#: Column key → (header, cell). Rates over answerable questions show a dash for
#: a group without any (an off-topic-only kind).
COLUMNS: dict[str, tuple[str, Callable[[GroupMetrics], str]]] = {
    "n": ("n", lambda m: str(m.questions)),
    "hit@1": ("hit@1", _answerable_cell(lambda m: f"{m.hit_at.get(1, 0.0):.3f}")),
    "hit@3": ("hit@3", _answerable_cell(lambda m: f"{m.hit_at.get(3, 0.0):.3f}")),
    "hit@5": ("hit@5", _answerable_cell(lambda m: f"{m.hit_at.get(5, 0.0):.3f}")),
    "mrr": ("MRR", _answerable_cell(lambda m: f"{m.mrr:.3f}")),
    "doc@1": ("doc@1", _answerable_cell(lambda m: f"{m.doc_at_1:.3f}")),
    "chars": ("top-3 chars", _answerable_cell(lambda m: f"{m.mean_top3_chars:.0f}")),
    "highlight@1": ("highlight@1", _answerable_cell(lambda m: f"{m.highlight_at_1:.3f}")),
    "off_topic": ("off-topic abst.", lambda m: _count(m.off_topic_abstained, m.off_topic)),
    "near_topic": ("near-topic abst.", lambda m: _count(m.near_topic_abstained, m.near_topic)),
    "false": ("false abst.", lambda m: _count(m.false_abstentions, m.answerable)),
}
DEFAULT_COLUMNS = (
    "n", "hit@1", "hit@3", "mrr", "doc@1", "chars", "highlight@1",
    "off_topic", "near_topic", "false",
)  # fmt: skip


def _cells(row: TableRow, columns: Iterable[str]) -> list[str]:
    return [
        "n/a"
        if key in row.not_applicable
        else _DASH
        if row.metrics is None
        else COLUMNS[key][1](row.metrics)
        for key in columns
    ]


def markdown_table(
    rows: Sequence[TableRow], *, columns: Sequence[str] = DEFAULT_COLUMNS, label: str = "method"
) -> str:
    """A Markdown table: one line per row, one column per key of `COLUMNS`."""
    header = [label, *(COLUMNS[key][0] for key in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([row.label, *_cells(row, columns)]) + " |" for row in rows]
    return "\n".join(lines)


def _text_table(rows: Sequence[TableRow], columns: Sequence[str] = DEFAULT_COLUMNS) -> str:
    grid = [["group", *(COLUMNS[key][0] for key in columns)]]
    grid += [[row.label, *_cells(row, columns)] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in grid
    )


def dialogue_markdown_table(
    rows: Sequence[tuple[str, DialogueMetrics | None]], *, label: str = "method"
) -> str:
    """A Markdown table of dialogue figures, one line per row."""
    lines = [
        f"| {label} | first turns hit@3 | follow-ups hit@3 | follow-ups joined "
        "| standalone hit@3 | standalone wrongly joined | turns abstained |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        if m is None:
            lines.append(f"| {name} |" + f" {_DASH} |" * 6)
            continue
        lines.append(
            f"| {name} | {_rate(m.first_hit_at_3, m.first_turns)} "
            f"| {_rate(m.follow_up_hit_at_3, m.follow_ups)} "
            f"| {_count(m.follow_ups_merged, m.follow_ups)} "
            f"| {_rate(m.standalone_hit_at_3, m.standalone)} "
            f"| {_count(m.standalone_merged, m.standalone)} "
            f"| {m.abstained} |"
        )
    return "\n".join(lines)


# --- the `assistant eval` command ------------------------------------------------


def run_eval(
    questions: str | os.PathLike[str] | None,
    *,
    dialogues: str | os.PathLike[str] | None = None,
    split: str | None = None,
    k: int = 5,
    as_json: bool = False,
    settings: Settings | None = None,
) -> str:
    """What `assistant eval` prints: the question report, the dialogue report, or
    both (as `{"questions": …, "dialogues": …}` in JSON).

    Raises:
        AssistantError: Neither file given, a file is unreadable, or the split is empty.
    """
    if questions is None and dialogues is None:
        raise AssistantError("eval needs a question FILE, --dialogues FILE, or both")
    reports: dict[str, EvalReport | DialogueReport] = {}
    if questions is not None:
        items = select_split(load_eval_items(questions), split)
        reports["questions"] = evaluate(items, k=k, settings=settings)
    if dialogues is not None:
        chosen = select_split(load_dialogues(dialogues), split)
        reports["dialogues"] = evaluate_dialogues(chosen, k=k, settings=settings)
    if as_json:
        if len(reports) == 1:
            return next(iter(reports.values())).model_dump_json(indent=2)
        both = {name: report.model_dump(mode="json") for name, report in reports.items()}
        return json.dumps(both, indent=2)
    return "\n\n".join(report.table() for report in reports.values())
