"""The BM25 index stored in each generation: the same scores as an index built in
memory from the passages, memory-mapped on load, checked like every other file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import retrieve
from assistant._errors import IndexCorruptError
from assistant._types import document_context
from assistant.indexing.generations import (
    GENERATIONS,
    MANIFEST,
    current_generation,
    lexical_terms,
    open_lexical,
    read_generation,
)
from assistant.indexing.lexical import LexicalIndex, content_terms, top_rows
from assistant.search.searcher import load_searcher

from ..conftest import BRIEF_QUESTION_TEXTS

QUESTIONS = BRIEF_QUESTION_TEXTS


def _texts(index_dir: Path, in_context: bool) -> list[str]:
    generation = read_generation(index_dir)
    documents = generation.manifest.documents
    return [
        (
            document_context(documents[c.source].title, documents[c.source].date)
            if in_context
            else ""
        )
        + c.text
        for c in generation.chunks
    ]


@pytest.mark.parametrize("in_context", [True, False])
def test_stored_index_scores_like_one_built_from_the_passages(
    brief_index: Path, in_context: bool
) -> None:
    stored = open_lexical(read_generation(brief_index), in_context)
    assert stored is not None
    built = LexicalIndex(_texts(brief_index, in_context))
    assert stored.count == built.count > 10
    for question in [*QUESTIONS, "Okinawa Okinawa typhoon", "zzz-unknown words only"]:
        terms = content_terms(question)
        assert np.array_equal(stored.scores(terms), built.scores(terms)), question
        assert stored.known_terms(terms) == built.known_terms(terms)
        assert stored.upper_bound(terms) == built.upper_bound(terms)
        assert [stored.idf(t) for t in terms] == [built.idf(t) for t in terms]


def test_terms_in_context_are_the_title_terms_then_the_passage_terms(brief_index: Path) -> None:
    generation = read_generation(brief_index)
    plain, in_context = lexical_terms(generation.chunks, generation.manifest.documents)
    assert in_context == [content_terms(text) for text in _texts(brief_index, True)]
    # terms cut elsewhere (the cluster's workers) give the same
    cut = [content_terms(c.text) for c in generation.chunks]
    assert plain == cut
    assert lexical_terms(generation.chunks, generation.manifest.documents, cut)[1] == in_context


def test_a_searcher_maps_the_stored_index_instead_of_building_one(brief_index: Path) -> None:
    lexical = load_searcher(brief_index).lexical(True)
    # Memory-mapped arrays: opening is a few file opens, whatever the corpus size.
    assert isinstance(lexical._scores, np.memmap)
    assert isinstance(lexical._rows, np.memmap)


def _copy(index_dir: Path, target: Path) -> Path:
    shutil.copytree(index_dir, target)
    name = current_generation(target)
    assert name is not None
    return target / GENERATIONS / name


def test_an_altered_lexical_file_is_refused(brief_index: Path, tmp_path: Path) -> None:
    folder = _copy(brief_index, tmp_path / "index")
    path = folder / "lexical" / "context.scores.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"context\.scores\.npy does not match"):
        read_generation(tmp_path / "index")


def test_a_generation_without_stored_index_still_answers_the_same(
    brief_index: Path, tmp_path: Path
) -> None:
    """A generation written before lexical indexes were stored: indexed on load."""
    folder = _copy(brief_index, tmp_path / "index")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("lexical/")}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(folder / "lexical")
    assert open_lexical(read_generation(tmp_path / "index"), True) is None
    for question in QUESTIONS[:5]:
        old = retrieve(question, k=5, index_dir=tmp_path / "index")
        new = retrieve(question, k=5, index_dir=brief_index)
        assert [(c.source, c.start, c.end) for c in old] == [
            (c.source, c.start, c.end) for c in new
        ]


def test_an_index_of_stopwords_only_scores_nothing() -> None:
    index = LexicalIndex(["the of and", "a"])
    assert index.scores(content_terms("the Okinawa")).tolist() == [0.0, 0.0]
    assert index.known_terms(["okinawa"]) == []
    stored = {name: data for name, data in index.to_files().items()}
    assert json.loads(stored["params.json"])["terms"] == 0


def test_abbreviations_and_plus_joined_names_are_terms_of_their_own() -> None:
    index = LexicalIndex([
        "The 2+2 met in Tokyo.",
        "Two and two make four in Tokyo.",
        "U.N. inspectors visited the plant.",
        "Inspectors from Japan visited the plant.",
    ])  # fmt: skip
    assert content_terms("Who attended the 2+2 with U.S. officials?") == [
        "attend",
        "2+2",
        "us",
        "offici",
    ]
    assert index.scores(content_terms("When did the 2+2 meet?")).argmax() == 0
    scores = index.scores(content_terms("Which U.N. inspectors visited?"))
    assert scores[2] > scores[3] > 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.25]), max_size=60),
    st.integers(min_value=0, max_value=70),
)
def test_top_rows_is_a_stable_sort_cut_at_count(values: list[float], count: int) -> None:
    scores = np.asarray(values, dtype=np.float32)
    expected = [int(i) for i in np.argsort(-scores, kind="stable")[:count] if scores[i] > 0]
    assert top_rows(scores, count).tolist() == expected
