"""A cluster build's pool actor, in this process (no Ray): it writes a document's
vectors as checksummed shard files and returns the passages and their BM25
terms; the driver reads the files back and refuses one that changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant._errors import ClusterError
from assistant._settings import Settings
from assistant.cluster.build import WorkerSpec, _collect, _Returned, _Worker
from assistant.cluster.parts import check_shard, write_shard
from assistant.indexing.generations import read_generation
from assistant.indexing.lexical import content_terms
from assistant.indexing.parts import part_files
from assistant.ingest.sources import load_documents

from ..conftest import SOURCES

DIMENSION = 4


def test_a_shard_file_checks_and_a_changed_one_is_refused(tmp_path: Path) -> None:
    rows = np.arange(3 * DIMENSION, dtype=np.float32).reshape(3, DIMENSION)
    name, sha256 = write_shard(tmp_path, "a.vectors.npy", rows)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left
    shape = (3, DIMENSION)
    check_shard(tmp_path, name, sha256, shape, np.float32)
    assert np.array_equal(np.load(tmp_path / name), rows)
    with pytest.raises(ClusterError, match="holds"):
        check_shard(tmp_path, name, sha256, (2, DIMENSION), np.float32)
    with pytest.raises(ClusterError, match="holds"):
        check_shard(tmp_path, name, sha256, shape, np.float16)
    with pytest.raises(ClusterError, match="does not match what its worker wrote"):
        check_shard(tmp_path, "../" + name, sha256, shape, np.float32)
    data = bytearray((tmp_path / name).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(ClusterError, match="does not match what its worker wrote"):
        check_shard(tmp_path, name, sha256, shape, np.float32)


def test_a_worker_returns_what_a_local_build_indexes(brief_index: Path, tmp_path: Path) -> None:
    generation = read_generation(brief_index, with_vectors=True)
    record = generation.manifest.query_encoder
    assert record is not None
    assert generation.vectors is not None
    names = (record.file, record.weights, record.tokenizer)
    spec = WorkerSpec(
        settings=Settings(sources_dir=SOURCES, index_dir=brief_index),
        encoder_folder=str(generation.path),
        encoder_files={name: generation.manifest.files[name] for name in names},
        encoder=record,
        model=generation.manifest.model,
        dimension=generation.manifest.dimension,
        shard_folder=str(tmp_path),
    )
    documents, _ = load_documents(SOURCES)
    batch = {"document": np.array([d.model_dump_json() for d in documents], dtype=object)}
    (tmp_path / "checked").mkdir()
    out = _Worker(spec.model_dump_json())(batch)
    returned = {
        source: _Returned(**{key: out[key][i] for key in out})
        for i, source in enumerate(out["source"])
    }
    fresh = _collect(documents, returned, spec)

    chunks = list(generation.chunks)
    assert [c for d in documents for c in fresh.passages.by_source[d.source]] == chunks
    assert [t for d in documents for t in fresh.terms[d.source]] == [
        content_terms(c.text) for c in chunks
    ]
    # the driver reads no vector: they stay in the checked files
    assert fresh.embedded.vectors.shape == (0, generation.manifest.dimension)
    assert fresh.embedded.sentence_vectors.shape == (0, generation.manifest.dimension)
    # each document's part: named by its path and content, float16 sentences
    named = {d.source: part_files(d.source, d.sha256) for d in documents}
    vectors = np.concatenate(
        [np.load(tmp_path / "checked" / named[d.source][0]) for d in documents]
    )
    assert vectors.dtype == np.float32
    assert float((vectors * generation.vectors).sum(axis=1).min()) >= 0.9999
    assert {s: (p.vectors, p.sentences) for s, p in fresh.parts.items()} == named
    written = sorted(p.name for p in (tmp_path / "checked").iterdir())
    assert written == sorted(name for pair in named.values() for name in pair)
    sentences = np.concatenate(
        [np.load(tmp_path / "checked" / named[d.source][1]) for d in documents]
    )
    assert sentences.dtype == np.float16
    local = generation.sentence_vectors.to_array().astype(np.float32)
    assert float((sentences.astype(np.float32) * local).sum(axis=1).min()) >= 0.999
    assert [p.name for p in tmp_path.iterdir()] == ["checked"]  # every file claimed
