"""Text → normalized float32 vectors. The only module that imports sentence_transformers.

The import is deferred to the first use: it costs seconds, and nothing on the way
to that point (CLI parsing, chunking, loading an index) needs it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .._errors import ModelError
from .model_folder import resolve_model_dir
from .pooling import pool_spans

__all__ = ["Embedder", "OnnxExport", "SentenceTransformerEmbedder", "load_embedder"]

Vectors = npt.NDArray[np.float32]
Spans = Sequence[tuple[int, int]]


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


@dataclass(frozen=True)
class OnnxExport:
    """What `export_onnx` wrote."""

    graph: Path
    weights: Path
    tokenizer: Path
    max_length: int
    exported_with: dict[str, str]


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
        """Write the model as an ONNX graph (token ids → mean-pooled, normalized
        vector, and the token vectors for sentence pooling), its weights as an
        external file (memory-mapped at load, so unused embedding rows never become
        resident), plus its tokenizer, into `folder`, for torch-free queries.

        Raises:
            ModelError: The model is not a plain transformer + mean pooling + normalize
                stack, or the export fails.
        """
        import warnings

        import onnx
        import sentence_transformers
        import torch
        import transformers

        stack: Any = self._model  # sentence-transformers' module stack is loosely typed
        modules = [type(m).__name__ for m in stack]
        pooling = stack[1].get_config_dict().get("pooling_mode") if len(modules) > 1 else None
        if modules[:2] != ["Transformer", "Pooling"] or modules[2:] not in ([], ["Normalize"]):
            raise ModelError(f"cannot export {self.name}: modules {modules} are not supported")
        if pooling != "mean":
            raise ModelError(f"cannot export {self.name}: {pooling} pooling is not supported")
        tokenizer_file = self._folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelError(f"cannot export {self.name}: no tokenizer.json in {self._folder}")

        class MeanPooledNormalized(torch.nn.Module):
            def __init__(self, transformer: Any) -> None:
                super().__init__()
                self.transformer: Any = transformer

            def forward(
                self,
                input_ids: torch.Tensor,
                attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor,
            ) -> tuple[torch.Tensor, torch.Tensor]:
                hidden = self.transformer(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, p=2, dim=1), hidden

        graph = folder / "query-encoder.onnx"
        weights = folder / "query-encoder.onnx.data"
        traced = folder / "traced.onnx"
        wrapper = MeanPooledNormalized(stack[0].auto_model).eval()
        # Two texts of different lengths, so the traced graph handles padding.
        sample = self._model.tokenizer(
            ["a short text", "a somewhat longer text to pad the first one"],
            padding=True,
            return_tensors="pt",
        )
        axes = {0: "batch", 1: "tokens"}
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer notes on constant shapes
                torch.onnx.export(
                    wrapper,
                    (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                    str(traced),
                    input_names=["input_ids", "attention_mask", "token_type_ids"],
                    output_names=["embedding", "token_embeddings"],
                    dynamic_axes={
                        "input_ids": axes,
                        "attention_mask": axes,
                        "token_type_ids": axes,
                        "embedding": {0: "batch"},
                        "token_embeddings": axes,
                    },
                    opset_version=17,
                    dynamo=False,
                )
            onnx.save_model(
                onnx.load(str(traced)),
                str(graph),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=weights.name,
                size_threshold=1024,
            )
            traced.unlink()
            # onnx writes external data owner-only; the index's other files are
            # readable by whoever serves it, so this one must be too.
            weights.chmod(graph.stat().st_mode & 0o777)
        except Exception as exc:
            raise ModelError(f"cannot export {self.name} to ONNX: {exc}") from None
        tokenizer = folder / "tokenizer.json"
        tokenizer.write_bytes(tokenizer_file.read_bytes())
        return OnnxExport(
            graph=graph,
            weights=weights,
            tokenizer=tokenizer,
            max_length=int(stack.max_seq_length),
            exported_with={
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "sentence-transformers": sentence_transformers.__version__,
                "onnx": onnx.__version__,
            },
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
