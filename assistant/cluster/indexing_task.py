"""A cluster build's search files: the vector index and the BM25 indexes are
built by Ray tasks on cluster nodes, not by the driver.

- One task per run of rows builds that run's vector index from the new
  generation's vector parts (each checked against the SHA-256 the manifest will
  list). Up to `exact_limit` passages there is one run and one exact index,
  `vectors.faiss`; above it, the rows are cut into `ray_shards` runs, as shard
  actors cut them, and each run gets its own HNSW index (an index shard, format
  6), built in parallel. A reader searches every shard and merges; an actor
  serving a run loads its shard: both find the same passages.
- One task cuts the BM25 terms the workers did not (those of unchanged
  documents) and builds both BM25 indexes.

Each task writes into the build's shard folder
(`assistant.indexing.search_files`); only names and checksums come back. The
driver moves the folder aside before it checks the files, as it does with the
vector parts, then links them into the new generation. A task whose worker dies
is retried by Ray; its files are written again, atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from .._errors import ClusterError
from .._files import sha256_file
from .._types import Chunk, DocumentRecord, VectorPart
from ..indexing.generations import FAISS, lexical_terms
from ..indexing.lexical import content_terms
from ..indexing.search_files import (
    SearchFiles,
    VectorIndexWritten,
    index_shard_name,
    search_files,
    staged_search_files,
    write_lexical_files,
    write_vector_index,
)
from ..indexing.text_layers import StagedFiles
from ..indexing.vectors import HNSW_IP, choose_index_type
from .extract import TASK_RETRIES
from .parts import CHECKED_FOLDER, check_shard
from .shards import shard_ranges

__all__ = [
    "FreshTerms",
    "IndexJob",
    "PartFile",
    "build_search_files",
    "claim_search_files",
    "index_jobs",
    "index_ranges",
    "lexical_task",
    "part_vector_files",
    "passage_terms",
    "run_in_process",
    "vector_task",
]

#: Each fresh document's passages' BM25 terms alone, as its worker cut them.
FreshTerms = dict[str, list[list[str]]]

#: The folder, inside the shard folder, the tasks write the search files into.
SEARCH_FOLDER = "search"


class PartFile(BaseModel):
    """One vector part's passage-vector file, as a task reads it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    rows: int


class IndexJob(BaseModel):
    """Everything the search files are built from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_folder: str
    dimension: int
    vectors: list[PartFile]
    """The passage-vector files of the generation's parts, in row order."""
    chunks: list[Chunk]
    records: dict[str, DocumentRecord]
    fresh_terms: FreshTerms
    exact_limit: int
    shards: int
    """Runs of rows above `exact_limit` (the actors that will serve it)."""


