"""Vector search. The only module that imports faiss.

The index kind is chosen in `choose_index_type`, so a larger corpus can move to
HNSW or IVF by changing that one function.
"""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt

from ._errors import IndexCorruptError

__all__ = ["FLAT_IP", "VectorIndex", "choose_index_type"]

FLAT_IP = "flat-ip"

# One query at a time is the common case; two OpenMP threads make a flat scan
# slower on this 2-core class of machine (measured: 40 ms vs 12 ms at 100k).
faiss.omp_set_num_threads(1)


def choose_index_type(count: int) -> str:
    """The index kind for `count` vectors: exact inner product for now."""
    del count  # every size uses exact search until a larger corpus needs otherwise
    return FLAT_IP


class VectorIndex:
    """A FAISS index over unit vectors; scores are cosine similarities."""

    def __init__(self, index: faiss.Index, index_type: str) -> None:
        self._index = index
        self.index_type = index_type

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], index_type: str) -> VectorIndex:
        """Index `vectors` (rows are ids 0..n-1).

        Raises:
            ValueError: A vector holds NaN or infinity, or the kind is unknown.
        """
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("refusing to index vectors that contain NaN or infinity")
        if index_type != FLAT_IP:
            raise ValueError(f"unknown index type {index_type!r}")
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, index_type)

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
        if int(index.ntotal) != count or int(index.d) != dimension:
            raise IndexCorruptError(
                f"vector index holds {index.ntotal}×{index.d}, manifest says {count}×{dimension}"
            )
        return cls(index, index_type)
