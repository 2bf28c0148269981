"""The index folder: generations, the `CURRENT.json` pointer, the build lock.

    index/
      CURRENT.json                  {"generation": "<id>"}, replaced atomically
      generations/<id>/             one complete build, never modified after the switch
        manifest.json  chunks.jsonl  vectors.npy  vectors.faiss  sentences.npy
        query-encoder.onnx  query-encoder.onnx.data  tokenizer.json   (torch-free queries)
      .build.lock                   flock held by the running build

A build writes a new generation in a hidden temp folder, fsyncs it, renames it
into place, then replaces the pointer: a reader sees the old or the new
generation, and a killed build leaves only a temp folder the next build removes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from ._errors import (
    BuildInProgressError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    UnusableIndexError,
)
from ._files import fsync_dir, sha256_file, write_atomic
from ._store import VectorIndex
from ._types import FORMAT_VERSION, Chunk, Manifest, Pointer

__all__ = [
    "Generation",
    "build_lock",
    "current_generation",
    "read_generation",
    "remove_stale",
    "write_generation",
]

POINTER = "CURRENT.json"
GENERATIONS = "generations"
LOCK = ".build.lock"
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = "vectors.npy"
FAISS = "vectors.faiss"
SENTENCES = "sentences.npy"
_REBUILD = "run `assistant build --force`"
# A reader retries when a rebuild switched the pointer and removed the generation
# it was about to open; more switches than this in one read is not a race.
_POINTER_RETRIES = 3

logger = logging.getLogger("assistant")


@dataclass(frozen=True)
class Generation:
    """One loaded generation; immutable, so threads can share it."""

    path: Path
    manifest: Manifest
    chunks: list[Chunk]
    index: VectorIndex
    vectors: npt.NDArray[np.float32] | None
    sentence_vectors: npt.NDArray[np.float16]
    """One row per sentence of every chunk, in chunk order (memory-mapped)."""
    sentence_rows: list[int]
    """Row of each chunk's first sentence in `sentence_vectors`."""
    pointer: str = ""
    """What `CURRENT.json` named when this was loaded (differs on a fallback)."""
    fallback_reason: str | None = None
    """Why the live generation was refused and this older one serves instead."""


def current_generation(index_dir: Path) -> str | None:
    """The live generation's id, or None when nothing was built.

    Raises:
        IndexCorruptError: The pointer file exists but is not valid.
    """
    try:
        raw = (index_dir / POINTER).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Pointer.model_validate_json(raw).generation
    except ValidationError:
        raise IndexCorruptError(
            f"{index_dir / POINTER} is not a valid pointer: {_REBUILD}"
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _missing(path: Path) -> IndexCorruptError:
    return IndexCorruptError(f"index file {path} is missing: {_REBUILD}")


def _altered(path: Path) -> IndexCorruptError:
    return IndexCorruptError(
        f"index file {path} does not match its checksum (truncated or altered): {_REBUILD}"
    )


def _read_verified(folder: Path, name: str, manifest: Manifest) -> bytes:
    try:
        data = (folder / name).read_bytes()
    except FileNotFoundError:
        raise _missing(folder / name) from None
    expected = manifest.files.get(name)
    if expected is None or _sha256(data) != expected:
        raise _altered(folder / name)
    return data


def _parse_chunks(data: bytes, folder: Path) -> list[Chunk]:
    chunks = []
    try:
        # Split on "\n" only: JSON leaves U+2028, U+0085 and friends unescaped,
        # and str.splitlines() would cut a passage that contains one.
        lines = data.decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines):
            chunk = Chunk.model_validate_json(line)
            if chunk.id != number:
                raise ValueError(f"chunk on line {number + 1} has id {chunk.id}")
            chunks.append(chunk)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / CHUNKS} is invalid ({exc}): {_REBUILD}") from None
    return chunks