class _VectorJob(BaseModel):
    """One run of rows to index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_folder: str
    dimension: int
    vectors: list[PartFile]
    first: int
    last: int
    name: str
    index_type: str


class _LexicalJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_folder: str
    chunks: list[Chunk]
    records: dict[str, DocumentRecord]
    fresh_terms: FreshTerms


class _LexicalWritten(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    files: dict[str, str]
    """Generation file name → SHA-256."""


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


def index_ranges(count: int, index_type: str, shards: int) -> list[tuple[int, int]]:
    """The runs of rows that get an index each: one exact index, or `shards` HNSW
    shards cut as `assistant.cluster.shards.shard_ranges` cuts the actors' rows.

    Args:
        count: Passages in the generation.
        index_type: The kind `choose_index_type` chose for them.
        shards: Runs wanted above the exact limit.
    """
    if index_type != HNSW_IP or shards <= 1:
        return [(0, count)]
    return shard_ranges(count, shards)


def _rows(spec: _VectorJob) -> npt.NDArray[np.float32]:
    """Rows `first`..`last - 1` of the parts, each part read checked.

    Raises:
        ClusterError: A part file is missing, altered or of another shape.
    """
    taken: list[npt.NDArray[np.float32]] = []
    start = 0
    for part in spec.vectors:
        end = start + part.rows
        if end > spec.first and start < spec.last:
            path = Path(part.path)
            shape = (part.rows, spec.dimension)
            check_shard(path.parent, path.name, part.sha256, shape, np.float32)
            rows = np.load(path, mmap_mode="r", allow_pickle=False)
            taken.append(rows[max(spec.first - start, 0) : min(spec.last, end) - start])
        start = end
    if not taken:
        return np.zeros((0, spec.dimension), np.float32)
    return np.ascontiguousarray(np.concatenate(taken), dtype=np.float32)


def vector_task(job: str) -> str:
    """Build and write one run's vector index, in a Ray task.

    Args:
        job: The run (`_VectorJob`), as JSON.

    Returns:
        The `VectorIndexWritten`, as JSON.
    """
    spec = _VectorJob.model_validate_json(job)
    folder = Path(spec.shard_folder) / SEARCH_FOLDER
    folder.mkdir(exist_ok=True)
    written = write_vector_index(folder, spec.name, _rows(spec), spec.index_type, spec.first)
    return written.model_dump_json()


def lexical_task(job: str) -> str:
    """Cut the missing terms, build and write both BM25 indexes, in a Ray task.

    Args:
        job: The `_LexicalJob`, as JSON.

    Returns:
        The files' names and SHA-256s (`_LexicalWritten`), as JSON.
    """
    spec = _LexicalJob.model_validate_json(job)
    folder = Path(spec.shard_folder) / SEARCH_FOLDER
    folder.mkdir(exist_ok=True)
    terms = passage_terms(spec.chunks, spec.records, spec.fresh_terms)
    return _LexicalWritten(files=write_lexical_files(folder, terms)).model_dump_json()


def index_jobs(job: IndexJob) -> tuple[str, list[str], str]:
    """The index kind, the vector tasks' jobs and the lexical task's job, as JSON."""
    count = len(job.chunks)
    index_type = choose_index_type(count, job.exact_limit)
    ranges = index_ranges(count, index_type, job.shards)
    vector_jobs = [
        _VectorJob(
            shard_folder=job.shard_folder,
            dimension=job.dimension,
            vectors=job.vectors,
            first=first,
            last=last,
            name=FAISS if len(ranges) == 1 else index_shard_name(first, last),
            index_type=index_type,
        ).model_dump_json()
        for first, last in ranges
    ]
    lexical_job = _LexicalJob(
        shard_folder=job.shard_folder,
        chunks=job.chunks,
        records=job.records,
        fresh_terms=job.fresh_terms,
    ).model_dump_json()
    return index_type, vector_jobs, lexical_job


def run_in_process(job: IndexJob) -> SearchFiles:
    """The tasks' work in this process, one after the other (tests; no Ray)."""
    index_type, vector_jobs, lexical_job = index_jobs(job)
    written = [VectorIndexWritten.model_validate_json(vector_task(j)) for j in vector_jobs]
    lexical = _LexicalWritten.model_validate_json(lexical_task(lexical_job)).files
    return search_files(written, lexical, index_type)


def build_search_files(
    ray: Any,
    shard_folder: Path,
    job: IndexJob,
) -> tuple[SearchFiles, StagedFiles]:
    """Run the vector tasks and the lexical task on the cluster, all at once, then
    claim and check what they wrote.

    Args:
        ray: The `ray` module, connected.
        shard_folder: The build's shard folder (on storage every node reaches).
        job: What to index.

    Returns:
        The search files and, for `write_generation`, each one's checked file
        (`claim_search_files`).

    Raises:
        ClusterError: A task failed, or a file it wrote is missing or altered.
    """
    index_type, vector_jobs, lexical_job = index_jobs(job)
    vectors = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(vector_task)
    lexical = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(lexical_task)
    refs = [vectors.remote(j) for j in vector_jobs]
    lexical_ref = lexical.remote(lexical_job)
    try:
        written = [VectorIndexWritten.model_validate_json(out) for out in ray.get(refs)]
        terms = _LexicalWritten.model_validate_json(ray.get(lexical_ref)).files
    except ray.exceptions.RayError as exc:
        raise ClusterError(
            f"indexing on the cluster failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}); the previous index keeps serving: build again"
        ) from None
    search = search_files(written, terms, index_type)
    return search, claim_search_files(shard_folder, search)


def claim_search_files(shard_folder: Path, search: SearchFiles) -> StagedFiles:
    """Move the tasks' search folder into `CHECKED_FOLDER`, then check each file
    against the SHA-256 its task reported.

    Args:
        shard_folder: The build's shard folder.
        search: What the tasks wrote.

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
