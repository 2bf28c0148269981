"""Text → normalized float32 vectors. The only module that imports sentence_transformers.

The import is deferred to the first use: it costs seconds, and nothing on the way
to that point (CLI parsing, chunking, loading an index) needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ._errors import ModelError
from ._models import resolve_model_dir

__all__ = ["Embedder", "SentenceTransformerEmbedder", "load_embedder"]

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns passages and questions into unit-length float32 vectors."""

    name: str
    dimension: int

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        """One row per text, shape `(len(texts), dimension)`."""
        ...

    def encode_query(self, text: str) -> Vectors:
        """Shape `(dimension,)`; input beyond the model's limit is truncated."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU."""

    def __init__(self, model: str, *, batch_size: int = 32) -> None:
        folder = resolve_model_dir(model)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # its per-load "Loading weights" bar would drown the build's own progress bar
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelError(
                f"cannot load embedding model {model!r} from {folder}: {exc}"
            ) from None
        self.name = model
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ModelError(f"embedding model {model!r} does not report its dimension")
        self.dimension = int(dimension)
        self._batch_size = batch_size

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> Vectors:
        vector = self._model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vector[0], dtype=np.float32)


_lock = threading.Lock()
_loaded: dict[str, SentenceTransformerEmbedder] = {}


def load_embedder(model: str) -> SentenceTransformerEmbedder:
    """The process-wide embedder for `model`, loaded once even under concurrent calls.

    Raises:
        ModelError: The model cannot be found or loaded offline.
    """
    with _lock:
        if model not in _loaded:
            _loaded[model] = SentenceTransformerEmbedder(model)
        return _loaded[model]