def _parse_vectors(data: bytes, manifest: Manifest, folder: Path) -> npt.NDArray[np.float32]:
    try:
        vectors: npt.NDArray[np.float32] = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise IndexCorruptError(f"{folder / VECTORS} is invalid ({exc}): {_REBUILD}") from None
    if vectors.dtype != np.float32 or vectors.shape != (manifest.chunk_count, manifest.dimension):
        raise IndexCorruptError(f"{folder / VECTORS} has shape {vectors.shape}: {_REBUILD}")
    return vectors


def _parse_manifest(index_dir: Path, folder: Path) -> Manifest:
    try:
        raw_manifest = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise IndexCorruptError(f"{folder / MANIFEST} is missing: {_REBUILD}") from None
    try:
        version = json.loads(raw_manifest).get("format_version")
    except (ValueError, AttributeError):
        raise IndexCorruptError(f"{folder / MANIFEST} is not valid JSON: {_REBUILD}") from None
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index format {version} in {index_dir}, this version reads {FORMAT_VERSION}: "
            f"{_REBUILD}"
        )
    try:
        return Manifest.model_validate_json(raw_manifest)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise IndexCorruptError(f"{folder / MANIFEST} is invalid ({reason}): {_REBUILD}") from None


def read_generation(
    index_dir: Path, *, with_vectors: bool = False, fallback: bool = False
) -> Generation:
    """Load and verify the live generation.

    Args:
        index_dir: The index folder.
        with_vectors: Also load the raw vectors (the builder reuses them).
        fallback: When the live generation is corrupt, serve the newest older
            generation that verifies (logged, and named in `fallback_reason`).

    Returns:
        The generation, every file checked against the manifest's SHA-256.

    Raises:
        IndexMissingError: No index was built here.
        IndexMismatchError: Built by an incompatible version of this program.
        IndexCorruptError: A file is missing, truncated or altered (and, with
            `fallback`, no older generation verifies either).
    """
    for _ in range(_POINTER_RETRIES):
        name = current_generation(index_dir)
        if name is None:
            raise IndexMissingError(f"no index in {index_dir}: run `assistant build` first")
        try:
            return _load(index_dir, name, with_vectors)
        except IndexCorruptError as exc:
            if current_generation(index_dir) != name:
                continue  # a rebuild switched and cleaned up under us: read the new one
            if not fallback:
                raise
            return _load_fallback(index_dir, name, with_vectors, exc)
    raise IndexCorruptError(
        f"the index in {index_dir} changed {_POINTER_RETRIES} times while loading: retry"
    )


def _load(index_dir: Path, name: str, with_vectors: bool) -> Generation:
    folder = index_dir / GENERATIONS / name
    manifest = _parse_manifest(index_dir, folder)
    chunks = _parse_chunks(_read_verified(folder, CHUNKS, manifest), folder)
    if len(chunks) != manifest.chunk_count:
        raise IndexCorruptError(f"{folder / CHUNKS} holds {len(chunks)} chunks: {_REBUILD}")
    index = VectorIndex.from_bytes(
        _read_verified(folder, FAISS, manifest),
        index_type=manifest.index_type,
        count=manifest.chunk_count,
        dimension=manifest.dimension,
    )
    vectors = (
        _parse_vectors(_read_verified(folder, VECTORS, manifest), manifest, folder)
        if with_vectors
        else None
    )
    rows = np.cumsum([0] + [len(c.sentences) for c in chunks]).tolist()
    sentence_vectors = _map_sentences(folder, manifest, rows[-1])
    return Generation(
        folder, manifest, chunks, index, vectors, sentence_vectors, rows[:-1], pointer=name
    )


def _map_sentences(folder: Path, manifest: Manifest, count: int) -> npt.NDArray[np.float16]:
    """The sentence vectors, checked in blocks and memory-mapped: a large corpus's
    are several times its passage vectors, and a query reads a few rows."""
    path = folder / SENTENCES
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        raise _missing(path) from None
    if actual != manifest.files.get(SENTENCES):
        raise _altered(path)
    try:
        vectors: npt.NDArray[np.float16] = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise IndexCorruptError(f"{path} is invalid ({exc}): {_REBUILD}") from None
    if vectors.dtype != np.float16 or vectors.shape != (count, manifest.dimension):
        raise IndexCorruptError(f"{path} has shape {vectors.shape}: {_REBUILD}")
    return vectors


