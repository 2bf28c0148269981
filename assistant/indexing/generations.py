"""The index folder: generations, the `CURRENT.json` pointer, the build lock.

    index/
      CURRENT.json                  {"generation": "<id>"}, replaced atomically
      generations/<id>/             one complete build, never modified after the switch
        manifest.json  chunks.jsonl  chunks.rows.npy  vectors.npy  vectors.faiss  sentences.npy
        query-encoder.onnx  query-encoder.onnx.data  tokenizer.json   (torch-free queries)
        text/<sha256>.txt  text/<sha256>.chars.json   (text layers of PDF, HTML, .docx)
        lexical/{context,plain}.*.npy|json          (BM25, memory-mapped by readers)
        parts/<key>.{vectors,sentences}.npy         (cluster builds: one part per document,
                                                     instead of vectors.npy and sentences.npy)
        vectors.<first>-<last>.faiss                (cluster builds above the exact limit:
                                                     one HNSW shard per actor's rows,
                                                     instead of vectors.faiss)
      .build.lock                   flock held by the running build

A build writes a new generation in a hidden temp folder, fsyncs it, renames it
into place, then replaces the pointer: a reader sees the old or the new
generation, and a killed build leaves only a temp folder the next build removes.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from .._errors import (
    REBUILD_HINT,
    BuildInProgressError,
    ForeignIndexFolderError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    UnusableIndexError,
)
from .._files import fsync_dir, sha256_file, write_atomic, write_durable
from .._types import (
    LEXICAL_FOLDER,
    PARTED_FORMAT_VERSION,
    READABLE_FORMATS,
    SHARDED_FORMAT_VERSION,
    Chunk,
    DocumentRecord,
    IndexShard,
    Manifest,
    Pointer,
    VectorPart,
    document_context,
)
from .lexical import LEXICAL_PARTS, TERMS_VERSION, LexicalIndex, content_terms
from .parts import PartedRows, check_part_bounds
from .passages import Passages, check_rows, encode_passages, map_text
from .vectors import SearchableIndex, ShardedVectorIndex, VectorIndex
from .verification import Verification, refused

__all__ = [
    "Generation",
    "MappedGeneration",
    "VectorIndexFile",
    "build_lock",
    "check_index_folder",
    "check_index_shards",
    "current_generation",
    "index_file_names",
    "lexical_files",
    "lexical_terms",
    "map_generation",
    "npy_bytes",
    "open_lexical",
    "read_generation",
    "read_generation_file",
    "read_index_shard",
    "read_named_generation",
    "remove_stale",
    "repair_layout",
    "search_file_names",
    "write_error",
    "write_generation",
]

POINTER = "CURRENT.json"
GENERATIONS = "generations"
LOCK = ".build.lock"
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
CHUNK_ROWS = "chunks.rows.npy"
VECTORS = "vectors.npy"
FAISS = "vectors.faiss"
SENTENCES = "sentences.npy"
# The two BM25 indexes a query may ask for (`retrieval.lexical_context`): each
# passage after its document's title and date, or alone.
_LEXICAL_VARIANTS = {True: "context", False: "plain"}
# A reader retries when a rebuild switched the pointer and removed the generation
# it was about to open; more switches than this in one read is not a race.
_POINTER_RETRIES = 3

logger = logging.getLogger("assistant")


class VectorIndexFile:
    """A generation's FAISS index, read now or when a query first needs it: a
    serving process whose vectors live in shard actors (Ray) never holds it."""

    def __init__(self, folder: Path, manifest: Manifest, *, now: bool) -> None:
        self._folder = folder
        self._manifest = manifest
        self._lock = threading.Lock()
        self._index: SearchableIndex | None = None
        # A generation opened at once is hashed in the background, this file too:
        # the first query reads it without hashing it a second time.
        self._verified_elsewhere = _later.get() is not None
        check_index_shards(manifest, folder)
        if now:  # an unreadable file is the loader's to report, with a fallback
            self._index = self._read(_read_verified)
        else:  # still refused on load if missing or altered, so a fallback can serve
            for name in index_file_names(manifest):
                _check_file(folder, name, manifest)

    @property
    def is_read(self) -> bool:
        """Whether the index was read into this process."""
        return self._index is not None

    def get(self) -> SearchableIndex:
        """The index (read and checked on the first call).

        Raises:
            IndexCorruptError: The file is missing, altered or not such an index.
        """
        with self._lock:
            if self._index is None:  # unreadable now, or removed under a long-lived reader
                read = _read_unhashed if self._verified_elsewhere else _read_or_corrupt
                self._index = self._read(read)
            return self._index

    def _read(self, read: Callable[[Path, str, Manifest], bytes]) -> SearchableIndex:
        manifest = self._manifest
        if not manifest.index_shards:
            return VectorIndex.from_bytes(
                read(self._folder, FAISS, manifest),
                index_type=manifest.index_type,
                count=manifest.chunk_count,
                dimension=manifest.dimension,
            )
        return ShardedVectorIndex(
            [(shard.first, read_index_shard(self._folder, manifest, shard, read))
             for shard in manifest.index_shards]
        )  # fmt: skip


def index_file_names(manifest: Manifest) -> list[str]:
    """The files a generation's vector index is stored in: its shards', else
    `vectors.faiss`."""
    return [shard.file for shard in manifest.index_shards] or [FAISS]


def check_index_shards(manifest: Manifest, folder: Path) -> None:
    """Check that the index shards, if any, tile the passages in order.

    Raises:
        IndexCorruptError: They overlap, leave a gap, or hold another count.
    """
    row = 0
    for shard in manifest.index_shards:
        if shard.first != row:
            break
        row += shard.rows
    else:
        if not manifest.index_shards or row == manifest.chunk_count:
            return
    raise IndexCorruptError(
        f"the vector index shards of {folder} do not tile its {manifest.chunk_count} "
        f"passages: {REBUILD_HINT}",
        path=str(folder),
    )


def read_index_shard(
    folder: Path,
    manifest: Manifest,
    shard: IndexShard,
    read: Callable[[Path, str, Manifest], bytes] | None = None,
) -> VectorIndex:
    """One index shard of a generation, its checksum checked.

    Args:
        folder: The generation's folder.
        manifest: Its manifest.
        shard: One of `manifest.index_shards`.
        read: How to read a file of it, checked (default: refuse a missing or
            altered file with `IndexCorruptError`).

    Raises:
        IndexCorruptError: The file is missing, altered or not such an index.
    """
    data = (read or _read_or_corrupt)(folder, shard.file, manifest)
    return VectorIndex.from_bytes(
        data, index_type=manifest.index_type, count=shard.rows, dimension=manifest.dimension
    )


@dataclass(frozen=True)
class Generation:
    """One loaded generation; immutable, so threads can share it."""

    path: Path
    manifest: Manifest
    chunks: Sequence[Chunk]
    """Passage `i` is row `i` of the vectors; parsed when first read (see `Passages`)."""
    index_file: VectorIndexFile
    vectors: npt.NDArray[np.float32] | None
    sentence_vectors: PartedRows
    """One float16 row per sentence of every chunk, in chunk order (memory-mapped,
    part by part)."""
    sentence_rows: npt.NDArray[np.int64]
    """Row of each chunk's first sentence in `sentence_vectors`."""
    pointer: str = ""
    """What `CURRENT.json` named when this was loaded (differs on a fallback)."""
    fallback_reason: str | None = None
    """Why the live generation was refused and this older one serves instead."""
    has_lexical: bool = False
    """Whether the generation stores its BM25 indexes (checked on load); older
    generations do not, and their readers index the passages themselves."""
    verification: Verification | None = None
    """Its checksums being verified after it opened (a large generation, see
    `read_generation`); None: every file was verified before it served."""

    @property
    def index(self) -> SearchableIndex:
        """The FAISS index over the passage vectors (see `VectorIndexFile`)."""
        return self.index_file.get()


