"""Which encoder answers queries: the generation's verified ONNX graph when there
is one (no torch import), else sentence-transformers. (Which one embeds a build's
passages is `passage_encoder`'s choice.)

At build time the model is exported into the generation and checked: its vectors
for a fixed probe set must match the build model's to cosine ≥ 0.9999, or the
export is refused (recorded in the manifest) and queries use sentence-transformers.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._errors import AssistantError, IndexCorruptError
from .._files import sha256_file
from .._settings import Settings
from .._types import QueryEncoderRecord
from ..embedding.onnx_export import GRAPH, TOKENIZER, WEIGHTS, OnnxExport
from ..embedding.onnx_runtime import OnnxEmbedder, load_onnx_embedder, verify_files
from ..embedding.transformer import Embedder, load_embedder
from .generations import Generation

__all__ = [
    "MIN_COSINE",
    "PROBES",
    "PreparedEncoder",
    "encoder_damage",
    "open_encoder",
    "prepare_query_encoder",
    "query_embedder",
]

logger = logging.getLogger("assistant")

MIN_COSINE = 0.9999
# Short and long (past the 256-token limit), questions and passages, digits,
# punctuation and non-ASCII: where an export would drift, it drifts here.
PROBES = [
    "Which ministry in Tokyo runs the Self-Defense Forces?",
    "x",
    "Where were the alliance ministers meeting in late July?",
    "U.S. Forces Japan will be reconstituted as a Joint Force Headquarters (JFHQ).",
    "Advanced Medium-Range Air-to-Air Missiles (AMRAAM) and Patriot PAC-3 MSE interceptors.",
    "In 2022, five Chinese ballistic missiles landed in Japan’s exclusive economic zone.",
    "尖閣諸島 Senkaku/Diaoyu — «territorial incursions» near the islands, 70 miles from Taiwan.",
    "alliance " * 400,
    " ".join(f"passage{i} with several tokens" for i in range(120)),
    "How many American troops are stationed in Okinawa? Roughly 30,000.",
]


class Exporter(Protocol):
    """An embedder that can write itself as an ONNX graph (sentence-transformers)."""

    def export_onnx(self, folder: Path) -> OnnxExport: ...


class PreparedEncoder(BaseModel):
    """The outcome of `prepare_query_encoder`."""

    # OnnxEmbedder is a live session, not data: checked by type only.
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    record: QueryEncoderRecord | None
    """For the manifest; None when queries must use sentence-transformers."""
    files: dict[str, tuple[Path, str]] = Field(default_factory=dict)
    """Name in the generation → (the file to place there, its SHA-256)."""
    refused: str | None = None
    """Why there is no encoder (None when there is one)."""
    exported: OnnxEmbedder | None = None
    """The freshly exported and verified graph, open on every core."""
    model: str = ""
    dimension: int = 0


def prepare_query_encoder(
    reference: Callable[[], Embedder],
    staging: Path,
    previous: Generation | None,
) -> PreparedEncoder:
    """Export and verify the query encoder, or reuse the previous generation's.

    Args:
        reference: Loads the build model (sentence-transformers), the reference
            an export must match; not called when the previous encoder is reused,
            so an incremental build never imports torch.
        staging: An empty scratch folder for the export.
        previous: The generation being updated, whose verified encoder is reused
            when it was made from the same model by the installed libraries and
            its files still check out.
    """
    reused = _reuse(previous)
    if reused is not None:
        return reused
    embedder = reference()
    if not hasattr(embedder, "export_onnx"):
        return PreparedEncoder(record=None, refused=f"embedder {embedder.name} cannot export ONNX")
    exporter: Exporter = embedder  # type: ignore[assignment]
    try:
        export = exporter.export_onnx(staging)
        paths = {GRAPH: export.graph, WEIGHTS: export.weights, TOKENIZER: export.tokenizer}
        files = {name: (path, sha256_file(path)) for name, path in paths.items()}
        record = QueryEncoderRecord(
            file=GRAPH,
            weights=WEIGHTS,
            tokenizer=TOKENIZER,
            max_length=export.max_length,
            exported_with=export.exported_with,
            probe_min_cosine=0.0,
        )
        candidate = open_encoder(
            staging, {name: sha for name, (_, sha) in files.items()}, record,
            threads=os.cpu_count() or 1, shared=False, name=embedder.name,
            dimension=embedder.dimension,
        )  # fmt: skip
        agreement = _min_cosine(embedder, candidate)
    except (AssistantError, OSError, RuntimeError, ValueError) as exc:
        return _refuse(f"ONNX export failed ({exc})")
    if agreement < MIN_COSINE:
        return _refuse(f"ONNX export refused: probe cosine {agreement:.6f} < {MIN_COSINE}")
    record = record.model_copy(update={"probe_min_cosine": agreement})
    return PreparedEncoder(
        record=record,
        files=files,
        exported=candidate,
        model=embedder.name,
        dimension=embedder.dimension,
    )


def _refuse(reason: str) -> PreparedEncoder:
    logger.warning("%s; queries will use sentence-transformers", reason)
    return PreparedEncoder(record=None, refused=reason)


def open_encoder(
    folder: Path,
    files: dict[str, str],
    record: QueryEncoderRecord,
    *,
    threads: int,
    shared: bool,
    name: str,
    dimension: int,
) -> OnnxEmbedder:
    """The encoder `record` describes, its files in `folder` checked against
    `files` (name → SHA-256); see `load_onnx_embedder` for the other arguments.

    Raises:
        IndexCorruptError: A file is missing or does not match its checksum.
    """
    return load_onnx_embedder(
        folder,
        files,
        graph=record.file,
        tokenizer=record.tokenizer,
        name=name,
        dimension=dimension,
        max_length=record.max_length,
        threads=threads,
        shared=shared,
    )


def _installed(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _reuse(previous: Generation | None) -> PreparedEncoder | None:
    """The previous generation's encoder when it still stands for the build model."""
    if previous is None:
        return None
    record = previous.manifest.query_encoder
    if record is None:
        return None
    # A library upgrade may change what the model computes: export afresh.
    versions = {package: _installed(package) for package in record.exported_with}
    if versions != record.exported_with:
        return None
    shas = _recorded_shas(previous, record)
    try:
        verify_files(previous.path, shas)
    except IndexCorruptError:
        return None  # damaged: export afresh
    files = {name: (previous.path / name, sha) for name, sha in shas.items()}
    manifest = previous.manifest
    return PreparedEncoder(
        record=record, files=files, model=manifest.model, dimension=manifest.dimension
    )


def encoder_damage(generation: Generation) -> str | None:
    """Why the generation's ONNX encoder cannot be used (a file missing, truncated
    or altered), or None when it checks out or there is none. The builder then
    re-exports into fresh files: generations hard-link the encoder, so repairing
    it in place would change every generation that links it."""
    record = generation.manifest.query_encoder
    if record is None:
        return None
    try:
        verify_files(generation.path, _recorded_shas(generation, record))
    except IndexCorruptError as exc:
        return f"query encoder damaged ({exc}); exported afresh"
    return None


def _recorded_shas(generation: Generation, record: QueryEncoderRecord) -> dict[str, str]:
    """The manifest's SHA-256 of each encoder file (empty, so never matching, if absent)."""
    names = (record.file, record.weights, record.tokenizer)
    return {name: generation.manifest.files.get(name, "") for name in names}


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
            return open_encoder(
                generation.path, _recorded_shas(generation, record), record,
                threads=1, shared=True, name=manifest.model, dimension=manifest.dimension,
            )  # fmt: skip
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
