"""A cluster build's vector parts: one per document, written by the worker that
embedded it (or, for an unchanged document, linked from the previous generation),
then listed in the new generation's manifest (see `assistant.indexing.parts`).

No Ray here: the pool actor and the driver of `assistant.cluster.build` call
these, and tests call them in-process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from .._errors import ClusterError
from .._files import sha256_file, write_hashed
from .._types import PARTS_FOLDER, Chunk, Document, VectorPart
from ..indexing.build_write import (
    GenerationContent,
    passages_by_source,
    reused_sentence_vectors,
)
from ..indexing.generations import Generation, npy_bytes
from ..indexing.parts import part_files
from ..indexing.text_layers import StagedFiles

__all__ = [
    "CHECKED_FOLDER",
    "StagedPart",
    "check_shard",
    "claim_shard",
    "generation_parts",
    "write_part",
    "write_shard",
]

#: Where the driver moves each shard file before it checks it (inside the shard
#: folder): what it checked is what it links, even if a task Ray presumed dead
#: writes the same name again later.
CHECKED_FOLDER = "checked"


class StagedPart(BaseModel):
    """One document's part, written into the build's shard folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vectors: str
    vectors_sha256: str
    sentences: str
    sentences_sha256: str


def write_shard(folder: Path, name: str, array: npt.NDArray[np.floating]) -> tuple[str, str]:
    """Write one shard file atomically and durably (it becomes a file of the live
    generation as it is): a retried task replaces a dead one's file whole.
    Returns its name and SHA-256."""
    return name, write_hashed(folder / name, npy_bytes(np.ascontiguousarray(array)))


def claim_shard(folder: Path, name: str) -> None:
    """Move a worker's shard file into `CHECKED_FOLDER` before checking it.

    Raises:
        ClusterError: The file is missing or its name leads elsewhere.
    """
    if Path(name).name != name:
        raise ClusterError(f"shard file name {name!r} leads out of {folder}: build again")
    try:
        os.replace(folder / name, folder / CHECKED_FOLDER / name)
    except FileNotFoundError:
        raise ClusterError(
            f"shard file {folder / name} is missing: build again", path=str(folder / name)
        ) from None


def write_part(
    folder: Path,
    document: Document,
    vectors: npt.NDArray[np.floating],
    sentence_vectors: npt.NDArray[np.floating],
) -> StagedPart:
    """Write a document's passage vectors (float32) and sentence vectors (float16,
    as a generation stores them) as its part's two files.

    Args:
        folder: The build's shard folder.
        document: The document (its path and hash name the files).
        vectors: Its passages' vectors.
        sentence_vectors: Its passages' sentences' vectors.

    Returns:
        The files' names and SHA-256s.
    """
    vectors_name, sentences_name = part_files(document.source, document.sha256)
    written = write_shard(folder, vectors_name, vectors.astype(np.float32, copy=False))
    sentences = write_shard(folder, sentences_name, sentence_vectors.astype(np.float16))
    return StagedPart(
        vectors=written[0],
        vectors_sha256=written[1],
        sentences=sentences[0],
        sentences_sha256=sentences[1],
    )


def check_shard(
    folder: Path, name: str, sha256: str, shape: tuple[int, int], dtype: type[np.floating]
) -> None:
    """Check a shard file against the SHA-256 its worker reported, and its header's
    shape and type, without reading its rows into memory.

    Raises:
        ClusterError: The file is missing, changed, or of another shape or type.
    """
    path = folder / name
    if Path(name).name != name or not path.is_file() or sha256_file(path) != sha256:
        raise ClusterError(
            f"shard file {path} is missing or does not match what its worker wrote: build again",
            path=str(path),
        )
    header = np.load(path, mmap_mode="r", allow_pickle=False)
    if header.dtype != dtype or header.shape != shape:
        raise ClusterError(f"shard file {path} holds {header.shape}: build again", path=str(path))