def _lexical_name(in_context: bool, part: str) -> str:
    return f"{LEXICAL_FOLDER}/{_LEXICAL_VARIANTS[in_context]}.{part}"


def _lexical_names() -> list[str]:
    return [_lexical_name(v, part) for v in _LEXICAL_VARIANTS for part in LEXICAL_PARTS]


def search_file_names(manifest: Manifest) -> list[str]:
    """The generation files built from every passage at once: the vector index
    (or its shards) and the BM25 files."""
    return [*index_file_names(manifest), *_lexical_names()]


def lexical_files(
    passage_terms: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]],
) -> dict[str, bytes]:
    """The generation's BM25 files, by generation file name.

    Args:
        passage_terms: Each passage's terms alone and in context (`lexical_terms`).

    Returns:
        File name (under `lexical/`) → bytes.
    """
    plain, in_context = passage_terms
    return {
        _lexical_name(variant, part): data
        for variant, terms in ((True, in_context), (False, plain))
        for part, data in LexicalIndex.from_terms(terms).to_files().items()
    }


@dataclass(frozen=True)
class MappedGeneration:
    """A generation's manifest and vectors, checked and memory-mapped, without
    its passages or vector index: what a shard server needs to hold a range of
    rows (its memory grows with the shard, not with the corpus)."""

    path: Path
    manifest: Manifest
    vectors: PartedRows
    """`(chunk_count, dimension)` float32, memory-mapped part by part."""
    has_lexical: bool


