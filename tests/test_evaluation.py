import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from assistant import AssistantError, ask, retrieve
from assistant._settings import AnswerSettings, RetrievalSettings, Settings
from assistant._types import Answer, Citation, Span
from assistant.answer.followups import PreviousTurn, resolve_followup
from assistant.evaluation import (
    Dialogue,
    DialogueTurn,
    EvalItem,
    TableRow,
    dialogue_markdown_table,
    evaluate,
    evaluate_dialogues,
    holds_evidence,
    load_dialogues,
    load_eval_items,
    markdown_table,
    normalize_space,
    run_eval,
    select_split,
)

from .conftest import BRIEF_QUESTIONS


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

    def __call__(self, question: str, k: int, previous: PreviousTurn | None = None) -> Answer:
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


def test_other_spellings_of_kinds_and_splits_are_read(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "question": "q?", "kind": "Off-topic", "split": "held-out"},
        {"id": "b", "question": "q?", "kind": "why/how", "split": "test", "evidence": ["x"]},
        {"id": "c", "question": "q?", "kind": "Which report", "split": "Development"},
        {"id": "d", "question": "q?", "kind": "unanswerable", "split": "validation"},
    ]
    path = tmp_path / "other.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert [(i.kind, i.split) for i in load_eval_items(path)] == [
        ("off_topic", "heldout"),
        ("why_how", "heldout"),
        ("which_report", "dev"),
        ("near_topic", "dev"),
    ]
    path.write_text('{"id": "e", "question": "q?", "split": "train"}\n', encoding="utf-8")
    with pytest.raises(AssistantError, match=r"line 1: not a question record.*'dev'"):
        load_eval_items(path)  # a training split is not a development split
    path.write_text('{"id": "e", "question": "q?", "kind": "multi-hop"}\n', encoding="utf-8")
    with pytest.raises(AssistantError, match=r"line 1: not a question record.*'factoid'"):
        load_eval_items(path)


def test_brief_questions_retrieval_quality(brief_index: Path) -> None:
    """Floors on 16 questions about the brief written for the tests (k=5): the
    figures measured when they were written less one question (measured: hit@1
    14/16, hit@3 16/16, MRR 0.938, highlight@1 13/16, top-3 excerpts 312 chars)."""
    report = evaluate(load_eval_items(BRIEF_QUESTIONS), k=5, index_dir=brief_index)
    assert (report.questions, report.answerable, report.off_topic) == (20, 16, 4)
    assert report.hit_at[1] * 16 >= 13, report.table()
    assert report.hit_at[3] * 16 >= 15, report.table()
    assert report.mrr >= 0.875, report.table()
    assert report.highlight_at_1 * 16 >= 12, report.table()
    assert report.doc_at_1 == 1.0, report.table()
    assert report.mean_top3_chars <= 350, report.table()
    assert report.off_topic_abstained == 4, report.table()
    assert report.false_abstentions == 0, report.table()


# --- groups, right document, near-topic, dialogues (canned answers) ---------------


def _cited(rank: int, source: str, text: str) -> Citation:
    return Citation(
        rank=rank, score=1.0 / rank, source=source, title=source, text=text,
        start=0, end=len(text), chunk_id=rank, generation="g",
    )  # fmt: skip


class ScriptedAnswerer:
    """An `Answerer` with a fixed `(source, text)` list and abstention per query;
    it records every query it is asked."""

    def __init__(self, script: dict[str, tuple[list[tuple[str, str]], bool]]) -> None:
        self.script = script
        self.queries: list[str] = []

    def __call__(self, question: str, k: int, previous: PreviousTurn | None = None) -> Answer:
        question = resolve_followup(question, previous)  # as a baseline row does
        self.queries.append(question)
        excerpts, abstained = self.script[question]
        citations = [_cited(i, s, t) for i, (s, t) in enumerate(excerpts[:k], 1)]
        return Answer(
            question=question, text="", citations=citations, abstained=abstained,
            relevance=0.1 if abstained else 0.9,
        )  # fmt: skip


def _item(id: str, kind: str, split: str, source: str | None, evidence: list[str]) -> EvalItem:
    return EvalItem(
        id=id, question=f"question {id}", kind=kind, split=split, source=source, evidence=evidence
    )  # type: ignore[arg-type]


