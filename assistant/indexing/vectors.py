"""Vector search. The only module that imports faiss.

Up to `EXACT_LIMIT` passages the index is an exact `IndexFlatIP`; above it, HNSW
(`IndexHNSWFlat`, inner product) with the parameters in `HNSW` — the one place
they are set. At build time HNSW's recall@10 against exact search is measured on
sampled queries and `efSearch` raised until it reaches `HNSW.target_recall`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from .._errors import IndexCorruptError
from .._settings import EXACT_LIMIT
from .._types import IndexParameters

__all__ = [
    "EXACT_LIMIT",
    "FLAT_IP",
    "HNSW",
    "HNSW_IP",
    "SearchableIndex",
    "ShardedVectorIndex",
    "VectorIndex",
    "choose_index_type",
    "merge_hits",
]

FLAT_IP = "flat-ip"
HNSW_IP = "hnsw-ip"
# Exact search costs about 0.1 ms per 10k passages here; past 50k it stops being
# instant and HNSW's recall loss becomes worth its speed.


@dataclass(frozen=True)
class HnswParameters:
    m: int = 16  # links per node: 1M × 384-d fits in < 2 GB with the vectors
    ef_construction: int = 64
    ef_search_start: int = 32
    ef_search_max: int = 1024
    target_recall: float = 0.95
    recall_queries: int = 200


HNSW = HnswParameters()


def _query_threads() -> None:
    """One query at a time is the common case; two OpenMP threads make a flat scan
    slower on this 2-core class of machine (measured: 40 ms vs 12 ms at 100k). Set
    at the first search, not at import, so importing `assistant` leaves FAISS as the
    host process configured it."""
    global _threads_set
    if not _threads_set:
        faiss.omp_set_num_threads(1)
        _threads_set = True


_threads_set = False


def choose_index_type(count: int, exact_limit: int = EXACT_LIMIT) -> str:
    """The index kind for `count` vectors: exact up to `exact_limit`, else HNSW."""
    return FLAT_IP if count <= exact_limit else HNSW_IP


class VectorIndex:
    """A FAISS index over unit vectors; scores are cosine similarities."""

    def __init__(
        self, index: faiss.Index, index_type: str, parameters: IndexParameters | None = None
    ) -> None:
        self._index = index
        self.index_type = index_type
        self.parameters = parameters or IndexParameters(kind=index_type)

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], index_type: str) -> VectorIndex:
        """Index `vectors` (rows are ids 0..n-1); HNSW's recall is measured and tuned.

        Raises:
            ValueError: A vector holds NaN or infinity, or the kind is unknown.
        """
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("refusing to index vectors that contain NaN or infinity")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if index_type == FLAT_IP:
            index = faiss.IndexFlatIP(vectors.shape[1])
            index.add(vectors)
            return cls(index, index_type)
        if index_type != HNSW_IP:
            raise ValueError(f"unknown index type {index_type!r}")
        hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW.ef_construction
        # Building is a batch job: use every core, then go back to one for queries.
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            hnsw.add(vectors)
            ef_search, recall = _tune_ef_search(hnsw, vectors)
        finally:
            faiss.omp_set_num_threads(1)
        parameters = IndexParameters(
            kind=HNSW_IP,
            hnsw_m=HNSW.m,
            ef_construction=HNSW.ef_construction,
            ef_search=ef_search,
            recall_at_10=recall,
        )
        return cls(hnsw, index_type, parameters)

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def search(self, query: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """Up to `k` `(id, score)` pairs, best first, without FAISS's `-1` padding."""
        k = min(k, self.count)
        if k <= 0:
            return []
        _query_threads()
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32, copy=False), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self._index).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, index_type: str, count: int, dimension: int) -> VectorIndex:
        """Parse a serialized index and check it holds `count` vectors of `dimension`.

        Raises:
            IndexCorruptError: The bytes are not such an index.
        """
        # A flat index is its vectors plus a small header; cap what FAISS may
        # allocate so a forged size field cannot exhaust memory.
        faiss.set_deserialization_vector_byte_limit(max(len(data) * 2, 1 << 20))
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise IndexCorruptError(f"vector index cannot be read ({first_line})") from None
        expected = {FLAT_IP: faiss.IndexFlatIP, HNSW_IP: faiss.IndexHNSWFlat}.get(index_type)
        if expected is None or not isinstance(index, expected):
            raise IndexCorruptError(
                f"vector index is a {type(index).__name__}, manifest says {index_type}"
            )
        if int(index.ntotal) != count or int(index.d) != dimension:
            raise IndexCorruptError(
                f"vector index holds {index.ntotal}×{index.d}, manifest says {count}×{dimension}"
            )
        return cls(index, index_type)