def map_generation(index_dir: Path, name: str) -> MappedGeneration:
    """Check generation `name`'s manifest, vectors and BM25 files, and map them.

    Args:
        index_dir: The index folder.
        name: The generation's id.

    Returns:
        The mapped generation.

    Raises:
        IndexMismatchError: Written by an incompatible version.
        IndexCorruptError: A file is missing, truncated or altered.
    """
    folder = index_dir / GENERATIONS / name
    try:
        manifest = _parse_manifest(index_dir, folder)
        names = [VECTORS, *_lexical_names(), *(part.vectors for part in manifest.parts)]
        with _hashing_ahead(folder, manifest, names):
            vectors = _map_vectors(folder, manifest)
            return MappedGeneration(folder, manifest, vectors, _check_lexical(folder, manifest))
    except OSError as exc:
        raise IndexCorruptError(
            f"generation {folder} cannot be read ({exc.strerror}): {REBUILD_HINT}",
            path=str(folder),
            generation=name,
        ) from None


def open_lexical(
    generation: Generation | MappedGeneration, in_context: bool
) -> LexicalIndex | None:
    """The generation's stored BM25 index, memory-mapped (its files were checked
    against the manifest when the generation was loaded).

    Args:
        generation: A loaded generation.
        in_context: The index of passages after their titles and dates, or alone.

    Returns:
        The index, or None when the generation stores none (built by an older
        version), or one whose terms were cut otherwise than queries now are
        (`TERMS_VERSION`): the caller then indexes the passages itself, until the
        next build rewrites the generation.

    Raises:
        IndexCorruptError: A file is invalid (wrong type or shape).
    """
    if not generation.has_lexical or generation.manifest.lexical_terms != TERMS_VERSION:
        return None
    return LexicalIndex.load(lambda part: generation.path / _lexical_name(in_context, part))


def lexical_terms(
    chunks: Sequence[Chunk],
    documents: Mapping[str, DocumentRecord],
    plain: Sequence[list[str]] | None = None,
) -> tuple[Sequence[list[str]], list[list[str]]]:
    """Each passage's content terms alone and after its document's title and date.

    A context ends with a newline, where no term can run across, so the terms of
    "context + passage" are the context's terms then the passage's: a title is
    cut into terms once per document, not once per passage.

    Args:
        chunks: The passages, in id order.
        documents: Their documents' records (title, date), by source.
        plain: Each passage's terms alone when already cut (by the cluster's
            workers); else cut here.

    Returns:
        (terms of each passage alone, terms of each passage in context).
    """
    contexts = {
        source: content_terms(document_context(record.title, record.date))
        for source, record in documents.items()
    }
    if plain is None:
        plain = [content_terms(chunk.text) for chunk in chunks]
    return plain, [contexts[c.source] + terms for c, terms in zip(chunks, plain, strict=True)]