def _load_fallback(
    index_dir: Path, live: str, with_vectors: bool, error: IndexCorruptError
) -> Generation:
    """The newest finished generation other than `live` that verifies."""
    generations = index_dir / GENERATIONS
    older = sorted(
        (e.name for e in generations.iterdir() if e.is_dir() and not e.name.startswith(".")),
        reverse=True,
    )
    for name in older:
        if name == live:
            continue
        try:
            generation = _load(index_dir, name, with_vectors)
        except UnusableIndexError:
            continue
        logger.warning("%s; serving the previous generation %s meanwhile", error, name)
        return dataclasses.replace(generation, pointer=live, fallback_reason=str(error))
    raise error


def new_generation_id() -> str:
    """Sortable by build time, unique across concurrent machines."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:6]}"


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    vectors: npt.NDArray[np.float32],
    sentence_vectors: npt.NDArray[np.floating],
    index: VectorIndex,
    extra_files: Mapping[str, tuple[Path, str]] | None = None,
) -> Path:
    """Write a complete generation and make it the live one.

    The manifest's `files` is filled in here with each file's SHA-256.
    `extra_files` (name → an existing file and its SHA-256, e.g. the ONNX query
    encoder) are hard-linked in (copied and checked across file systems):
    generations never change, so a file shared with the previous one is safe.

    Returns:
        The new generation's folder.
    """
    generations = index_dir / GENERATIONS
    generations.mkdir(parents=True, exist_ok=True)
    temp = generations / f".tmp-{manifest.generation}"
    temp.mkdir()
    payload = {
        CHUNKS: "".join(chunk.model_dump_json() + "\n" for chunk in chunks).encode("utf-8"),
        VECTORS: _npy(np.ascontiguousarray(vectors, dtype=np.float32)),
        FAISS: index.to_bytes(),
        # Half precision: they only choose which sentence to highlight.
        SENTENCES: _npy(np.ascontiguousarray(sentence_vectors, dtype=np.float16)),
    }
    files = {name: _sha256(data) for name, data in payload.items()}
    for name, (source, sha256) in (extra_files or {}).items():
        try:
            os.link(source, temp / name)
        except OSError:
            shutil.copyfile(source, temp / name)
        if not (temp / name).samefile(source) and sha256_file(temp / name) != sha256:
            raise IndexCorruptError(f"copying {source} into the index altered it: retry")
        files[name] = sha256
    payload[MANIFEST] = (
        manifest.model_copy(update={"files": files}).model_dump_json(indent=2).encode()
    )
    for name, data in payload.items():
        with open(temp / name, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    fsync_dir(temp)
    final = generations / manifest.generation
    os.replace(temp, final)
    fsync_dir(generations)
    write_atomic(
        index_dir / POINTER, Pointer(generation=manifest.generation).model_dump_json().encode()
    )
    return final


def _npy(array: npt.NDArray[np.generic]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def remove_stale(index_dir: Path, *, keep: int = 2) -> None:
    """Delete temp folders of killed builds and all but the newest `keep` generations
    (the live one always stays). Call only while holding the build lock."""
    generations = index_dir / GENERATIONS
    if not generations.is_dir():
        return
    live = current_generation(index_dir)
    for entry in generations.iterdir():
        if entry.name.startswith(".tmp-"):
            shutil.rmtree(entry, ignore_errors=True)
    finished = sorted((e for e in generations.iterdir() if e.is_dir()), key=lambda e: e.name)
    for entry in finished[:-keep] if keep else finished:
        if entry.name != live:
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's build lock; the kernel drops it if the process dies.

    Raises:
        BuildInProgressError: Another build holds it.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgressError(
                f"another build is running on {index_dir}: wait for it to finish, then retry"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
