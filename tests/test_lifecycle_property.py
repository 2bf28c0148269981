"""Hypothesis drives random add / edit / delete / rebuild sequences; after every
successful rebuild each citation must come from the current sources and round-trip."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from assistant import SourcesError, build_index, retrieve
from assistant.indexing.generations import current_generation

from .conftest import ReusedExport

# 15 examples, each a fresh index rebuilt up to 8 times.
pytestmark = pytest.mark.slow

SENTENCES = [
    "Relief flights landed in Okinawa after the typhoon.",
    "The defense minister met his counterpart in Tokyo.",
    "Forty helicopter sorties were flown in three days.",
    "Coast guard ships patrolled near the islands.",
    "The joint statement named two missile programs.",
]
QUESTIONS = ["Where did relief flights land?", "Who met in Tokyo?", "How many sorties?"]
NAMES = st.sampled_from(["alpha.txt", "beta.md", "notes/gamma.txt", "delta.txt"])
# Mostly real prose, sometimes arbitrary text (emptiness and odd characters included).
CONTENT = st.one_of(
    st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=5).map(
        lambda lines: "Field note\n\n" + "\n".join(lines) + "\n"
    ),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
)


class SourcesAndIndex(RuleBasedStateMachine):
    # Set by the `_build_embedder` fixture below: a state machine is constructed by
    # hypothesis, out of reach of fixtures. Every example starts a fresh index.
    build_embedder: ReusedExport | None = None

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="lifecycle-"))
        self.sources = self.root / "sources"
        self.index = self.root / "index"
        assert self.build_embedder is not None
        self.embedder = self.build_embedder
        self.built_from: dict[str, str] | None = None  # file texts at the last good build

    @initialize(name=NAMES, content=CONTENT)
    def first_document(self, name: str, content: str) -> None:
        self.sources.mkdir()
        self.write(name, content)

    def write(self, name: str, content: str) -> None:
        path = self.sources / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")

    def files(self) -> dict[str, str]:
        return {
            p.relative_to(self.sources).as_posix(): p.read_text(encoding="utf-8")
            for p in self.sources.rglob("*")
            if p.is_file()
        }

    @rule(name=NAMES, content=CONTENT)
    def add_or_edit(self, name: str, content: str) -> None:
        self.write(name, content)

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        (self.sources / name).unlink(missing_ok=True)

    @rule()
    def rebuild(self) -> None:
        texts = self.files()
        before = current_generation(self.index) if self.index.exists() else None
        try:
            report = build_index(self.sources, self.index, embedder=self.embedder)
        except SourcesError:
            # nothing readable (blank, or NUL bytes: skipped as binary): refused,
            # and whatever was live stays live
            assert not [t for t in texts.values() if t.strip() and "\x00" not in t]
            assert (current_generation(self.index) if self.index.exists() else None) == before
            return
        self.built_from = {s: texts[s] for s in report.added + report.changed + report.unchanged}
        assert set(report.removed).isdisjoint(self.built_from)

    @invariant()
    def citations_come_from_the_last_good_build(self) -> None:
        if self.built_from is None:
            return
        live = current_generation(self.index)
        for question in QUESTIONS:
            for citation in retrieve(question, k=5, index_dir=self.index):
                assert citation.generation == live
                assert citation.source in self.built_from
                text = self.built_from[citation.source]
                assert text[citation.start : citation.end] == citation.text

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _build_embedder(embedder: ReusedExport) -> None:
    SourcesAndIndex.build_embedder = embedder


SourcesAndIndex.TestCase.settings = settings(
    # Each example builds up to 8 times; CI draws new examples on every run.
    max_examples=12,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSourcesAndIndex = SourcesAndIndex.TestCase
