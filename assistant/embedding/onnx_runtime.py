"""Query-time embedding with onnxruntime + tokenizers: no torch, no transformers.
The only module that imports onnxruntime.

The graph (exported at build time by `onnx_export`) includes mean pooling and L2
normalization, so its output is directly comparable to sentence-transformers'.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from .._arrays import Spans, Vectors
from .._errors import REBUILD_HINT, IndexCorruptError
from .._files import sha256_file
from .onnx_export import INPUTS
from .pooling import pool_spans

__all__ = ["OnnxEmbedder", "load_onnx_embedder", "verify_files"]

_BATCH = 32


class OnnxEmbedder:
    """An `Embedder` over an ONNX sentence-embedding graph."""

    def __init__(
        self,
        graph: Path,
        tokenizer_json: str,
        *,
        name: str,
        dimension: int,
        max_length: int,
        threads: int = 1,
    ) -> None:
        options = onnxruntime.SessionOptions()
        # Queries use one thread: as fast for one short text, and it leaves the
        # other core to the server. Builds pass every core.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        # The graph declares token_type_ids only for models that use them.
        self._inputs = [node.name for node in self._session.get_inputs()]
        if not {"input_ids", "attention_mask"} <= set(self._inputs) <= set(INPUTS):
            raise IndexCorruptError(
                f"query encoder {graph} takes {self._inputs}, not token ids, attention "
                f"mask and token types: {REBUILD_HINT}"
            )
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        self.name = name
        self.dimension = dimension

    def _run(
        self, texts: Sequence[str], spans: Sequence[Spans] | None = None
    ) -> tuple[Vectors, list[Vectors]]:
        """Vectors of `texts` and, when `spans` is given, of each text's spans."""
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in self._inputs}
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            arrays["input_ids"][row, :size] = encoding.ids
            arrays["attention_mask"][row, :size] = encoding.attention_mask
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][row, :size] = encoding.type_ids
        if spans is None:
            (vectors,) = self._session.run(["embedding"], arrays)
            return np.asarray(vectors, dtype=np.float32), []
        vectors, tokens = self._session.run(["embedding", "token_embeddings"], arrays)
        pooled = [
            pool_spans(tokens[row], encoding.offsets, spans[row], vectors[row])
            for row, encoding in enumerate(encodings)
        ]
        return np.asarray(vectors, dtype=np.float32), pooled

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        """One unit vector per text."""
        return self._batched(texts, None, progress=progress)[0]

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, progress: bool = False
    ) -> tuple[Vectors, Vectors]:
        """Passage vectors and contextual span vectors from one forward pass each."""
        return self._batched(texts, spans, progress=progress)

    def _batched(
        self, texts: Sequence[str], spans: Sequence[Spans] | None, *, progress: bool
    ) -> tuple[Vectors, Vectors]:
        """Batches of similar length (little padding), results in input order."""
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pooled: list[Vectors] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = range(0, len(order), _BATCH)
        for first in _progress(batches, progress):
            rows = order[first : first + _BATCH]
            batch_spans = None if spans is None else [spans[i] for i in rows]
            vectors, span_vectors = self._run([texts[i] for i in rows], batch_spans)
            result[rows] = vectors
            for row, own in zip(rows, span_vectors, strict=False):
                pooled[row] = own
        joined = np.concatenate(pooled) if pooled else np.zeros((0, self.dimension), np.float32)
        return result, joined

    def encode_query(self, text: str) -> Vectors:
        return np.ascontiguousarray(self._run([text])[0][0], dtype=np.float32)


def _progress(batches: range, show: bool) -> Iterable[int]:
    if not show:
        return batches
    from tqdm import tqdm

    return tqdm(batches, desc="Embedding", unit="batch")  # type: ignore[no-any-return]


_lock = threading.Lock()
# One session per distinct set of files and thread count, however many
# generation folders hold a copy of them.
_sessions: dict[tuple[object, ...], OnnxEmbedder] = {}
# Files already hashed, by identity on disk: generations hard-link the encoder,
# so each rebuild's copy is the same inode and need not be read again. Any write
# to the file changes its size or modification time, and so its identity.
_verified: set[tuple[int, int, int, int, str]] = set()


def load_onnx_embedder(
    folder: Path,
    files: Mapping[str, str],
    *,
    graph: str,
    tokenizer: str,
    name: str,
    dimension: int,
    max_length: int,
    threads: int = 1,
    shared: bool = True,
) -> OnnxEmbedder:
    """The encoder stored in `folder`, its files checked against their SHA-256s
    (see `verify_files`); the session is shared by every folder with the same files.

    Args:
        folder: Where the files are (a generation, or a build's staging folder).
        files: Name → SHA-256 of every file of the encoder (graph, its external
            weights, tokenizer).
        graph: Which of `files` is the ONNX graph.
        tokenizer: Which is the tokenizer.json.
        name: Model identity, reported as the embedder's `name`.
        dimension: Vector size.
        max_length: Tokens per text; longer input is truncated.
        threads: onnxruntime intra-op threads (1 for queries, all cores to build).
        shared: Keep the session for later calls (queries); a build's is dropped
            with the build.

    Raises:
        IndexCorruptError: A file is missing or does not match its checksum.
    """
    content = (tuple(sorted(files.items())), threads)
    with _lock:
        # Loaded by path after the check: the weights stay a memory-mapped external
        # file, so only the pages a query touches become resident.
        _verify(folder, files)
        if content in _sessions:
            return _sessions[content]
        embedder = OnnxEmbedder(
            folder / graph,
            (folder / tokenizer).read_text(encoding="utf-8"),
            name=name,
            dimension=dimension,
            max_length=max_length,
            threads=threads,
        )
        if shared:
            _sessions[content] = embedder
        return embedder


def verify_files(folder: Path, files: Mapping[str, str]) -> None:
    """Check the encoder files in `folder` against their SHA-256s (each file once
    per process, however many generations hard-link it).

    Raises:
        IndexCorruptError: A file is missing or does not match its checksum.
    """
    with _lock:
        _verify(folder, files)


def _verify(folder: Path, files: Mapping[str, str]) -> None:
    for file_name, sha256 in files.items():
        path = folder / file_name
        try:
            info = os.stat(path)
            identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, sha256)
            if identity in _verified:
                continue
            actual = sha256_file(path)  # hashed in blocks, never held whole
        except FileNotFoundError:
            raise IndexCorruptError(
                f"query encoder file {path} is missing: {REBUILD_HINT}"
            ) from None
        if actual != sha256:
            raise IndexCorruptError(
                f"query encoder file {path} does not match its checksum: {REBUILD_HINT}"
            )
        _verified.add(identity)