def current_generation(index_dir: Path) -> str | None:
    """The live generation's id, or None when nothing was built.

    Raises:
        IndexCorruptError: The pointer file exists but is not valid.
    """
    path = index_dir / POINTER
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder in its place, unreadable
        raise IndexCorruptError(
            f"{path} cannot be read ({exc.strerror}): {REBUILD_HINT}", path=str(path)
        ) from None
    try:
        return Pointer.model_validate_json(raw).generation
    except ValidationError:
        raise IndexCorruptError(
            f"{path} is not a valid pointer: {REBUILD_HINT}", path=str(path)
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _missing(path: Path) -> IndexCorruptError:
    return IndexCorruptError(f"index file {path} is missing: {REBUILD_HINT}")


def _altered(path: Path) -> IndexCorruptError:
    return IndexCorruptError(
        f"index file {path} does not match its checksum (truncated or altered): {REBUILD_HINT}"
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


def _read_unhashed(folder: Path, name: str, manifest: Manifest) -> bytes:
    """A file whose checksum a background verification checks (`Verification`)."""
    try:
        return (folder / name).read_bytes()
    except OSError as exc:
        raise _unreadable(folder / name, manifest, exc) from None


def _unreadable(path: Path, manifest: Manifest, exc: OSError) -> IndexCorruptError:
    return IndexCorruptError(
        f"index file {path} cannot be read ({exc.strerror}): {REBUILD_HINT}",
        path=str(path),
        generation=manifest.generation,
    )


def read_generation_file(generation: Generation, name: str) -> bytes:
    """A file of a loaded generation, checked against the SHA-256 its manifest records.

    Args:
        generation: The generation (see `read_generation`).
        name: The file's name in it, as its manifest's `files` lists it.

    Raises:
        IndexCorruptError: The file is missing, unlisted, truncated or altered.
    """
    return _read_or_corrupt(generation.path, name, generation.manifest)


def _read_or_corrupt(folder: Path, name: str, manifest: Manifest) -> bytes:
    """`_read_verified`, an unreadable file (or a folder in its place) refused too."""
    try:
        return _read_verified(folder, name, manifest)
    except OSError as exc:
        raise _unreadable(folder / name, manifest, exc) from None


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
        raise IndexCorruptError(f"{folder / CHUNKS} is invalid ({exc}): {REBUILD_HINT}") from None
    return chunks


def _parse_vectors(data: bytes, manifest: Manifest, folder: Path) -> npt.NDArray[np.float32]:
    try:
        vectors: npt.NDArray[np.float32] = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise IndexCorruptError(f"{folder / VECTORS} is invalid ({exc}): {REBUILD_HINT}") from None
    if vectors.dtype != np.float32 or vectors.shape != (manifest.chunk_count, manifest.dimension):
        raise IndexCorruptError(f"{folder / VECTORS} has shape {vectors.shape}: {REBUILD_HINT}")
    return vectors


def _parse_manifest(index_dir: Path, folder: Path) -> Manifest:
    try:
        raw_manifest = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise IndexCorruptError(f"{folder / MANIFEST} is missing: {REBUILD_HINT}") from None
    try:
        version = json.loads(raw_manifest).get("format_version")
    except (ValueError, AttributeError):
        raise IndexCorruptError(f"{folder / MANIFEST} is not valid JSON: {REBUILD_HINT}") from None
    if version not in READABLE_FORMATS:
        formats = ", ".join(map(str, READABLE_FORMATS))
        raise IndexMismatchError(
            f"index format {version} in {index_dir}, this version reads {formats}: {REBUILD_HINT}"
        )
    try:
        manifest = Manifest.model_validate_json(raw_manifest)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise IndexCorruptError(
            f"{folder / MANIFEST} is invalid ({reason}): {REBUILD_HINT}"
        ) from None
    # Parts make format 5 and may be in 6; index shards make format 6.
    parts_fit = version in (PARTED_FORMAT_VERSION, SHARDED_FORMAT_VERSION) or not manifest.parts
    if (
        not parts_fit
        or (version == PARTED_FORMAT_VERSION and not manifest.parts)
        or bool(manifest.index_shards) != (version == SHARDED_FORMAT_VERSION)
    ):
        raise IndexCorruptError(
            f"{folder / MANIFEST} lists vector parts only in formats {PARTED_FORMAT_VERSION} "
            f"and {SHARDED_FORMAT_VERSION}, and index shards only in format "
            f"{SHARDED_FORMAT_VERSION}: {REBUILD_HINT}"
        )
    return manifest


@dataclass(frozen=True)
class _Reading:
    """What a load reads besides the manifest, passages and mapped files."""

    with_vectors: bool
    index_now: bool
    verify_later_bytes: int | None = None


def read_generation(
    index_dir: Path,
    *,
    with_vectors: bool = False,
    fallback: bool = False,
    index_now: bool = True,
    verify_later_bytes: int | None = None,
) -> Generation:
    """Load and verify the live generation.

    Args:
        index_dir: The index folder.
        with_vectors: Also load the raw vectors (the builder reuses them).
        fallback: When the live generation is corrupt, serve the newest older
            generation that verifies (logged, and named in `fallback_reason`).
        index_now: Read the FAISS index now (its checksum is checked either way);
            False when a query will search shard actors instead, see `VectorIndexFile`.
        verify_later_bytes: A generation whose files hold more bytes opens at
            once, in O(files): its checksums are verified in the background
            (`Generation.verification`, see `assistant.indexing.verification`) and
            its FAISS index is read by the first query. None: always verify first.

    Returns:
        The generation, every file checked against the manifest's SHA-256 (or
        being checked, see `verify_later_bytes`).

    Raises:
        IndexMissingError: No index was built here.
        IndexMismatchError: Built by an incompatible version of this program.
        IndexCorruptError: A file is missing, truncated or altered (and, with
            `fallback`, no older generation verifies either).
    """
    reading = _Reading(with_vectors, index_now, verify_later_bytes)
    for _ in range(_POINTER_RETRIES):
        name = current_generation(index_dir)
        if name is None:
            raise IndexMissingError(f"no index in {index_dir}: run `assistant build` first")
        try:
            return _load(index_dir, name, reading)
        except IndexCorruptError as exc:
            if current_generation(index_dir) != name:
                continue  # a rebuild switched and cleaned up under us: read the new one
            if not fallback:
                raise
            return _load_fallback(index_dir, name, reading, exc)
    raise IndexCorruptError(
        f"the index in {index_dir} changed {_POINTER_RETRIES} times while loading: retry"
    )


def read_named_generation(index_dir: Path, name: str, *, with_vectors: bool = False) -> Generation:
    """Load and verify generation `name` whatever the pointer says (a shard server
    keeps serving the generation it was started on until it is replaced).

    Args:
        index_dir: The index folder.
        name: The generation's id.
        with_vectors: Also load the raw vectors.

    Returns:
        The generation, every file checked against the manifest's SHA-256.

    Raises:
        IndexMismatchError, IndexCorruptError: As for `read_generation`.
    """
    return _load(index_dir, name, _Reading(with_vectors, index_now=True))


def _load(index_dir: Path, name: str, reading: _Reading) -> Generation:
    found_corrupt = refused(index_dir / GENERATIONS / name)
    if found_corrupt is not None:  # after it opened, by its background verification
        raise found_corrupt
    try:
        return _load_files(index_dir, name, reading)
    except IndexCorruptError:
        raise
    except OSError as exc:  # `generations` a file, a folder unreadable
        folder = index_dir / GENERATIONS / name
        raise IndexCorruptError(
            f"generation {folder} cannot be read ({exc.strerror}): {REBUILD_HINT}",
            path=str(folder),
            generation=name,
        ) from None


def _load_files(index_dir: Path, name: str, reading: _Reading) -> Generation:
    folder = index_dir / GENERATIONS / name
    manifest = _parse_manifest(index_dir, folder)
    limit = reading.verify_later_bytes
    if limit is not None and sum(_size(folder / n) for n in manifest.files) > limit:
        return _open_verifying_later(folder, manifest, name, reading)
    with _hashing_ahead(folder, manifest, _mapped_files(manifest, reading)):
        return _open_files(folder, manifest, name, reading)


def _open_verifying_later(
    folder: Path, manifest: Manifest, name: str, reading: _Reading
) -> Generation:
    """Open a large generation at once: each file `_check_file` meets is only
    checked to exist here and hashed in the background; the FAISS index is read
    (and hashed as it is read) by the first query."""
    verification = Verification(folder, manifest.files, HASH_THREADS, _missing, _altered)
    token = _later.set(verification)
    try:
        generation = _open_files(
            folder, manifest, name, dataclasses.replace(reading, index_now=False)
        )
    finally:
        _later.reset(token)
        verification.started()
    return dataclasses.replace(generation, verification=verification)


def _mapped_files(manifest: Manifest, reading: _Reading) -> list[str]:
    """The files a load checks by hashing them whole (the FAISS index, when it is
    read now, is hashed as it is read)."""
    names = [CHUNK_ROWS, SENTENCES, *_lexical_names()]
    if CHUNK_ROWS in manifest.files:  # else chunks.jsonl is read whole, and hashed so
        names.append(CHUNKS)
    names += [part.sentences for part in manifest.parts]
    if reading.with_vectors:
        names += [part.vectors for part in manifest.parts]
    if not reading.index_now:
        names += index_file_names(manifest)
    return names


def _open_files(folder: Path, manifest: Manifest, name: str, reading: _Reading) -> Generation:
    chunks, sentence_rows, sentence_count = _passages(folder, manifest)
    index = VectorIndexFile(folder, manifest, now=reading.index_now)
    vectors = _read_vectors(folder, manifest) if reading.with_vectors else None
    sentence_vectors = _map_sentences(folder, manifest, sentence_rows, sentence_count)
    has_lexical = _check_lexical(folder, manifest)
    return Generation(
        folder,
        manifest,
        chunks,
        index,
        vectors,
        sentence_vectors,
        sentence_rows,
        pointer=name,
        has_lexical=has_lexical,
    )


def _passages(
    folder: Path, manifest: Manifest
) -> tuple[Sequence[Chunk], npt.NDArray[np.int64], int]:
    """The passages, each one's first sentence row, and the sentence count: mapped
    and parsed on demand, or parsed now for a generation without `chunks.rows.npy`."""
    if CHUNK_ROWS not in manifest.files:
        chunks = _parse_chunks(_read_verified(folder, CHUNKS, manifest), folder)
        if len(chunks) != manifest.chunk_count:
            raise IndexCorruptError(f"{folder / CHUNKS} holds {len(chunks)} chunks: {REBUILD_HINT}")
        rows = np.cumsum([0] + [len(c.sentences) for c in chunks], dtype=np.int64)
        return chunks, rows[:-1], int(rows[-1])
    shape = (manifest.chunk_count + 1, 2)
    rows = _map_checked(folder, CHUNK_ROWS, manifest, np.dtype(np.int64), shape)
    _check_file(folder, CHUNKS, manifest)
    text = map_text(folder / CHUNKS)
    sentence_count = int(rows[-1, 1])
    check_rows(rows, len(text), folder / CHUNK_ROWS)
    passages = Passages(text, rows, folder / CHUNKS)
    return passages, passages.sentence_rows, sentence_count


#: Threads that hash a generation's files while it is opened: hashlib and file
#: reads release the GIL, so the files are hashed on every core at once.
HASH_THREADS = min(4, os.cpu_count() or 1)

# The background verification of the load under way in this thread, if it opens
# a large generation at once.
_later: contextvars.ContextVar[Verification | None] = contextvars.ContextVar("_later", default=None)

# The hashes being computed ahead for the load under way in this thread, by path.
_ahead: contextvars.ContextVar[Mapping[Path, Future[str]] | None] = contextvars.ContextVar(
    "_ahead", default=None
)


@contextlib.contextmanager
def _hashing_ahead(folder: Path, manifest: Manifest, names: Iterable[str]) -> Iterator[None]:
    """Hash the listed `names` on a thread pool while the load goes on; each
    `_check_file` inside takes its file's hash from there when it gets to it."""
    listed = [name for name in names if name in manifest.files]
    listed.sort(key=lambda name: _size(folder / name), reverse=True)  # longest first
    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="assistant-hash") as pool:
        futures = {folder / name: pool.submit(sha256_file, folder / name) for name in listed}
        token = _ahead.set(futures)
        try:
            yield
        finally:
            _ahead.reset(token)
            for future in futures.values():
                future.cancel()  # a load that failed early hashes no further file


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _hash_of(folder: Path, name: str) -> str:
    ahead = _ahead.get()
    future = ahead.get(folder / name) if ahead is not None else None
    return future.result() if future is not None else sha256_file(folder / name)


def _check_file(folder: Path, name: str, manifest: Manifest) -> None:
    """Check a generation file against its manifest checksum, hashed in blocks
    (files that are mapped, not read, afterwards); while a large generation
    opens, only that it exists, its hash left to the background."""
    later = _later.get()
    if later is not None:
        if not (folder / name).is_file():
            raise _missing(folder / name)
        if name not in manifest.files:
            raise _altered(folder / name)
        later.submit(name)
        return
    try:
        actual = _hash_of(folder, name)
    except FileNotFoundError:
        raise _missing(folder / name) from None
    if actual != manifest.files.get(name):
        raise _altered(folder / name)


def _check_lexical(folder: Path, manifest: Manifest) -> bool:
    """Whether the generation stores its BM25 indexes, each file checked in blocks
    against its SHA-256 (they are mapped, not read, afterwards)."""
    names = _lexical_names()
    if not any(name in manifest.files for name in names):
        return False
    for name in names:
        _check_file(folder, name, manifest)
    return True


def _read_vectors(folder: Path, manifest: Manifest) -> npt.NDArray[np.float32]:
    """Every passage vector, in memory (the builder reuses unchanged documents')."""
    if manifest.parts:
        return np.asarray(_map_vectors(folder, manifest).to_array(), dtype=np.float32)
    return _parse_vectors(_read_verified(folder, VECTORS, manifest), manifest, folder)


def _map_vectors(folder: Path, manifest: Manifest) -> PartedRows:
    """The passage vectors, each part checked in blocks and memory-mapped."""
    if manifest.parts and sum(part.rows for part in manifest.parts) != manifest.chunk_count:
        raise IndexCorruptError(
            f"the vector parts of {folder} do not hold its {manifest.chunk_count} passages: "
            f"{REBUILD_HINT}"
        )
    files = [(part.vectors, part.rows) for part in manifest.parts]
    return _map_rows(folder, manifest, files or [(VECTORS, manifest.chunk_count)], np.float32)


def _map_sentences(
    folder: Path, manifest: Manifest, sentence_rows: npt.NDArray[np.int64], count: int
) -> PartedRows:
    """The sentence vectors, checked in blocks and memory-mapped: a large corpus's
    are several times its passage vectors, and a query reads a few rows."""
    if manifest.parts:
        check_part_bounds(manifest.parts, sentence_rows, count, folder)
    files = [(part.sentences, part.sentence_rows) for part in manifest.parts]
    return _map_rows(folder, manifest, files or [(SENTENCES, count)], np.float16)


def _map_rows(
    folder: Path, manifest: Manifest, files: list[tuple[str, int]], dtype: type[np.floating]
) -> PartedRows:
    """`(name, rows)` files of the generation, each checked and mapped, as one matrix."""
    return PartedRows(
        [
            _map_checked(folder, name, manifest, np.dtype(dtype), (rows, manifest.dimension))
            for name, rows in files
        ],
        manifest.dimension,
    )


def _map_checked(
    folder: Path, name: str, manifest: Manifest, dtype: np.dtype[Any], shape: tuple[int, int]
) -> npt.NDArray[Any]:
    """A `.npy` file checked against its manifest checksum (hashed in blocks), then
    memory-mapped; its dtype and shape must be the manifest's."""
    _check_file(folder, name, manifest)
    path = folder / name
    try:
        array: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise IndexCorruptError(f"{path} is invalid ({exc}): {REBUILD_HINT}") from None
    if array.dtype != dtype or array.shape != shape:
        raise IndexCorruptError(f"{path} has shape {array.shape}: {REBUILD_HINT}")
    return array


def _load_fallback(
    index_dir: Path, live: str, reading: _Reading, error: IndexCorruptError
) -> Generation:
    """The newest finished generation other than `live` that verifies."""
    for name in reversed(_own_generations(index_dir)):
        if name == live:
            continue
        try:
            generation = _load(index_dir, name, reading)
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
    chunks: Sequence[Chunk],
    vectors: npt.NDArray[np.float32],
    sentence_vectors: npt.NDArray[np.floating],
    index: VectorIndex | None,
    extra_files: Mapping[str, tuple[Path, str]] | None = None,
    passage_terms: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]] | None = None,
) -> Path:
    """Write a complete generation and make it the live one.

    The manifest's `files` is filled in here with each file's SHA-256.
    `extra_files` (name → an existing file and its SHA-256, e.g. the ONNX query
    encoder) are hard-linked in (copied and checked across file systems):
    generations never change, so a file shared with the previous one is safe.
    When the manifest lists vector `parts`, their files come from `extra_files`
    and `vectors` / `sentence_vectors` are not written (see
    `assistant.indexing.parts`).
    The BM25 indexes are built here from the passages' terms, so that no reader
    has to: `passage_terms` when the caller already cut them (see
    `lexical_terms`), else cut from `chunks`. With `index` None the vector index
    and BM25 files were built elsewhere (a cluster task, see
    `assistant.indexing.search_files`) and come from `extra_files`.

    Returns:
        The new generation's folder.
    """
    temp = index_dir / GENERATIONS / f"{TEMP_PREFIX}{manifest.generation}"
    lexical: dict[str, bytes] = {}
    if index is not None:
        lexical = lexical_files(passage_terms or lexical_terms(chunks, manifest.documents))
    elif not set(search_file_names(manifest)) <= set(extra_files or {}):
        raise ValueError("a generation without its vector index needs its search files staged")
    try:
        return _write_generation(
            index_dir,
            temp,
            manifest,
            chunks,
            vectors,
            sentence_vectors,
            index,
            extra_files,
            lexical,
        )
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise write_error(exc, manifest.generation) from None


