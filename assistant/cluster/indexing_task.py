"""A cluster build's search files: the vector index over every passage and the
BM25 indexes are built by one Ray task on a cluster node, not by the driver.

The task reads the new generation's vector parts (each checked against the
SHA-256 the manifest will list), cuts the BM25 terms the workers did not (those of
unchanged documents), builds the FAISS index (HNSW above the exact limit, on the
node's cores) and both BM25 indexes, and writes them into the build's shard
folder (`assistant.indexing.search_files`). Only names and checksums come back.
The driver moves the folder aside before it checks the files, as it does with
the vector parts, then links them into the new generation. A task whose worker
dies is retried by Ray; its files are written again, atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from .._errors import ClusterError
from .._files import sha256_file
from .._types import Chunk, DocumentRecord, VectorPart
from ..indexing.generations import lexical_terms
from ..indexing.lexical import content_terms
from ..indexing.search_files import SearchFiles, staged_search_files, write_search_files
from ..indexing.text_layers import StagedFiles
from .extract import TASK_RETRIES
from .parts import CHECKED_FOLDER

__all__ = [
    "FreshTerms",
    "IndexJob",
    "PartFile",
    "build_search_files",
    "claim_search_files",
    "index_task",
    "part_vector_files",
    "passage_terms",
]

#: Each fresh document's passages' BM25 terms alone, as its worker cut them.
FreshTerms = dict[str, list[list[str]]]

#: The folder, inside the shard folder, the task writes the search files into.
SEARCH_FOLDER = "search"


class PartFile(BaseModel):
    """One vector part's passage-vector file, as the task reads it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    rows: int


class IndexJob(BaseModel):
    """Everything the task needs, sent as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_folder: str
    dimension: int
    vectors: list[PartFile]
    """The passage-vector files of the generation's parts, in row order."""
    chunks: list[Chunk]
    records: dict[str, DocumentRecord]
    fresh_terms: FreshTerms


def passage_terms(
    chunks: Sequence[Chunk], records: dict[str, DocumentRecord], fresh: FreshTerms
) -> tuple[Sequence[list[str]], list[list[str]]]:
    """Every passage's BM25 terms alone and in context: a fresh document's as its
    worker cut them, an unchanged document's cut here.

    Args:
        chunks: The new generation's passages, in id order.
        records: Their documents' records (title and date).
        fresh: The terms the workers cut, by source.

    Returns:
        As `lexical_terms`.
    """
    taken: dict[str, int] = {}
    plain: list[list[str]] = []
    for chunk in chunks:
        own = fresh.get(chunk.source)
        if own is None:
            plain.append(content_terms(chunk.text))
            continue
        plain.append(own[taken.get(chunk.source, 0)])
        taken[chunk.source] = taken.get(chunk.source, 0) + 1
    return lexical_terms(chunks, records, plain)


def index_task(job: str) -> str:
    """Build and write the search files, in a Ray task.

    Args:
        job: The `IndexJob`, as JSON.

    Returns:
        The `SearchFiles` written, as JSON.

    Raises:
        ClusterError: A part file is missing, altered or of another shape.
    """
    spec = IndexJob.model_validate_json(job)
    matrices = []
    for part in spec.vectors:
        path = Path(part.path)
        if not path.is_file() or sha256_file(path) != part.sha256:
            raise ClusterError(f"vector part {path} is missing or altered: build again")
        rows = np.load(path, mmap_mode="r", allow_pickle=False)
        if rows.dtype != np.float32 or rows.shape != (part.rows, spec.dimension):
            raise ClusterError(f"vector part {path} holds {rows.shape}: build again")
        matrices.append(rows)
    vectors = np.concatenate(matrices) if matrices else np.zeros((0, spec.dimension), np.float32)
    terms = passage_terms(spec.chunks, spec.records, spec.fresh_terms)
    folder = Path(spec.shard_folder) / SEARCH_FOLDER
    folder.mkdir(exist_ok=True)
    return write_search_files(folder, vectors, terms).model_dump_json()


def build_search_files(
    ray: Any,
    shard_folder: Path,
    job: IndexJob,
) -> tuple[SearchFiles, StagedFiles]:
    """Run `index_task` on the cluster, then claim and check what it wrote.

    Args:
        ray: The `ray` module, connected.
        shard_folder: The build's shard folder (on storage every node reaches).
        job: What to index.

    Returns:
        The search files and, for `write_generation`, each one's checked file
        (`claim_search_files`).

    Raises:
        ClusterError: The task failed, or a file it wrote is missing or altered.
    """
    task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(index_task)
    try:
        search = SearchFiles.model_validate_json(ray.get(task.remote(job.model_dump_json())))
    except ray.exceptions.RayError as exc:
        raise ClusterError(
            f"indexing on the cluster failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}); the previous index keeps serving: build again"
        ) from None
    return search, claim_search_files(shard_folder, search)


def claim_search_files(shard_folder: Path, search: SearchFiles) -> StagedFiles:
    """Move the task's search folder into `CHECKED_FOLDER`, then check each file
    against the SHA-256 the task reported.

    Args:
        shard_folder: The build's shard folder.
        search: What `index_task` returned.

    Returns:
        For `write_generation`: each file's name → (the checked file, its SHA-256).

    Raises:
        ClusterError: A file is missing, altered, or named outside the folder.
    """
    claimed = shard_folder / CHECKED_FOLDER / SEARCH_FOLDER
    try:
        os.replace(shard_folder / SEARCH_FOLDER, claimed)
    except FileNotFoundError:
        raise ClusterError(f"the cluster's search files are missing in {shard_folder}") from None
    staged = staged_search_files(claimed, search)
    for name, (path, sha256) in staged.items():
        inside = not Path(name).is_absolute() and ".." not in Path(name).parts
        if not (inside and path.is_file() and sha256_file(path) == sha256):
            raise ClusterError(
                f"search file {path} is missing or does not match what its task wrote: build again",
                path=str(path),
            )
    return staged


def part_vector_files(parts: Sequence[VectorPart], files: StagedFiles) -> list[PartFile]:
    """The passage-vector file of each part, as `IndexJob.vectors` lists them.

    Args:
        parts: The new generation's parts, in row order.
        files: Where each part file is staged or linked from (`generation_parts`).
    """
    out = []
    for part in parts:
        path, sha256 = files[part.vectors]
        out.append(PartFile(path=str(path.resolve()), sha256=sha256, rows=part.rows))
    return out