def generation_parts(
    documents: Sequence[Document],
    content: GenerationContent,
    fresh: dict[str, StagedPart],
    staging: Path,
    previous: Generation | None,
) -> tuple[list[VectorPart], StagedFiles]:
    """The new generation's parts, one per document with passages, in row order,
    and the files to link into it: a fresh document's as its worker wrote them;
    an unchanged document's from the previous generation when it was a part
    there already, else written here from its rows there. The sentence vectors are
    never gathered in memory (`content` holds none).

    Args:
        documents: The new generation's documents, in source order.
        content: The assembled passages (`assemble` without vectors).
        fresh: The parts the workers wrote, by source.
        staging: The build's shard folder.
        previous: The generation unchanged documents come from.

    Returns:
        (the manifest's parts, generation file name → (file, SHA-256)).
    """
    origins = _Origins(
        fresh, _previous_parts(previous), staging, previous, passages_by_source(previous)
    )
    parts: list[VectorPart] = []
    files: StagedFiles = {}
    for document, own in zip(documents, _by_document(documents, content.chunks), strict=True):
        if not own:
            continue
        sentences = sum(len(chunk.sentences) for chunk in own)
        linked = origins.files(document, len(own), sentences)
        files.update(linked)
        vectors_name, sentences_name = list(linked)  # `_Origins.files` lists vectors first
        parts.append(
            VectorPart(
                vectors=vectors_name,
                sentences=sentences_name,
                rows=len(own),
                sentence_rows=sentences,
                sources=[document.source],
            )
        )
    return parts, files


@dataclass(frozen=True)
class _Origins:
    """Where a document's part files can come from."""

    fresh: dict[str, StagedPart]
    """Written by the workers, by source."""
    kept: dict[tuple[str, str], VectorPart]
    """The previous generation's one-document parts, by file names."""
    staging: Path
    previous: Generation | None
    passages: dict[str, list[Chunk]]
    """The previous generation's passages, by source."""

    def files(self, document: Document, rows: int, sentences: int) -> StagedFiles:
        """A document's two part files (vectors first): the worker's, the previous
        generation's, or written now from its rows there."""
        staged = self.fresh.get(document.source)
        if staged is not None:
            return _staged(self.staging, staged)
        assert self.previous is not None  # only fresh documents exist without one
        before = self.kept.get(part_files(document.source, document.sha256))
        if before is not None and (before.rows, before.sentence_rows) == (rows, sentences):
            return _linked(self.previous, before)
        own = self.passages[document.source]
        assert self.previous.vectors is not None  # the builder reads it with_vectors
        vectors = self.previous.vectors[own[0].id : own[-1].id + 1]
        written = write_part(
            self.staging, document, vectors, reused_sentence_vectors(self.previous, own)
        )
        return _staged(self.staging, written)


def _by_document(documents: Sequence[Document], chunks: Sequence[Chunk]) -> list[list[Chunk]]:
    """Each document's passages (they are contiguous, in document order)."""
    own: dict[str, list[Chunk]] = {document.source: [] for document in documents}
    for chunk in chunks:
        own[chunk.source].append(chunk)
    return [own[document.source] for document in documents]


def _previous_parts(previous: Generation | None) -> dict[tuple[str, str], VectorPart]:
    """The one-document parts of `previous`, by their plain file names."""
    if previous is None:
        return {}
    prefix = f"{PARTS_FOLDER}/"
    return {
        (part.vectors.removeprefix(prefix), part.sentences.removeprefix(prefix)): part
        for part in previous.manifest.parts
        if len(part.sources) == 1
    }


def _staged(staging: Path, staged: StagedPart) -> StagedFiles:
    return {
        f"{PARTS_FOLDER}/{staged.vectors}": (staging / staged.vectors, staged.vectors_sha256),
        f"{PARTS_FOLDER}/{staged.sentences}": (staging / staged.sentences, staged.sentences_sha256),
    }


def _linked(previous: Generation, part: VectorPart) -> StagedFiles:
    """A previous part's files (checked against its manifest when it was loaded)."""
    files = previous.manifest.files
    return {name: (previous.path / name, files[name]) for name in (part.vectors, part.sentences)}