def write_error(exc: OSError, generation: str) -> IndexWriteError:
    """One line for a failed write; the pointer still names the previous generation."""
    what = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    return IndexWriteError(
        f"{what} while writing generation {generation}"
        + (f" ({exc.filename})" if exc.filename else "")
        + "; the previous index keeps serving: free space or fix permissions, then build again",
        path=str(exc.filename) if exc.filename else None,
        generation=generation,
    )


def _write_generation(
    index_dir: Path,
    temp: Path,
    manifest: Manifest,
    chunks: Sequence[Chunk],
    vectors: npt.NDArray[np.float32],
    sentence_vectors: npt.NDArray[np.floating],
    index: VectorIndex | None,
    extra_files: Mapping[str, tuple[Path, str]] | None,
    lexical: Mapping[str, bytes],
) -> Path:
    generations = temp.parent
    temp.mkdir()
    passage_text, passage_rows = encode_passages(chunks)
    payload = {
        CHUNKS: passage_text,
        CHUNK_ROWS: npy_bytes(passage_rows),
        **({FAISS: index.to_bytes()} if index is not None else {}),
        **_vector_payload(manifest.parts, vectors, sentence_vectors, extra_files or {}),
        **lexical,
    }
    files = {name: _sha256(data) for name, data in payload.items()}
    folders = {temp}
    if lexical:
        (temp / LEXICAL_FOLDER).mkdir()
        folders.add(temp / LEXICAL_FOLDER)
    for name, (source, sha256) in (extra_files or {}).items():
        target = temp / name
        if target.parent not in folders:  # text/: the text layers
            target.parent.mkdir()
            folders.add(target.parent)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        if not target.samefile(source) and sha256_file(target) != sha256:
            raise IndexCorruptError(f"copying {source} into the index altered it: retry")
        files[name] = sha256
    payload[MANIFEST] = (
        manifest.model_copy(update={"files": files}).model_dump_json(indent=2).encode()
    )
    for name, data in payload.items():
        write_durable(temp / name, data)
    for folder in sorted(folders, reverse=True):  # inner folders first, then the generation
        fsync_dir(folder)
    final = generations / manifest.generation
    os.replace(temp, final)
    fsync_dir(generations)
    write_atomic(
        index_dir / POINTER, Pointer(generation=manifest.generation).model_dump_json().encode()
    )
    return final


