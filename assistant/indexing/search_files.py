"""The files a generation searches through that are built from many passages at
once: the vector index (or its shards) and the BM25 indexes, written into a
staging folder so that whoever builds them (this process, or tasks on cluster
nodes) hands over files and checksums, not matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from .._files import write_hashed
from .._types import IndexParameters, IndexShard
from .generations import FAISS, lexical_files
from .text_layers import StagedFiles
from .vectors import VectorIndex

__all__ = [
    "SearchFiles",
    "VectorIndexWritten",
    "index_shard_name",
    "search_files",
    "staged_search_files",
    "write_lexical_files",
    "write_vector_index",
]


class VectorIndexWritten(BaseModel):
    """One vector index (or index shard) written to a staging folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sha256: str
    first: int
    rows: int
    parameters: IndexParameters | None


class SearchFiles(BaseModel):
    """The vector index and BM25 files written for one generation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: dict[str, str]
    """Generation file name → SHA-256 of what was written."""
    index_type: str
    index_parameters: IndexParameters | None
    index_shards: list[IndexShard]
    """Empty: one index, `vectors.faiss`."""


def index_shard_name(first: int, last: int) -> str:
    """The generation file name of the index shard over rows `first`..`last - 1`."""
    return f"vectors.{first}-{last}.faiss"


def _write(folder: Path, name: str, data: bytes) -> str:
    """Write one file (`write_hashed`), its folder made first (`lexical/`); its SHA-256."""
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    return write_hashed(folder / name, data)


def write_vector_index(
    folder: Path, name: str, vectors: npt.NDArray[np.float32], index_type: str, first: int = 0
) -> VectorIndexWritten:
    """Build the `index_type` index of `vectors` and write it as `folder / name`.

    Args:
        folder: A staging folder of the index's file system.
        name: Its generation file name (`vectors.faiss`, or `index_shard_name`).
        vectors: The rows it indexes.
        index_type: `FLAT_IP` or `HNSW_IP` (`choose_index_type` of the whole generation).
        first: The generation row of `vectors[0]`.

    Raises:
        ValueError: A vector holds NaN or infinity.
    """
    index = VectorIndex.build(vectors, index_type)
    sha256 = _write(folder, name, index.to_bytes())
    return VectorIndexWritten(
        name=name, sha256=sha256, first=first, rows=len(vectors), parameters=index.parameters
    )


def write_lexical_files(
    folder: Path, passage_terms: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]]
) -> dict[str, str]:
    """Build both BM25 indexes and write their files under `folder`.

    Returns:
        Generation file name → SHA-256.
    """
    return {name: _write(folder, name, data) for name, data in lexical_files(passage_terms).items()}


def search_files(
    written: Sequence[VectorIndexWritten], lexical: dict[str, str], index_type: str
) -> SearchFiles:
    """What `write_vector_index` (once, or once per shard) and `write_lexical_files`
    wrote, as the manifest lists it.

    Args:
        written: The vector index, or its shards in row order.
        lexical: The BM25 files' checksums.
        index_type: The kind of every index written.
    """
    files = {item.name: item.sha256 for item in written} | lexical
    if [item.name for item in written] == [FAISS]:
        return SearchFiles(
            files=files,
            index_type=index_type,
            index_parameters=written[0].parameters,
            index_shards=[],
        )
    shards = [
        IndexShard(file=item.name, first=item.first, rows=item.rows, parameters=item.parameters)
        for item in written
    ]
    return SearchFiles(
        files=files, index_type=index_type, index_parameters=_summary(written), index_shards=shards
    )


def _summary(written: Sequence[VectorIndexWritten]) -> IndexParameters | None:
    """One line for the build report: the shards' kind, the largest `ef_search`
    and the lowest recall any shard measured."""
    parameters = [item.parameters for item in written if item.parameters is not None]
    if not parameters:
        return None
    recalls = [p.recall_at_10 for p in parameters if p.recall_at_10 is not None]
    searches = [p.ef_search for p in parameters if p.ef_search is not None]
    return parameters[0].model_copy(
        update={
            "ef_search": max(searches) if searches else None,
            "recall_at_10": min(recalls) if recalls else None,
        }
    )


def staged_search_files(folder: Path, search: SearchFiles) -> StagedFiles:
    """The search files as `write_generation` links them in.

    Args:
        folder: Where they were written.
        search: What was written.

    Returns:
        Generation file name → (the file, its SHA-256).
    """
    return {name: (folder / name, sha256) for name, sha256 in search.files.items()}
