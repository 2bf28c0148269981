"""Which encoder answers queries: the generation's verified ONNX graph when there
is one (no torch import), else sentence-transformers.

At build time the model is exported into the generation and checked: its vectors
for a fixed probe set must match the build model's to cosine ≥ 0.9999, or the
export is refused (recorded in the manifest) and queries use sentence-transformers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from ._embedding import Embedder, OnnxExport, load_embedder
from ._errors import AssistantError, IndexCorruptError
from ._files import sha256_file
from ._onnx import load_onnx_embedder
from ._settings import Settings
from ._storage import Generation
from ._types import QueryEncoderRecord

__all__ = ["MIN_COSINE", "PROBES", "prepare_query_encoder", "query_embedder"]

logger = logging.getLogger("assistant")

MIN_COSINE = 0.9999
GRAPH = "query-encoder.onnx"
TOKENIZER = "tokenizer.json"
# Short and long (past the 256-token limit), questions and passages, digits,
# punctuation and non-ASCII: where an export would drift, it drifts here.
PROBES = [
    "Who is Japan's defense minister?",
    "x",
    "When did the 2+2 meeting in Tokyo take place?",
    "U.S. Forces Japan will be reconstituted as a Joint Force Headquarters (JFHQ).",
    "Advanced Medium-Range Air-to-Air Missiles (AMRAAM) and Patriot PAC-3 MSE interceptors.",
    "In 2022, five Chinese ballistic missiles landed in Japan’s exclusive economic zone.",
    "尖閣諸島 Senkaku/Diaoyu — «territorial incursions» near the islands, 70 miles from Taiwan.",
    "alliance " * 400,
    " ".join(f"passage{i} with several tokens" for i in range(120)),
    "How many U.S. servicemembers does Japan host? Almost 60,000.",
]


class Exporter(Protocol):
    """An embedder that can write itself as an ONNX graph (sentence-transformers)."""

    def export_onnx(self, folder: Path) -> OnnxExport: ...


def prepare_query_encoder(
    embedder: Embedder,
    staging: Path,
    previous: Generation | None,
) -> tuple[QueryEncoderRecord | None, dict[str, Path], str | None]:
    """Export and verify the query encoder, or reuse the previous generation's.

    Args:
        embedder: The build's embedder (the reference the export must match).
        staging: An empty scratch folder for the export.
        previous: The generation being updated, whose verified encoder is reused
            when it was made from the same model and its files still check out.

    Returns:
        The record for the manifest, the files to place in the generation, and
        why there is no encoder (None when there is one).
    """
    reused = _reuse(previous, embedder.name)
    if reused is not None:
        return reused
    if not hasattr(embedder, "export_onnx"):
        return None, {}, f"embedder {embedder.name} cannot export ONNX"
    exporter: Exporter = embedder  # type: ignore[assignment]
    try:
        export = exporter.export_onnx(staging)
        candidate = load_onnx_embedder(
            export.graph,
            sha256_file(export.graph),
            export.tokenizer,
            sha256_file(export.tokenizer),
            name=embedder.name,
            dimension=embedder.dimension,
            max_length=export.max_length,
        )
        agreement = _min_cosine(embedder, candidate)
    except (AssistantError, OSError, RuntimeError, ValueError) as exc:
        reason = f"ONNX export failed ({exc})"
        logger.warning("%s; queries will use sentence-transformers", reason)
        return None, {}, reason
    if agreement < MIN_COSINE:
        reason = f"ONNX export refused: probe cosine {agreement:.6f} < {MIN_COSINE}"
        logger.warning("%s; queries will use sentence-transformers", reason)
        return None, {}, reason
    record = QueryEncoderRecord(
        file=GRAPH,
        tokenizer=TOKENIZER,
        max_length=export.max_length,
        exported_with=export.exported_with,
        probe_min_cosine=agreement,
    )
    return record, {GRAPH: export.graph, TOKENIZER: export.tokenizer}, None


def _reuse(
    previous: Generation | None, model: str
) -> tuple[QueryEncoderRecord, dict[str, Path], None] | None:
    if previous is None or previous.manifest.model != model:
        return None
    record = previous.manifest.query_encoder
    if record is None:
        return None
    files = {GRAPH: previous.path / record.file, TOKENIZER: previous.path / record.tokenizer}
    for name, path in files.items():
        if not path.is_file() or sha256_file(path) != previous.manifest.files.get(name):
            return None  # damaged: export afresh
    return record, files, None


def _min_cosine(reference: Embedder, candidate: Embedder) -> float:
    expected = reference.encode_passages(PROBES)
    actual = candidate.encode_passages(PROBES)
    single = candidate.encode_query(PROBES[0])
    cosines = np.concatenate([(expected * actual).sum(axis=1), [float(single @ expected[0])]])
    return float(cosines.min())


def query_embedder(generation: Generation, settings: Settings) -> Embedder:
    """The encoder for queries against `generation`: its ONNX graph if it has a
    verified one that loads, else sentence-transformers (logged once per reason)."""
    manifest = generation.manifest
    record = manifest.query_encoder
    if record is not None:
        try:
            return load_onnx_embedder(
                generation.path / record.file,
                manifest.files.get(record.file, ""),
                generation.path / record.tokenizer,
                manifest.files.get(record.tokenizer, ""),
                name=manifest.model,
                dimension=manifest.dimension,
                max_length=record.max_length,
            )
        except IndexCorruptError as exc:
            _warn_once(f"{exc}; queries use sentence-transformers meanwhile")
    else:
        reason = manifest.query_encoder_refused or "no ONNX query encoder in this generation"
        _warn_once(f"{reason}; queries use sentence-transformers")
    return load_embedder(settings.model)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning("%s", message)