def test_groups_by_split_and_kind_with_right_document_and_near_topic() -> None:
    items = [
        _item("f1", "factoid", "dev", "a.txt", ["alpha"]),
        _item("f2", "factoid", "heldout", "a.txt", ["beta"]),
        _item("w1", "why_how", "dev", "b.txt", ["gamma"]),
        _item("p1", "paraphrase", "heldout", "c.txt", ["delta"]),
        _item("r1", "which_report", "dev", "d.txt", ["eps"]),
        _item("o1", "off_topic", "dev", None, []),
        _item("n1", "near_topic", "dev", None, []),
        _item("n2", "near_topic", "heldout", None, []),
        _item("n3", "near_topic", "heldout", None, []),
    ]
    answerer = ScriptedAnswerer(
        {
            "question f1": ([("a.txt", "alpha"), ("b.txt", "x")], False),  # hit@1, right doc
            "question f2": ([("b.txt", "x"), ("a.txt", "y"), ("a.txt", "beta")], False),  # @3
            "question w1": ([("z.txt", "gamma")], False),  # evidence in a wrong document
            "question p1": ([("c.txt", "none")], True),  # right doc, miss, false abstention
            "question r1": ([("x.txt", "a"), ("d.txt", "eps")], False),  # hit@2
            "question o1": ([("a.txt", "x")], True),
            "question n1": ([("a.txt", "x")], False),  # near-topic answered: not abstained
            "question n2": ([("a.txt", "x")], True),
            "question n3": ([], True),
        }
    )
    report = evaluate(items, k=5, answerer=answerer)

    assert (report.questions, report.answerable) == (9, 5)
    assert (report.off_topic, report.near_topic) == (1, 3)
    # evidence counts wherever it is found (w1's excerpt comes from the wrong document)
    assert report.hit_at == {1: 2 / 5, 3: 4 / 5, 5: 4 / 5}
    assert report.mrr == pytest.approx((1 + 1 / 3 + 1 + 1 / 2) / 5)
    assert report.doc_at_1 == pytest.approx(2 / 5)  # f1 and p1
    assert (report.off_topic_abstained, report.near_topic_abstained) == (1, 2)
    assert report.false_abstentions == 1

    assert list(report.by_split) == ["dev", "heldout"]
    dev, heldout = report.by_split["dev"], report.by_split["heldout"]
    assert (dev.questions, dev.answerable, dev.near_topic, dev.near_topic_abstained) == (5, 3, 1, 0)
    assert dev.hit_at[1] == pytest.approx(2 / 3)
    assert dev.doc_at_1 == pytest.approx(1 / 3)
    assert dev.off_topic_abstained == 1
    assert heldout.near_topic_abstained == 2
    assert heldout.false_abstentions == 1
    assert heldout.hit_at[3] == pytest.approx(1 / 2)

    assert list(report.by_kind) == [
        "factoid", "why_how", "paraphrase", "which_report", "off_topic", "near_topic"
    ]  # fmt: skip
    factoid = report.by_kind["factoid"]
    assert factoid.hit_at == {1: 0.5, 3: 1.0, 5: 1.0}
    assert factoid.doc_at_1 == 0.5
    assert report.by_kind["why_how"].hit_at[1] == 1.0
    assert report.by_kind["why_how"].doc_at_1 == 0.0
    assert report.by_kind["near_topic"].answerable == 0
    assert report.by_split_kind["heldout"]["near_topic"].near_topic_abstained == 2
    assert "why_how" not in report.by_split_kind["heldout"]
    assert report.group("dev", "factoid") == report.by_split_kind["dev"]["factoid"]
    assert report.group() is report
    assert report.group("heldout", "why_how") is None

    by_id = {r.id: r for r in report.items}
    assert by_id["f1"].right_document is True
    assert by_id["f2"].right_document is False
    assert by_id["o1"].right_document is None
    assert by_id["f2"].top3_chars == [1, 1, 4]

    table = report.table()
    assert "near-topic abstained: 2/3" in table
    assert "right document first: 0.400" in table
    assert "heldout/near_topic" in table
    assert "missed: p1" in table


def test_markdown_table_marks_missing_columns() -> None:
    items = [
        _item("f1", "factoid", "dev", "a.txt", ["alpha"]),
        _item("n1", "near_topic", "dev", None, []),
    ]
    answerer = ScriptedAnswerer(
        {"question f1": ([("a.txt", "alpha")], False), "question n1": ([], True)}
    )
    report = evaluate(items, k=3, answerer=answerer)
    table = markdown_table(
        [
            TableRow("ours", report),
            TableRow("plain", report.group(kind="near_topic"), frozenset({"highlight@1"})),
            TableRow("not run", None),
        ]
    )
    lines = table.splitlines()
    assert lines[0].startswith("| method | n | hit@1 | hit@3 | MRR | doc@1 |")
    assert lines[2] == ("| ours | 2 | 1.000 | 1.000 | 1.000 | 1.000 | 5 | 0.000 | – | 1/1 | 0/1 |")
    assert lines[3] == "| plain | 1 | – | – | – | – | – | n/a | – | 1/1 | – |"
    assert lines[4] == "| not run |" + " – |" * 10


