"""Text → normalized float32 vectors. The only module that imports sentence_transformers.

The import is deferred to the first use: it costs seconds, and nothing on the way
to that point (CLI parsing, chunking, loading an index) needs it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._arrays import Spans, Vectors
from .._errors import ModelError
from .._model_folder import resolve_model_dir
from .onnx_export import OnnxExport
from .pooling import pool_spans

__all__ = ["Embedder", "OnnxExport", "SentenceTransformerEmbedder", "load_embedder"]


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
        self._folder = folder
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

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, progress: bool = False
    ) -> tuple[Vectors, Vectors]:
        """Passage vectors and contextual span vectors (mean of each span's token
        vectors) from one forward pass per passage; see `_pooling`."""
        if not texts:
            empty = np.zeros((0, self.dimension), dtype=np.float32)
            return empty, empty
        outputs: Any = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            output_value=None,
            show_progress_bar=progress,
        )
        stack: Any = self._model
        offsets = stack.tokenizer(
            list(texts),
            return_offsets_mapping=True,
            truncation=True,
            max_length=int(stack.max_seq_length),
        )["offset_mapping"]
        passages = np.stack(
            [item["sentence_embedding"].float().cpu().numpy() for item in outputs]
        ).astype(np.float32)
        passages /= np.linalg.norm(passages, axis=1, keepdims=True).clip(min=1e-12)
        pooled = [
            pool_spans(item["token_embeddings"].float().cpu().numpy(), own, text_spans, vector)
            for item, own, text_spans, vector in zip(outputs, offsets, spans, passages, strict=True)
        ]
        return np.ascontiguousarray(passages), np.concatenate(pooled)

    def encode_query(self, text: str) -> Vectors:
        vector = self._model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vector[0], dtype=np.float32)

    def export_onnx(self, folder: Path) -> OnnxExport:
        """Write the model as a torch-free ONNX query encoder into `folder` (see
        `onnx_export.export_onnx`).

        Raises:
            ModelError: The model is not a plain transformer + mean pooling + normalize
                stack, or the export fails.
        """
        import sentence_transformers

        from .onnx_export import export_onnx

        return export_onnx(
            self._model,
            name=self.name,
            model_folder=self._folder,
            folder=folder,
            sentence_transformers_version=sentence_transformers.__version__,
        )


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
            # torch, transformers and the model add millions of objects that live
            # as long as the process; left to the collector, every full collection
            # walks them all (measured: a 2,000-passage index load took 0.26 s
            # instead of 0.02 s after a build). Frozen, collections skip them.
            gc.freeze()
        return _loaded[model]
