"""The files a generation searches through that are built from every passage at
once: the vector index and the BM25 indexes, written into a staging folder so
that whoever builds them (this process, or a task on a cluster node) hands over
files and checksums, not matrices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from .._files import write_atomic
from .._types import IndexParameters
from .generations import FAISS, lexical_files
from .text_layers import StagedFiles
from .vectors import VectorIndex, choose_index_type

__all__ = ["SearchFiles", "staged_search_files", "write_search_files"]


class SearchFiles(BaseModel):
    """The vector index and BM25 files written for one generation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: dict[str, str]
    """Generation file name → SHA-256 of what was written."""
    index_type: str
    index_parameters: IndexParameters | None


def write_search_files(
    folder: Path,
    vectors: npt.NDArray[np.float32],
    passage_terms: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]],
) -> SearchFiles:
    """Build the vector index of `vectors` and the BM25 indexes of `passage_terms`
    and write them into `folder` under their generation file names, each
    atomically and durably (a retried task replaces a dead one's file whole).

    Args:
        folder: A staging folder of the index's file system.
        vectors: Every passage's vector, in passage order.
        passage_terms: Every passage's terms alone and in context (`lexical_terms`).

    Returns:
        The files' names and SHA-256s and the vector index's kind and parameters.

    Raises:
        ValueError: A vector holds NaN or infinity.
    """
    index_type = choose_index_type(len(vectors))
    index = VectorIndex.build(vectors, index_type)
    files: dict[str, str] = {}
    for name, data in {FAISS: index.to_bytes(), **lexical_files(passage_terms)}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / name, data)
        files[name] = hashlib.sha256(data).hexdigest()
    return SearchFiles(files=files, index_type=index_type, index_parameters=index.parameters)


def staged_search_files(folder: Path, search: SearchFiles) -> StagedFiles:
    """The search files as `write_generation` links them in.

    Args:
        folder: Where `write_search_files` wrote them.
        search: What it returned.

    Returns:
        Generation file name → (the file, its SHA-256).
    """
    return {name: (folder / name, sha256) for name, sha256 in search.files.items()}