def _vector_payload(
    parts: Sequence[VectorPart],
    vectors: npt.NDArray[np.float32],
    sentence_vectors: npt.NDArray[np.floating],
    linked: Mapping[str, tuple[Path, str]],
) -> dict[str, bytes]:
    """`vectors.npy` and `sentences.npy`, or nothing when the vectors are parts
    (which must all be among the linked files)."""
    if parts:
        missing = {n for p in parts for n in (p.vectors, p.sentences)} - set(linked)
        if missing:
            raise ValueError(f"vector part files not staged: {sorted(missing)[:3]}")
        return {}
    return {
        VECTORS: npy_bytes(np.ascontiguousarray(vectors, dtype=np.float32)),
        # Half precision: they only choose which sentence to highlight.
        SENTENCES: npy_bytes(np.ascontiguousarray(sentence_vectors, dtype=np.float16)),
    }


def npy_bytes(array: npt.NDArray[np.generic]) -> bytes:
    """`array` as the bytes of a `.npy` file (no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


#: Names the builder gives its generations (see `new_generation_id`) and its
#: temp folders; nothing else under `generations/` is ever deleted.
GENERATION_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")
TEMP_PREFIX = ".tmp-"
_TEMP_NAME = re.compile(r"^\.tmp-\d{8}T\d{12}Z-[0-9a-f]{6}(-export)?$")
# What an index folder may hold besides the above: the pointer's temp files, and
# the README.md / .gitignore a repository keeps in its index/ folder.
_POINTER_TEMP = re.compile(r"^\.CURRENT\.json\.[A-Za-z0-9_]+\.tmp$")
_TOP_LEVEL = {POINTER, GENERATIONS, LOCK, "README.md", ".gitignore", ".gitkeep"}


def _own_generations(index_dir: Path) -> list[str]:
    """Finished generations (the builder's names, holding a manifest), oldest first."""
    try:
        entries = list((index_dir / GENERATIONS).iterdir())
    except OSError:
        return []
    return sorted(
        e.name
        for e in entries
        if GENERATION_NAME.match(e.name) and (e / MANIFEST).is_file() and not e.is_symlink()
    )


def check_index_folder(index_dir: Path) -> None:
    """Refuse, before any write, an index folder that is a file or holds entries
    the builder did not create (so a mistyped `--index ~/photos` deletes nothing).

    Raises:
        ForeignIndexFolderError: A file, or a folder with foreign entries.
    """
    if index_dir.exists() and not index_dir.is_dir():
        raise ForeignIndexFolderError(
            f"index folder {index_dir} is a file: pass a folder with --index", path=str(index_dir)
        )
    foreign = [
        name
        for name in _list(index_dir)
        if name not in _TOP_LEVEL and not _POINTER_TEMP.match(name)
    ]
    foreign += [
        f"{GENERATIONS}/{name}"
        for name in _list(index_dir / GENERATIONS)
        if not GENERATION_NAME.match(name) and not _TEMP_NAME.match(name)
    ]
    if foreign:
        shown = ", ".join(sorted(foreign)[:5]) + (" …" if len(foreign) > 5 else "")
        raise ForeignIndexFolderError(
            f"index folder {index_dir} holds files the assistant did not create ({shown}): "
            "pass an empty or new folder with --index, or move them away",
            path=str(index_dir),
            found=sorted(foreign),
        )


def _list(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def repair_layout(index_dir: Path) -> None:
    """Put back the folder layout a build needs: `generations/` a folder, and no
    empty folder where `CURRENT.json` belongs. Call only while holding the lock.

    Raises:
        IndexCorruptError: `CURRENT.json` is a folder with content in it.
    """
    generations = index_dir / GENERATIONS
    if generations.is_symlink() or (generations.exists() and not generations.is_dir()):
        generations.unlink()
    generations.mkdir(exist_ok=True)
    pointer = index_dir / POINTER
    if pointer.is_dir() and not pointer.is_symlink():
        try:
            pointer.rmdir()
        except OSError:
            raise IndexCorruptError(
                f"{pointer} is a folder with files in it: move it away, then build again",
                path=str(pointer),
            ) from None


def remove_stale(index_dir: Path, *, keep: int = 2) -> None:
    """Delete temp folders of failed builds and all but the newest `keep` generations
    (the live one always stays). Only the builder's own names are touched, and a
    generation only when it holds a manifest. Call only while holding the build lock."""
    generations = index_dir / GENERATIONS
    live = _live_or_none(index_dir)
    for name in _list(generations):
        if _TEMP_NAME.match(name) and not (generations / name).is_symlink():
            shutil.rmtree(generations / name, ignore_errors=True)
    finished = _own_generations(index_dir)
    for name in finished[:-keep] if keep else finished:
        if name != live:
            shutil.rmtree(generations / name, ignore_errors=True)


def _live_or_none(index_dir: Path) -> str | None:
    try:
        return current_generation(index_dir)
    except IndexCorruptError:
        return None


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's build lock; the kernel drops it if the process dies.

    Raises:
        BuildInProgressError: Another build holds it.
    """
    check_index_folder(index_dir)
    lock = filelock.FileLock(index_dir / LOCK, mode=0o666)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(blocking=False)
    except filelock.Timeout:
        raise BuildInProgressError(
            f"another build is running on {index_dir}: wait for it to finish, then retry",
            path=str(index_dir),
        ) from None
    except OSError as exc:
        raise IndexWriteError(
            f"cannot write to index folder {index_dir} ({exc.strerror}): run as an account "
            "that may write there, or pass another --index",
            path=str(index_dir),
        ) from None
    try:
        yield
    finally:
        lock.release()
