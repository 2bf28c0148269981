"""The abstention rule each generation records, and the off-domain probe check
that tells a maintainer when general material made general questions answerable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import ask, build_index, index_status
from assistant._settings import AbstentionRule, AnswerSettings, Settings
from assistant.answer.probes import OFF_DOMAIN_PROBES, check_abstention
from assistant.embedding.transformer import Embedder
from assistant.indexing.generations import read_generation

from ..conftest import BRIEF, SOURCES

QUESTION = "What will U.S. Forces Japan become?"

GENERAL_NOTE = """Kitchen and Garden Notes

Bread dough should be kneaded for about ten minutes by hand, until it is smooth and
springs back when pressed. Fresh basil keeps best in a glass of water on the counter,
like cut flowers, rather than in the refrigerator.

Tomato plants are pruned in early summer: the side shoots that grow between the main
stem and a branch are pinched off so the plant puts its energy into fruit.
"""


def test_the_brief_refuses_every_probe(brief_index: Path) -> None:
    check = check_abstention(brief_index)
    assert check.probes == len(OFF_DOMAIN_PROBES)
    assert check.abstain_below == AnswerSettings().abstain_below
    assert check.answered == []
    assert check.summary() is None


def test_general_material_is_reported(tmp_path: Path, embedder: Embedder) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(SOURCES / BRIEF, sources)
    (sources / "kitchen-notes.txt").write_text(GENERAL_NOTE, encoding="utf-8")
    build_index(sources, tmp_path / "index", embedder=embedder)
    check = check_abstention(tmp_path / "index")
    answered = [probe for probe, _ in check.answered]
    assert "How long should bread dough be kneaded?" in answered
    assert "What is the best way to keep fresh basil?" in answered
    assert "Who composed the Moonlight Sonata?" not in answered
    warning = check.summary()
    assert warning is not None
    assert f"answers {len(answered)} of {len(OFF_DOMAIN_PROBES)}" in warning
    assert "ASSISTANT_ANSWER__ABSTAIN_BELOW" in warning


def test_a_generation_keeps_the_rule_it_was_built_with(tmp_path: Path, embedder: Embedder) -> None:
    strict = AnswerSettings(abstain_below=5.0)
    built = Settings(sources_dir=SOURCES, index_dir=tmp_path / "index", answer=strict)
    build_index(settings=built, embedder=embedder)
    recorded = read_generation(built.index_dir).manifest.abstention
    assert recorded == AbstentionRule(coverage="retrieved", coverage_weight=0.25, abstain_below=5.0)
    assert index_status(built.index_dir).abstention == recorded  # the UI's index panel

    # asked with the defaults, the index keeps its own rule
    kept = ask(QUESTION, settings=Settings(index_dir=built.index_dir))
    assert kept.abstained
    assert kept.abstain_below == 5.0
    # a caller who sets the threshold gets it
    mine = Settings(index_dir=built.index_dir, answer=AnswerSettings(abstain_below=0.35))
    answered = ask(QUESTION, settings=mine)
    assert not answered.abstained
    assert answered.abstain_below == 0.35
    assert "Joint Force Headquarters" in answered.text


def test_fields_the_caller_set_win_over_the_recorded_rule() -> None:
    recorded = AbstentionRule(coverage="corpus", coverage_weight=0.5, abstain_below=0.6)
    assert AnswerSettings().with_recorded(None) == AnswerSettings()
    assert AnswerSettings().with_recorded(recorded).rule() == recorded
    mixed = AnswerSettings(abstain_below=0.2, max_sentences=1).with_recorded(recorded)
    assert mixed.rule() == AbstentionRule(coverage="corpus", coverage_weight=0.5, abstain_below=0.2)
    assert mixed.max_sentences == 1


def test_an_environment_variable_wins_over_the_recorded_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = AbstentionRule(coverage="retrieved", coverage_weight=0.25, abstain_below=5.0)
    monkeypatch.setenv("ASSISTANT_ANSWER__ABSTAIN_BELOW", "0.2")
    from_env = Settings.from_env().answer.with_recorded(recorded)
    assert from_env.abstain_below == 0.2
    assert from_env.coverage_weight == 0.25
    monkeypatch.delenv("ASSISTANT_ANSWER__ABSTAIN_BELOW")
    assert Settings.from_env().answer.with_recorded(recorded).abstain_below == 5.0