def test_legacy_kinds_and_unknown_kind(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "a", "question": "q", "evidence": ["e"]}\n'
        '{"id": "b", "question": "q", "kind": "off_topic", "split": "dev"}\n'
    )
    first, second = load_eval_items(path)
    assert (first.kind, first.split, first.answerable) == ("answerable", None, True)
    assert (second.kind, second.split, second.answerable) == ("off_topic", "dev", False)
    path.write_text('{"id": "a", "question": "q", "kind": "trivia"}\n')
    with pytest.raises(AssistantError, match="line 1: not a question record"):
        load_eval_items(path)
    assert select_split([first, second], "dev") == [second]
    assert select_split([first, second], "all") == [first, second]
    with pytest.raises(AssistantError, match="no record of split 'heldout'"):
        select_split([first, second], "heldout")


def test_dialogue_follow_ups_are_resolved_like_the_chat() -> None:
    opener = "Who commands the new Joint Operations Command?"
    follow = "and when did it open?"
    standalone = "Which document describes the seafood ban imposed by China in August 2023?"
    unjoined = "When did Japan's Joint Operations Command officially open in Tokyo?"
    dialogues = [
        Dialogue(
            id="g1",
            split="dev",
            turns=[
                DialogueTurn(question=opener, evidence=["Nagumo"]),
                DialogueTurn(question=follow, evidence=["March 24"], refers_back=True),
                DialogueTurn(question=standalone, evidence=["seafood"], refers_back=False),
            ],
        ),
        Dialogue(
            id="g2",
            split="heldout",
            turns=[
                DialogueTurn(question=opener, evidence=["Nagumo"]),
                # a follow-up resolve_followup does not recognize: asked alone
                DialogueTurn(question=unjoined, evidence=["March 24"], refers_back=True),
            ],
        ),
    ]
    joined = f"{follow} — {opener}"
    answerer = ScriptedAnswerer(
        {
            opener: ([("a.txt", "General Nagumo")], False),
            joined: ([("x.txt", "no"), ("x.txt", "no"), ("a.txt", "on March 24")], False),
            standalone: ([("b.txt", "x"), ("b.txt", "x"), ("b.txt", "x"), ("c", "seafood")], False),
            unjoined: ([("a.txt", "March 24")], True),
        }
    )
    report = evaluate_dialogues(dialogues, k=5, answerer=answerer)

    # the follow-up is joined to the opener; the long standalone turn is asked alone
    assert answerer.queries == [opener, joined, standalone, opener, unjoined]
    assert [(t.role, t.merged, t.hit_rank) for t in report.turns] == [
        ("first", False, 1),
        ("follow_up", True, 3),
        ("standalone", False, 4),
        ("first", False, 1),
        ("follow_up", False, 1),
    ]
    assert (report.dialogues, report.first_turns, report.first_hit_at_3) == (2, 2, 1.0)
    assert (report.follow_ups, report.follow_up_hit_at_3, report.follow_ups_merged) == (2, 1.0, 1)
    assert (report.standalone, report.standalone_hit_at_3, report.standalone_merged) == (1, 0.0, 0)
    assert report.abstained == 1
    assert report.by_split["dev"].follow_ups_merged == 1
    assert report.by_split["heldout"].follow_ups_merged == 0
    assert report.by_split["heldout"].standalone == 0
    assert "missed (not in top 3): g1#3" in report.table()
    table = dialogue_markdown_table([("ours", report), ("none", None)])
    assert "| ours | 1.000 (n=2) | 1.000 (n=2) | 1/2 | 0.000 (n=1) | 0/1 | 1 |" in table


def test_run_eval_needs_a_file() -> None:
    with pytest.raises(AssistantError, match="eval needs a question FILE"):
        run_eval(None)


# --- settings= instead of the environment ---------------------------------------------


