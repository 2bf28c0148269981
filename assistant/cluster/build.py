"""`build_on_ray()`: the build with chunking and embedding fanned out over a Ray
cluster, as Ray Data `map_batches` over an actor pool.

The driver does what a local build does before and after (see
`assistant.indexing.build`): take the build lock, plan (hash and read the
sources against the previous generation), export and verify the query encoder,
then assemble, write and swap the pointer. Only the fresh documents travel:
each pool actor opens the verified ONNX graph once, then cuts and embeds one
document per task. An actor that dies is restarted by Ray and its task retried;
nothing is written before every document came back, so a build that fails
leaves the previous generation live and only a temp folder the next build removes.

Every node reads the encoder from the index folder, so the index folder must be
on storage every node reaches (on one machine, it is).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from .._errors import ClusterError
from .._settings import Settings
from .._types import BuildReport, Chunk, Document, QueryEncoderRecord, SkippedSource
from ..embedding.transformer import Embedder, load_embedder
from ..indexing.build import build_report, prepare_folder, resolve_settings, staged_generation
from ..indexing.build_chunk import FreshPassages
from ..indexing.build_embed import EmbeddedPassages, embed_passages, prepare
from ..indexing.build_plan import plan_build
from ..indexing.build_write import assemble, text_layer_files, write_new_generation
from ..indexing.generations import (
    build_lock,
    remove_stale,
)
from ..indexing.query_encoder import PreparedEncoder, open_encoder
from ..ingest.chunking import ChunkingTimeoutError, chunk_document
from ..ingest.sources import load_documents
from ..ingest.tokenizer import load_tokenizer
from .connect import connect

__all__ = ["WorkerSpec", "build_on_ray"]

Vectors = npt.NDArray[np.float32]


class WorkerSpec(BaseModel):
    """What every pool actor needs to cut and embed a document, sent once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    settings: Settings
    encoder_folder: str | None
    """Folder of the verified ONNX graph; None: embed with sentence-transformers."""
    encoder_files: dict[str, str]
    """Encoder file name → SHA-256, checked when the actor opens them."""
    encoder: QueryEncoderRecord | None
    model: str
    dimension: int


