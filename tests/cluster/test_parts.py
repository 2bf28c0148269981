"""A cluster build's commit step, in this process (no Ray): the new generation is
made of one vector part per document, an unchanged document's part is linked
from the previous generation, and the result answers as the local build does."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant import build_index, retrieve
from assistant._errors import ClusterError, IndexCorruptError
from assistant._settings import Settings
from assistant._types import Citation, Document
from assistant.cluster.indexing_task import (
    IndexJob,
    claim_search_files,
    part_vector_files,
    run_in_process,
)
from assistant.cluster.parts import CHECKED_FOLDER, generation_parts, write_part
from assistant.cluster.shards import ShardServer, merged_candidates, shard_ranges
from assistant.embedding.transformer import Embedder
from assistant.indexing.build_embed import EmbeddedPassages, prepare
from assistant.indexing.build_write import assemble, write_new_generation
from assistant.indexing.generations import (
    Generation,
    new_generation_id,
    read_generation,
)
from assistant.indexing.search_files import (
    search_files,
    write_lexical_files,
    write_vector_index,
)
from assistant.indexing.vectors import ShardedVectorIndex
from assistant.ingest.sources import load_documents
from assistant.search.pipeline import CandidateStep, search

from ..conftest import BRIEF, BRIEF_QUESTION_TEXTS, DATA, SOURCES

QUESTIONS = [*BRIEF_QUESTION_TEXTS[:6], "When did the relief convoy reach Okinawa?"]


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    shutil.copy(SOURCES / BRIEF, folder)
    for name in ("typhoon-relief.txt", "2023-11-02-quad-foreign-ministers.md"):
        shutil.copy(DATA / name, folder)
    return folder


def _local_build(sources: Path, tmp_path: Path, embedder: Embedder) -> tuple[Settings, Generation]:
    """A local build of `sources`: its settings and its generation, vectors read."""
    settings = Settings(sources_dir=sources, index_dir=tmp_path / "index")
    build_index(settings=settings, embedder=embedder)
    return settings, read_generation(settings.index_dir, with_vectors=True)


def _commit(
    settings: Settings,
    previous: Generation,
    embedder: Embedder,
    fresh: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Generation:
    """What `build_on_ray` does once the workers are done: assemble the documents
    (every one unchanged, or `fresh` with the vectors a worker wrote), make the
    parts, write the generation live."""
    documents, _ = load_documents(settings.sources_dir)
    staging = settings.index_dir / "staging"
    staging.mkdir(exist_ok=True)
    encoders = prepare(embedder, lambda: embedder, staging, previous, 0)
    staged = {
        source: write_part(staging, _document(documents, source), vectors, sentences)
        for source, (vectors, sentences) in (fresh or {}).items()
    }
    by_source = {d.source: [c for c in previous.chunks if c.source == d.source] for d in documents}
    own = [chunk for source in staged for chunk in by_source[source]]
    # as the driver: no vectors read, the indexing task's files claimed and checked
    embedded = EmbeddedPassages(vectors=_empty(), sentence_vectors=_empty())
    content = assemble(
        documents,
        {source: [c for c in own if c.source == source] for source in staged},
        embedded,
        previous,
        sentences=False,
        vectors=False,
    )
    assert content.vectors.shape == (0, 384)
    (staging / CHECKED_FOLDER).mkdir(exist_ok=True)
    parts, files = generation_parts(documents, content, staged, staging, previous)
    job = IndexJob(
        shard_folder=str(staging),
        dimension=384,
        vectors=part_vector_files(parts, files),
        chunks=content.chunks,
        records=content.records,
        fresh_terms={},
        exact_limit=settings.exact_limit,
        shards=settings.ray_shards,
    )
    search = run_in_process(job)  # the vector and lexical tasks, one after the other
    search_files = claim_search_files(staging, search)
    write_new_generation(
        settings,
        new_generation_id(),
        content,
        384,
        encoders.query,
        {**files, **search_files},
        parts=parts,
        search=search,
    )
    written = read_generation(settings.index_dir, with_vectors=True)
    for name, (path, _) in search_files.items():  # linked, not rebuilt by the driver
        assert (written.path / name).samefile(path)
    shutil.rmtree(staging)
    return written


def _document(documents: list[Document], source: str) -> Document:
    return next(d for d in documents if d.source == source)


def _empty() -> np.ndarray:
    return np.zeros((0, 384), np.float32)


def _answers(settings: Settings) -> list[list[Citation]]:
    return [retrieve(q, k=5, settings=settings) for q in QUESTIONS]


def _same_answers(a: list[list[Citation]], b: list[list[Citation]]) -> bool:
    def key(c: Citation) -> tuple[object, ...]:
        return (c.source, c.start, c.end, c.chunk_id, round(c.score, 5), c.highlights)

    return [[key(c) for c in found] for found in a] == [[key(c) for c in found] for found in b]


def test_parts_are_written_linked_and_read_as_the_local_generation(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    settings, local = _local_build(sources, tmp_path, embedder)
    expected = _answers(settings)
    assert local.manifest.parts == []

    # 1. From a local generation: every part is written from its rows.
    parted = _commit(settings, local, embedder)
    assert parted.manifest.format_version == 5
    assert [p.sources for p in parted.manifest.parts] == [[s] for s in local.manifest.documents]
    assert not (parted.path / "vectors.npy").exists()
    assert not (parted.path / "sentences.npy").exists()
    assert list(parted.chunks) == list(local.chunks)
    assert parted.vectors is not None
    assert local.vectors is not None
    assert np.array_equal(parted.vectors, local.vectors)
    assert np.array_equal(parted.sentence_vectors.to_array(), local.sentence_vectors.to_array())
    assert _same_answers(_answers(settings), expected)

    # 2. One document fresh from a worker, the others linked from the previous parts.
    brief = [c for c in parted.chunks if c.source == BRIEF]
    first, last = brief[0].id, brief[-1].id
    start = int(parted.sentence_rows[first])
    end = int(parted.sentence_rows[last]) + len(brief[-1].sentences)
    vectors = parted.vectors[first : last + 1]
    sentences = parted.sentence_vectors[start:end].astype(np.float32)
    again = _commit(settings, parted, embedder, fresh={BRIEF: (vectors, sentences)})
    linked = [
        name
        for part in again.manifest.parts
        for name in (part.vectors, part.sentences)
        if os.path.samefile(again.path / name, parted.path / name)
    ]
    assert len(linked) == 2 * (len(again.manifest.parts) - 1)
    assert not any(BRIEF in part.sources for part in again.manifest.parts if part.vectors in linked)
    assert _same_answers(_answers(settings), expected)


def test_a_damaged_part_falls_back_to_the_previous_generation(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    settings, local = _local_build(sources, tmp_path, embedder)
    parted = _commit(settings, local, embedder)
    path = parted.path / parted.manifest.parts[1].sentences
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="does not match its checksum"):
        read_generation(settings.index_dir)
    served = read_generation(settings.index_dir, fallback=True)
    assert served.manifest.generation == local.manifest.generation
    assert served.fallback_reason is not None
    assert path.name in served.fallback_reason


def test_parts_that_do_not_tile_the_passages_are_refused(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    settings, local = _local_build(sources, tmp_path, embedder)
    parted = _commit(settings, local, embedder)
    manifest = parted.path / "manifest.json"
    first, second = parted.manifest.parts[:2]
    forged = parted.manifest.model_copy(
        update={
            "parts": [
                first.model_copy(update={"rows": first.rows + 1}),
                second.model_copy(update={"rows": second.rows - 1}),
                *parted.manifest.parts[2:],
            ]
        }
    )
    manifest.write_text(forged.model_dump_json())
    with pytest.raises(IndexCorruptError, match="do not match its passages"):
        read_generation(settings.index_dir)


def test_search_files_altered_after_the_task_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    (folder / CHECKED_FOLDER).mkdir(parents=True)
    vectors = np.eye(3, 384, dtype=np.float32)
    chunks_terms = ([["tokyo"], ["seoul"], ["manila"]], [["tokyo"], ["seoul"], ["manila"]])
    written = write_vector_index(folder / "search", "vectors.faiss", vectors, "flat-ip")
    search = search_files(
        [written], write_lexical_files(folder / "search", chunks_terms), "flat-ip"
    )
    assert search.index_shards == []
    assert search.index_parameters is not None
    assert search.index_parameters.kind == "flat-ip"
    (folder / "search" / "vectors.faiss").write_bytes(b"forged")
    with pytest.raises(ClusterError, match="does not match what its task wrote"):
        claim_search_files(folder, search)


def test_a_sharded_vector_index_answers_as_its_shard_actors(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """Above the exact limit a cluster generation stores one HNSW index per run of
    rows the actors serve (format 6): a reader searches them all and merges, each
    actor loads its own, and both give the same answers."""
    settings, local = _local_build(sources, tmp_path, embedder)
    sharded = settings.model_copy(update={"exact_limit": 10, "ray_shards": 2})
    generation = _commit(sharded, local, embedder)
    manifest = generation.manifest
    count = manifest.chunk_count
    assert (manifest.format_version, manifest.index_type) == (6, "hnsw-ip")
    assert [(s.first, s.first + s.rows) for s in manifest.index_shards] == shard_ranges(count, 2)
    assert not (generation.path / "vectors.faiss").exists()
    assert isinstance(generation.index, ShardedVectorIndex)

    def actors_step(servers: list[ShardServer]) -> CandidateStep:
        def ask(query: np.ndarray, terms: list[str], pool: int, in_context: bool) -> list:
            return [server.candidates(query, terms, pool, in_context) for server in servers]

        return lambda searcher, text, query, k, options: merged_candidates(
            ask, searcher, text, query, k, options
        )

    def servers(shards: int) -> list[ShardServer]:
        index_dir = str(settings.index_dir)
        return [
            ShardServer(index_dir, manifest.generation, first, last)
            for first, last in shard_ranges(count, shards)
        ]

    stored = servers(2)
    assert [server.index_origin() for server in stored] == ["stored", "stored"]
    for question in QUESTIONS:
        one_reader = search(question, 5, settings).citations
        actors = search(question, 5, settings, candidates=actors_step(stored)).citations
        assert _same_answers([one_reader], [actors]), question
    # a cut the build did not store: each actor builds its own index over its rows
    assert {server.index_origin() for server in servers(3)} == {"built"}


def test_index_shards_that_are_damaged_or_do_not_tile_are_refused(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    settings, local = _local_build(sources, tmp_path, embedder)
    sharded = settings.model_copy(update={"exact_limit": 10, "ray_shards": 2})
    generation = _commit(sharded, local, embedder)
    manifest_file = generation.path / "manifest.json"
    original = manifest_file.read_bytes()
    first, second = generation.manifest.index_shards
    gap = second.model_copy(update={"first": second.first + 1, "rows": second.rows - 1})
    forged = generation.manifest.model_copy(update={"index_shards": [first, gap]})
    manifest_file.write_text(forged.model_dump_json())
    with pytest.raises(IndexCorruptError, match="do not tile"):
        read_generation(settings.index_dir)
    manifest_file.write_bytes(original)
    path = generation.path / second.file
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    served = read_generation(settings.index_dir, fallback=True)
    assert served.manifest.generation == local.manifest.generation
    assert served.fallback_reason is not None
    assert second.file in served.fallback_reason