def test_settings_argument_replaces_the_environment(
    brief_index: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    question = "What will the upgraded U.S. Forces Japan headquarters do?"
    dense = Settings(index_dir=brief_index, retrieval=RetrievalSettings(fusion="dense"))
    lexical = dense.model_copy(update={"retrieval": RetrievalSettings(fusion="lexical")})
    lexical_ids = [c.chunk_id for c in retrieve(question, 5, settings=lexical)]
    monkeypatch.setenv("ASSISTANT_FUSION", "dense")
    from_env = [c.chunk_id for c in retrieve(question, 5, index_dir=brief_index)]
    monkeypatch.setenv("ASSISTANT_FUSION", "lexical")
    monkeypatch.setenv("ASSISTANT_INDEX", str(tmp_path / "no-index"))
    # settings given: no ASSISTANT_* variable is read
    from_settings = [c.chunk_id for c in retrieve(question, 5, settings=dense)]
    assert from_settings == from_env
    assert from_settings != lexical_ids  # the comparison is not vacuous
    # an index_dir argument wins over settings.index_dir
    elsewhere = dense.model_copy(update={"index_dir": tmp_path / "no-index"})
    overridden = retrieve(question, 5, index_dir=brief_index, settings=elsewhere)
    assert [c.chunk_id for c in overridden] == from_env
    # ask() uses the answer section too
    strict = dense.model_copy(update={"answer": AnswerSettings(abstain_below=100.0)})
    assert ask(question, 3, settings=strict).abstained
    assert not ask(question, 3, settings=dense).abstained
    report = evaluate(
        [EvalItem(id="x", question=question, evidence=["U.S. Forces Japan"])], k=3, settings=strict
    )
    assert report.false_abstentions == 1


# --- the alliance development set ---------------------------------------------------

ALLIANCE = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "alliance"


ALLIANCE_B = ALLIANCE.parent / "alliance-b"


def _texts(folder: Path) -> dict[str, str]:
    return {
        path.name: normalize_space(path.read_text(encoding="utf-8"))
        for path in (folder / "sources").iterdir()
    }


@pytest.mark.parametrize(
    ("folder", "documents", "evidence_strings"),
    [(ALLIANCE, 28, 81 + 66), (ALLIANCE_B, 18, 76 + 57)],
)
def test_evidence_is_in_its_source_and_no_other(
    folder: Path, documents: int, evidence_strings: int
) -> None:
    texts = _texts(folder)
    assert len(texts) == documents
    checked = 0
    records = [
        (i.id, i.source, i.evidence, i.answerable)
        for i in load_eval_items(folder / "questions.jsonl")
    ]
    records += [
        (f"{d.id}#{n}", t.source, t.evidence, True)
        for d in load_dialogues(folder / "dialogues.jsonl")
        for n, t in enumerate(d.turns, 1)
    ]
    for name, source, evidence, answerable in records:
        if not answerable:
            assert source is None, name
            assert not evidence, name
            continue
        assert source in texts, name
        assert 1 <= len(evidence) <= 2, name
        for string in evidence:
            holders = [s for s, text in texts.items() if normalize_space(string) in text]
            assert holders == [source], (name, string, holders)
            checked += 1
    assert checked >= evidence_strings


def test_the_second_set_split_is_its_seeded_draw() -> None:
    """The split of benchmarks/data/alliance-b is the one draw its README describes
    (random.Random(2027), 45 % held out per kind, then the dialogues)."""
    items = load_eval_items(ALLIANCE_B / "questions.jsonl")
    dialogues = load_dialogues(ALLIANCE_B / "dialogues.jsonl")
    rng = random.Random(2027)
    heldout: set[str] = set()
    for kind in sorted({i.kind for i in items}):
        ids = sorted(i.id for i in items if i.kind == kind)
        rng.shuffle(ids)
        heldout.update(ids[: math.ceil(0.45 * len(ids))])
    assert {i.id for i in items if i.split == "heldout"} == heldout
    assert {i.split for i in items} == {"dev", "heldout"}
    ids = sorted(d.id for d in dialogues)
    rng.shuffle(ids)
    assert {d.id for d in dialogues if d.split == "heldout"} == set(
        ids[: math.ceil(0.45 * len(ids))]
    )
    assert (len(items), len(dialogues)) == (96, 20)


def test_alliance_split_is_unchanged() -> None:
    items = load_eval_items(ALLIANCE / "questions.jsonl")
    counts = Counter((i.kind, i.split) for i in items)
    expected = {
        "factoid": (17, 14), "why_how": (9, 9), "paraphrase": (9, 9),
        "which_report": (7, 7), "off_topic": (6, 6), "near_topic": (6, 6),
    }  # fmt: skip
    assert counts == {
        (kind, split): n
        for kind, (dev, heldout) in expected.items()
        for split, n in (("dev", dev), ("heldout", heldout))
    }
    dialogues = load_dialogues(ALLIANCE / "dialogues.jsonl")
    assert Counter(d.split for d in dialogues) == {"dev": 13, "heldout": 11}
    later = [t for d in dialogues for t in d.turns[1:]]
    assert (len(later), sum(not t.refers_back for t in later)) == (42, 10)
    # the exact draw (README: random.Random(2026)), not just its counts
    assert _digest((i.id, i.split) for i in items) == (
        "13290894bfbabbc2c18fe7b29427efdbe55f2befe313ad0ab4ad6dd159768700"
    )
    assert _digest((d.id, d.split) for d in dialogues) == (
        "f684fa14f19b6befa195e4abcc700be696a154f141d6d648c166d59b83ffaf5b"
    )


def _digest(pairs: Iterable[tuple[str, str | None]]) -> str:
    return hashlib.sha256("\n".join(f"{i}:{s}" for i, s in sorted(pairs)).encode()).hexdigest()
