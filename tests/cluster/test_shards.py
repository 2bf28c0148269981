"""The shard servers and the merge, in this process (no Ray): the candidates of
two or three shards give exactly the single index's search results."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant._errors import IndexCorruptError
from assistant._settings import Settings
from assistant.cluster.shards import (
    ShardServer,
    _older_than_previous,
    merged_candidates,
    shard_ranges,
)
from assistant.indexing.generations import (
    GENERATIONS,
    current_generation,
    map_generation,
    open_lexical,
    read_generation,
)
from assistant.indexing.lexical import content_terms
from assistant.search.pipeline import search
from assistant.search.searcher import load_searcher

from ..conftest import BRIEF_QUESTION_TEXTS

QUESTIONS = BRIEF_QUESTION_TEXTS


def _servers(index_dir: Path, shards: int) -> list[ShardServer]:
    name = current_generation(index_dir)
    assert name is not None
    count = read_generation(index_dir).manifest.chunk_count
    return [
        ShardServer(str(index_dir), name, first, last)
        for first, last in shard_ranges(count, shards)
    ]


def _in_process(servers: list[ShardServer]):  # type: ignore[no-untyped-def]
    """The candidate step `search` takes, asking these servers directly (no Ray)."""

    def step(searcher, text, query, k, options):  # type: ignore[no-untyped-def]
        def ask(query, terms, pool, in_context):  # type: ignore[no-untyped-def]
            return [s.candidates(query, terms, pool, in_context) for s in servers]

        return merged_candidates(ask, searcher, text, query, k, options)

    return step


@pytest.mark.parametrize("shards", [2, 3])
@pytest.mark.parametrize(
    "retrieval",
    [
        {},
        {"fusion": "rrf"},
        {"fusion": "dense"},
        {"fusion": "lexical"},
        {"normalization": "fixed"},
        {"lexical_context": False, "candidates": 7},
    ],
)
def test_shards_answer_what_the_single_index_answers(
    brief_index: Path, shards: int, retrieval: dict[str, object]
) -> None:
    step = _in_process(_servers(brief_index, shards))
    settings = Settings(index_dir=brief_index)
    settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update=retrieval)}
    )
    for question in QUESTIONS:
        local = search(question, 5, settings)
        sharded = search(question, 5, settings, candidates=step)
        # Citations, scores, highlights and abstention signals alike.
        assert sharded == local, question


def test_a_shard_scores_its_rows_with_the_whole_corpus_statistics(brief_index: Path) -> None:
    whole = open_lexical(read_generation(brief_index), True)
    assert whole is not None
    first, second = _servers(brief_index, 2)
    terms = content_terms("Japan defense minister Okinawa alliance")
    together = np.concatenate(
        [first.lexical[True].scores(terms), second.lexical[True].scores(terms)]
    )
    assert np.array_equal(together, whole.scores(terms))


def test_a_shard_server_refuses_altered_vectors(brief_index: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(brief_index, index_dir)
    name = current_generation(index_dir)
    assert name is not None
    path = index_dir / GENERATIONS / name / "vectors.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"vectors\.npy does not match its checksum"):
        ShardServer(str(index_dir), name, 0, 5)
    mapped = map_generation(brief_index, name)
    assert all(isinstance(part, np.memmap) for part in mapped.vectors.parts)


def test_a_process_searching_through_shards_never_reads_the_vector_index(
    brief_index: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"  # a folder no searcher of this process has loaded
    shutil.copytree(brief_index, index_dir)
    step = _in_process(_servers(index_dir, 2))
    # An address makes `search` shard the query; `candidates` stands in for Ray.
    on_cluster = Settings(index_dir=index_dir, ray_address="10.0.0.1:6379")
    sharded = [search(q, 5, on_cluster, candidates=step) for q in QUESTIONS[:4]]
    assert not load_searcher(index_dir).generation.index_file.is_read
    local = [search(q, 5, Settings(index_dir=index_dir)) for q in QUESTIONS[:4]]
    assert load_searcher(index_dir).generation.index_file.is_read  # read on first use
    assert sharded == local


def test_only_sets_older_than_the_previous_generation_are_stopped() -> None:
    g1, g2, g3, g4 = (f"20261125T10000{i}000000Z-abcdef" for i in range(1, 5))
    # a process starts serving g3: g2 (the one before) and g4 (newer) stay
    assert _older_than_previous(g3, {g1, g2, g3, g4}) == {g1}
    # a new process on the live generation stops nothing another still needs
    assert _older_than_previous(g4, {g3, g4}) == set()
    # a lagging process on g2 never stops g3 or g4
    assert _older_than_previous(g2, {g1, g2, g3, g4}) == set()
    assert _older_than_previous(g1, set()) == set()