def merge_hits(hits: Iterable[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    """The best `k` of several indexes' `(id, score)` hits: by score, equal scores
    higher id first (as one FAISS index returns them, and as the shard actors'
    answers are merged), so a sharded search ranks as its shards' merge does.

    Args:
        hits: `(global id, score)` pairs from every index.
        k: Hits wanted.

    Returns:
        The best `k`, best first.
    """
    return sorted(hits, key=lambda hit: (-hit[1], -hit[0]))[:k]


class ShardedVectorIndex:
    """Consecutive runs of rows, each with its own index, searched as one: each
    run's best `k`, merged (`merge_hits`). What a generation stored as index
    shards is searched with, in one process or as shard actors."""

    def __init__(self, shards: Sequence[tuple[int, VectorIndex]]) -> None:
        """Args:
        shards: `(first row, index over the run)` in row order, tiling the rows.
        """
        self._shards = list(shards)

    @property
    def count(self) -> int:
        return sum(index.count for _, index in self._shards)

    @property
    def dimension(self) -> int:
        return self._shards[0][1].dimension if self._shards else 0

    def search(self, query: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """Up to `k` `(id, score)` pairs, best first, ids global."""
        hits = [
            (first + i, score)
            for first, index in self._shards
            for i, score in index.search(query, k)
        ]
        return merge_hits(hits, k)


#: What a generation searches its vectors with.
SearchableIndex = VectorIndex | ShardedVectorIndex


def exact_top_k(
    vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int
) -> npt.NDArray[np.int64]:
    """Ids of each query's exact top-`k` by inner product, in blocks so a million
    vectors need no second copy in memory."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    block = 65_536
    for first in range(0, len(vectors), block):
        scores = queries @ vectors[first : first + block].T
        ids = np.broadcast_to(np.arange(first, first + scores.shape[1]), scores.shape)
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, ids], axis=1)
        top = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_ids = np.take_along_axis(merged_ids, top, axis=1)
    return best_ids


def recall_at_10(index: faiss.Index, vectors: npt.NDArray[np.float32], seed: int = 0) -> float:
    """Share of the exact top-10 that `index` returns, over sampled noisy queries."""
    queries = _sample_queries(vectors, seed)
    k = min(10, len(vectors))
    exact = exact_top_k(vectors, queries, k)
    _, found = index.search(queries, k)
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, found, strict=True))
    return hits / (len(queries) * k)


def _sample_queries(vectors: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
    """Stored vectors plus noise: near the data, as real questions are, but not on it."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(vectors), size=min(HNSW.recall_queries, len(vectors)), replace=False)
    noisy = vectors[picks] + rng.normal(0, 0.05, size=(len(picks), vectors.shape[1]))
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return np.ascontiguousarray(noisy, dtype=np.float32)


def _tune_ef_search(
    index: faiss.IndexHNSWFlat, vectors: npt.NDArray[np.float32]
) -> tuple[int, float]:
    """The smallest power-of-two efSearch reaching the target recall (or the maximum)."""
    ef_search = HNSW.ef_search_start
    while True:
        index.hnsw.efSearch = ef_search
        recall = recall_at_10(index, vectors)
        if recall >= HNSW.target_recall or ef_search >= HNSW.ef_search_max:
            return ef_search, recall
        ef_search *= 2