class _Worker:
    """One pool actor: the tokenizer and the embedder, loaded once, then one
    document per call (Ray Data batches of one row)."""

    def __init__(self, spec: str) -> None:
        self.spec = WorkerSpec.model_validate_json(spec)
        self.tokenizer = load_tokenizer(self.spec.settings.model)
        self.embedder = _open_embedder(self.spec)

    def __call__(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {k: [] for k in ("source", "chunks", "vectors", "sentences")}
        out["skipped"] = []
        settings = self.spec.settings
        limit = settings.ingest.max_seconds_per_file
        for raw in batch["document"]:
            document = Document.model_validate_json(str(raw))
            out["source"].append(document.source)
            try:
                chunks = chunk_document(
                    document, self.tokenizer, settings.chunking, deadline=time.monotonic() + limit
                )
            except ChunkingTimeoutError as exc:
                out["skipped"].append(f"{exc} after {limit:g} s (ASSISTANT_MAX_SECONDS_PER_FILE)")
                chunks = []
            else:
                out["skipped"].append("")
            embedded = embed_passages(
                self.embedder, chunks, [document], settings.chunking.context_prefix, False
            )
            out["chunks"].append("\n".join(c.model_dump_json() for c in chunks))
            out["vectors"].append(_npy(embedded.vectors))
            out["sentences"].append(_npy(embedded.sentence_vectors))
        return out


def _open_embedder(spec: WorkerSpec) -> Embedder:
    """The build's verified ONNX graph on this actor's one core, or the model."""
    if spec.encoder is None or spec.encoder_folder is None:
        return load_embedder(spec.model)
    return open_encoder(
        Path(spec.encoder_folder),
        spec.encoder_files,
        spec.encoder,
        threads=1,
        shared=False,
        name=spec.model,
        dimension=spec.dimension,
    )


def _npy(array: Vectors) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _from_npy(data: bytes, dimension: int) -> Vectors:
    array: Vectors = np.load(io.BytesIO(data), allow_pickle=False)
    if array.dtype != np.float32 or array.ndim != 2 or array.shape[1] != dimension:
        raise ClusterError(f"a worker returned vectors of shape {array.shape}: build again")
    return array


def _spec(settings: Settings, query: PreparedEncoder, dimension: int) -> WorkerSpec:
    record = query.record
    folder = str(query.files[record.file][0].parent) if record is not None else None
    return WorkerSpec(
        settings=settings,
        encoder_folder=folder,
        encoder_files={name: sha for name, (_, sha) in query.files.items()},
        encoder=record,
        model=settings.model,
        dimension=dimension,
    )


def build_on_ray(
    address: str,
    sources_dir: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = False,
    embedder: Embedder | None = None,
    settings: Settings | None = None,
) -> BuildReport:
    """Bring the index up to date, cutting and embedding on the Ray cluster.

    Same result as `build_index` on the same sources (same passages and
    citations; vectors at cosine ≥ 0.9999, from the same verified graph).

    Args:
        address: The cluster (`auto`, or the head's `HOST:PORT`).
        sources_dir: Documents folder (default `./sources` or `ASSISTANT_SOURCES`).
        index_dir: Index folder, on storage every node reaches.
        force: Re-embed every document.
        workers: Actors in the pool (default: one per CPU of the cluster).
        progress: Show Ray Data's progress bars.
        embedder: Only exports and checks the query encoder in the driver (tests
            pass one to skip tracing the model again); actors embed with the
            verified graph.
        settings: As for `build_index`.

    Returns:
        The report `build_index` returns.

    Raises:
        ClusterError: ray is missing or the cluster does not answer.
        SourcesError, BuildInProgressError, ModelError, IndexWriteError: As for
            `build_index`; the previous generation stays live.
    """
    started = time.perf_counter()
    settings = resolve_settings(settings, sources_dir, index_dir)
    if not settings.sources_dir.is_dir():
        load_documents(settings.sources_dir)  # raises the SourcesError that says what to do
    ray = connect(address)
    with build_lock(settings.index_dir):
        prepare_folder(settings.index_dir)
        plan = plan_build(settings, force=force)
        if plan.up_to_date:
            remove_stale(settings.index_dir)
            return build_report(settings, plan, None, chunks_embedded=0, started=started)
        with staged_generation(settings.index_dir) as (generation, staging):
            encoders = prepare(
                embedder, lambda: load_embedder(settings.model), staging, plan.previous, 0
            )
            dimension = encoders.passages.dimension
            spec = _spec(settings, encoders.query, dimension)
            passages, embedded = _fan_out(ray, plan.changes.fresh, spec, workers, progress)
            if passages.too_slow:
                plan = plan.without(passages.too_slow, settings.sources_dir)
            if plan.up_to_date:
                remove_stale(settings.index_dir)
                return build_report(settings, plan, None, chunks_embedded=0, started=started)
            content = assemble(plan.documents, passages.by_source, embedded, plan.previous)
            layers = text_layer_files(plan.documents, staging, plan.layers)
            manifest = write_new_generation(
                settings, generation, content, dimension, encoders.query, layers
            )
        remove_stale(settings.index_dir)
        embedded_count = len(passages.all)
        return build_report(
            settings, plan, manifest, chunks_embedded=embedded_count, started=started
        )


def _fan_out(
    ray: Any,
    documents: list[Document],
    spec: WorkerSpec,
    workers: int | None,
    progress: bool,
) -> tuple[FreshPassages, EmbeddedPassages]:
    """Cut and embed `documents` on the pool; the results in `documents`' order."""
    empty = np.zeros((0, spec.dimension), np.float32)
    if not documents:
        return (
            FreshPassages(by_source={}, too_slow=[]),
            EmbeddedPassages(vectors=empty, sentence_vectors=empty),
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = min(size, len(documents))
    rows = [{"document": d.model_dump_json()} for d in documents]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        _Worker,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=1,
        fn_constructor_kwargs={"spec": spec.model_dump_json()},
    )
    try:
        results = {str(row["source"]): row for row in dataset.take_all()}
    except ray.exceptions.RayError as exc:
        raise ClusterError(
            f"the cluster build failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "the previous index keeps serving: build again"
        ) from None
    by_source: dict[str, list[Chunk]] = {}
    too_slow: list[SkippedSource] = []
    vectors: list[Vectors] = [empty]
    sentences: list[Vectors] = [empty]
    for document in documents:
        row = results.get(document.source)
        if row is None:
            raise ClusterError(f"the cluster returned nothing for {document.source}: build again")
        if row["skipped"]:
            too_slow.append(SkippedSource(source=document.source, reason=str(row["skipped"])))
            continue
        text = str(row["chunks"])
        by_source[document.source] = [
            Chunk.model_validate_json(line) for line in text.split("\n") if line
        ]
        vectors.append(_from_npy(bytes(row["vectors"]), spec.dimension))
        sentences.append(_from_npy(bytes(row["sentences"]), spec.dimension))
    return (
        FreshPassages(by_source=by_source, too_slow=too_slow),
        EmbeddedPassages(
            vectors=np.concatenate(vectors), sentence_vectors=np.concatenate(sentences)
        ),
    )
