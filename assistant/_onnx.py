"""Query-time embedding with onnxruntime + tokenizers: no torch, no transformers.
The only module that imports onnxruntime.

The graph (exported at build time by `_embedding`) includes mean pooling and L2
normalization, so its output is directly comparable to sentence-transformers'.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime
from tokenizers import Tokenizer

from ._errors import IndexCorruptError
from ._files import sha256_file

__all__ = ["OnnxEmbedder", "load_onnx_embedder"]

Vectors = npt.NDArray[np.float32]
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = 32


class OnnxEmbedder:
    """An `Embedder` over an ONNX sentence-embedding graph."""

    def __init__(
        self, graph: Path, tokenizer_json: str, *, name: str, dimension: int, max_length: int
    ) -> None:
        options = onnxruntime.SessionOptions()
        # One query at a time: a single thread is as fast and leaves the other
        # core to the server (same reasoning as FAISS's thread count).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        self.name = name
        self.dimension = dimension

    def _run(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUTS}
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            arrays["input_ids"][row, :size] = encoding.ids
            arrays["attention_mask"][row, :size] = encoding.attention_mask
            arrays["token_type_ids"][row, :size] = encoding.type_ids
        (vectors,) = self._session.run(["embedding"], arrays)
        return np.asarray(vectors, dtype=np.float32)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        """One unit vector per text; batches of similar length to keep padding low."""
        del progress  # query-time batches are small
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(order), _BATCH):
            rows = order[first : first + _BATCH]
            result[rows] = self._run([texts[i] for i in rows])
        return result

    def encode_query(self, text: str) -> Vectors:
        return np.ascontiguousarray(self._run([text])[0], dtype=np.float32)


_lock = threading.Lock()
# One session per distinct graph (about 200 MB each), however many generation
# folders hold a copy of it; each folder's copy is still checked once.
_sessions: dict[tuple[str, str], OnnxEmbedder] = {}
_checked: set[tuple[str, str, str]] = set()


def load_onnx_embedder(
    graph_path: Path,
    graph_sha256: str,
    tokenizer_path: Path,
    tokenizer_sha256: str,
    *,
    name: str,
    dimension: int,
    max_length: int,
) -> OnnxEmbedder:
    """The encoder stored in a generation, its files checked against their SHA-256s
    once per folder; the session is shared by every folder with the same files.

    Raises:
        IndexCorruptError: A file is missing or does not match its checksum.
    """
    content = (graph_sha256, tokenizer_sha256)
    location = (str(graph_path), *content)
    with _lock:
        if location in _checked and content in _sessions:
            return _sessions[content]
        # Hashed in blocks and loaded by path: holding the 90 MB graph as bytes
        # beside the session would double the process's peak memory.
        _check(graph_path, graph_sha256)
        tokenizer = _check(tokenizer_path, tokenizer_sha256)
        if content not in _sessions:
            _sessions[content] = OnnxEmbedder(
                graph_path,
                tokenizer.read_text(encoding="utf-8"),
                name=name,
                dimension=dimension,
                max_length=max_length,
            )
        _checked.add(location)
        return _sessions[content]


def _check(path: Path, sha256: str) -> Path:
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        raise IndexCorruptError(
            f"query encoder file {path} is missing: run `assistant build --force`"
        ) from None
    if actual != sha256:
        raise IndexCorruptError(
            f"query encoder file {path} does not match its checksum: run `assistant build --force`"
        )
    return path
