"""Index kind by size: exact up to the limit, HNSW above it with measured recall."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import IndexCorruptError
from assistant.indexing.vectors import (
    EXACT_LIMIT,
    FLAT_IP,
    HNSW,
    HNSW_IP,
    ShardedVectorIndex,
    VectorIndex,
    choose_index_type,
    exact_top_k,
    recall_at_10,
)


def _clustered(count: int, dimension: int = 64, seed: int = 1) -> np.ndarray:
    """Unit vectors in clusters, as sentence embeddings are (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, dimension))
    vectors = centers[rng.integers(0, 40, count)] + rng.normal(scale=0.7, size=(count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_kind_switches_at_the_threshold() -> None:
    assert choose_index_type(EXACT_LIMIT) == FLAT_IP
    assert choose_index_type(EXACT_LIMIT + 1) == HNSW_IP
    assert choose_index_type(300, exact_limit=299) == HNSW_IP
    assert choose_index_type(299, exact_limit=299) == FLAT_IP


def test_hnsw_reports_and_reaches_its_recall_target() -> None:
    vectors = _clustered(3000)
    index = VectorIndex.build(vectors, choose_index_type(len(vectors), exact_limit=2000))
    parameters = index.parameters
    assert parameters.kind == HNSW_IP
    assert parameters.hnsw_m == HNSW.m
    assert parameters.recall_at_10 is not None
    assert parameters.recall_at_10 >= HNSW.target_recall
    # measured again on other queries, after a save and load
    loaded = VectorIndex.from_bytes(
        index.to_bytes(), index_type=HNSW_IP, count=len(vectors), dimension=vectors.shape[1]
    )
    assert recall_at_10(loaded._index, vectors, seed=7) >= HNSW.target_recall - 0.03
    first = loaded.search(vectors[17], 5)
    assert first[0][0] == 17
    assert first[0][1] == pytest.approx(1.0, abs=1e-5)


def test_exact_index_is_exact() -> None:
    vectors = _clustered(500)
    index = VectorIndex.build(vectors, FLAT_IP)
    assert index.parameters.kind == FLAT_IP
    assert recall_at_10(index._index, vectors) == 1.0
    expected = exact_top_k(vectors, vectors[:3], 4)
    for row in range(3):
        assert {i for i, _ in index.search(vectors[row], 4)} == set(expected[row].tolist())


def test_kind_in_manifest_must_match_the_file() -> None:
    vectors = _clustered(100)
    data = VectorIndex.build(vectors, FLAT_IP).to_bytes()
    with pytest.raises(IndexCorruptError, match="IndexFlatIP, manifest says hnsw-ip"):
        VectorIndex.from_bytes(data, index_type=HNSW_IP, count=100, dimension=64)


def test_exact_shards_search_as_one_exact_index() -> None:
    vectors = _clustered(900)
    vectors[700] = vectors[100]  # an equal cosine across shards: higher id first, as FAISS
    whole = VectorIndex.build(vectors, FLAT_IP)
    shards = ShardedVectorIndex(
        [(first, VectorIndex.build(vectors[first:last], FLAT_IP))
         for first, last in ((0, 300), (300, 650), (650, 900))]
    )  # fmt: skip
    assert (shards.count, shards.dimension) == (900, 64)
    for query in _clustered(20, seed=7):
        one, merged = whole.search(query, 12), shards.search(query, 12)
        assert [i for i, _ in merged] == [i for i, _ in one]
        assert np.allclose([s for _, s in merged], [s for _, s in one], atol=1e-6)
    top = shards.search(vectors[100], 2)
    assert [i for i, _ in top] == [700, 100]
