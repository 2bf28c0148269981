"""`build_on_ray()`: the build with extraction, chunking and embedding fanned out
over a Ray cluster.

The driver does what a local build does before and after (see
`assistant.indexing.build`): take the build lock, plan (list and hash the sources
against the previous generation), export and verify the query encoder, then
assemble, write and swap the pointer. Only the new and changed documents travel:

- each PDF, HTML page or .docx among them is read and extracted by a Ray task
  (`assistant.cluster.extract`) while the plan is made;
- then each pool actor of a Ray Data `map_batches` opens the verified ONNX graph
  once and cuts and embeds one document per task. It writes the document's
  passage and sentence vectors as the files of the document's vector part into
  the build's staging folder and cuts its passages' BM25 terms; only the
  passages, the terms and the files' names and SHA-256s go back through Ray.

The driver checks each file against its checksum (without reading the vectors
into memory) and links it into the new generation, whose manifest lists one part
per document (`assistant.cluster.parts`). More tasks build the vector index (one
per index shard above the exact limit) and the BM25 indexes from the parts
(`assistant.cluster.indexing_task`);
an unchanged document's part is linked from the previous generation, not written
again. An actor or task that dies is restarted by Ray and its work retried (part
files are written again, atomically); nothing goes live before every document
came back, so a build that fails leaves the previous generation live and only
temp folders the next build removes.

Every node reads the sources and the encoder from, and writes its parts into,
the same folders, so the sources and index folders must be on storage every node
reaches at the same path (on one machine, they are).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
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
from ..indexing.generations import build_lock, remove_stale
from ..indexing.lexical import content_terms
from ..indexing.query_encoder import PreparedEncoder, open_encoder
from ..ingest.chunking import ChunkingTimeoutError, chunk_document
from ..ingest.sources import load_documents
from ..ingest.tokenizer import load_tokenizer
from .connect import connect
from .extract import extract_on_cluster
from .indexing_task import FreshTerms, IndexJob, build_search_files, part_vector_files
from .parts import (
    CHECKED_FOLDER,
    StagedPart,
    check_shard,
    claim_shard,
    generation_parts,
    write_part,
)

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
    shard_folder: str
    """Where each document's vectors are written (the build's staging folder)."""


class _Worker:
    """One pool actor: the tokenizer and the embedder, loaded once, then one
    document per call (Ray Data batches of one row)."""

    def __init__(self, spec: str) -> None:
        self.spec = WorkerSpec.model_validate_json(spec)
        self.tokenizer = load_tokenizer(self.spec.settings.model)
        self.embedder = _open_embedder(self.spec)

    def __call__(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {key: [] for key in _Returned.model_fields}
        for raw in batch["document"]:
            returned = self._one(Document.model_validate_json(str(raw)))
            for key, value in returned.model_dump().items():
                out[key].append(value)
        return out

    def _one(self, document: Document) -> _Returned:
        """Cut and embed one document; its vectors go to shard files."""
        settings = self.spec.settings
        limit = settings.ingest.max_seconds_per_file
        skipped = ""
        try:
            chunks = chunk_document(
                document, self.tokenizer, settings.chunking, deadline=time.monotonic() + limit
            )
        except ChunkingTimeoutError as exc:
            skipped = f"{exc} after {limit:g} s (ASSISTANT_MAX_SECONDS_PER_FILE)"
            chunks = []
        embedded = embed_passages(
            self.embedder, chunks, [document], settings.chunking.context_prefix, False
        )
        folder = Path(self.spec.shard_folder)
        part = write_part(folder, document, embedded.vectors, embedded.sentence_vectors)
        return _Returned(
            source=document.source,
            skipped=skipped,
            chunks="\n".join(c.model_dump_json() for c in chunks),
            terms=json.dumps([content_terms(c.text) for c in chunks]),
            **part.model_dump(),
        )


class _Returned(StagedPart):
    """What a pool actor sends back for one document: its part's file names and
    checksums (the vectors stay in the files), its passages and their terms."""

    source: str
    skipped: str
    """Why the document was skipped (chunking too slow), or empty."""
    chunks: str
    """Its passages, one JSON line each."""
    terms: str
    """JSON: each passage's BM25 terms alone (`content_terms`)."""

    def part(self) -> StagedPart:
        """The part's files, as the driver links them."""
        return StagedPart.model_validate(self.model_dump(include=set(StagedPart.model_fields)))


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


def _spec(
    settings: Settings, query: PreparedEncoder, dimension: int, shard_folder: Path
) -> WorkerSpec:
    record = query.record
    folder = str(query.files[record.file][0].parent) if record is not None else None
    return WorkerSpec(
        settings=settings,
        encoder_folder=folder,
        encoder_files={name: sha for name, (_, sha) in query.files.items()},
        encoder=record,
        model=settings.model,
        dimension=dimension,
        shard_folder=str(shard_folder),
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
        extract_many = extract_on_cluster(ray, settings.sources_dir, settings.ingest)
        plan = plan_build(settings, force=force, extract_many=extract_many)
        if plan.up_to_date:
            remove_stale(settings.index_dir)
            return build_report(settings, plan, None, chunks_embedded=0, started=started)
        with staged_generation(settings.index_dir) as (generation, staging):
            encoders = prepare(
                embedder, lambda: load_embedder(settings.model), staging, plan.previous, 0
            )
            dimension = encoders.passages.dimension
            shards = staging / "shards"
            (shards / CHECKED_FOLDER).mkdir(parents=True)
            spec = _spec(settings, encoders.query, dimension, shards.resolve())
            fresh = _fan_out(ray, plan.changes.fresh, spec, workers, progress)
            passages = fresh.passages
            if passages.too_slow:
                plan = plan.without(passages.too_slow, settings.sources_dir)
            if plan.up_to_date:
                remove_stale(settings.index_dir)
                return build_report(settings, plan, None, chunks_embedded=0, started=started)
            content = assemble(
                plan.documents,
                passages.by_source,
                fresh.embedded,
                plan.previous,
                sentences=False,
                vectors=False,
            )
            parts, part_files = generation_parts(
                plan.documents, content, fresh.parts, shards / CHECKED_FOLDER, plan.previous
            )
            job = IndexJob(
                shard_folder=str(shards.resolve()),
                dimension=dimension,
                vectors=part_vector_files(parts, part_files),
                chunks=content.chunks,
                records=content.records,
                fresh_terms=fresh.terms,
                exact_limit=settings.exact_limit,
                shards=settings.ray_shards,
            )
            search, search_files = build_search_files(ray, shards, job)
            layers = text_layer_files(plan.documents, staging, plan.layers)
            manifest = write_new_generation(
                settings,
                generation,
                content,
                dimension,
                encoders.query,
                {**layers, **part_files, **search_files},
                parts=parts,
                search=search,
            )
        remove_stale(settings.index_dir)
        embedded_count = len(passages.all)
        return build_report(
            settings, plan, manifest, chunks_embedded=embedded_count, started=started
        )


@dataclass(frozen=True)
class _Fresh:
    """What the pool made of the fresh documents, checked by the driver."""

    passages: FreshPassages
    embedded: EmbeddedPassages
    """Empty: their vectors stay in their checked part files."""
    terms: FreshTerms
    parts: dict[str, StagedPart]
    """Each document's part files in the shard folder, by source."""


def _fan_out(
    ray: Any,
    documents: list[Document],
    spec: WorkerSpec,
    workers: int | None,
    progress: bool,
) -> _Fresh:
    """Cut and embed `documents` on the pool."""
    if not documents:
        empty = np.zeros((0, spec.dimension), np.float32)
        return _Fresh(
            FreshPassages(by_source={}, too_slow=[]),
            EmbeddedPassages(vectors=empty, sentence_vectors=empty),
            {},
            {},
        )
    returned = _run_pool(ray, documents, spec, workers, progress)
    return _collect(documents, returned, spec)


def _run_pool(
    ray: Any, documents: list[Document], spec: WorkerSpec, workers: int | None, progress: bool
) -> dict[str, _Returned]:
    """One Ray Data task per document over an actor pool; what came back, by source."""
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
        found = [_Returned.model_validate({k: str(v) for k, v in row.items()})
                 for row in dataset.take_all()]  # fmt: skip
    except ray.exceptions.RayError as exc:
        raise ClusterError(
            f"the cluster build failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "the previous index keeps serving: build again"
        ) from None
    return {r.source: r for r in found}


def _collect(documents: list[Document], returned: dict[str, _Returned], spec: WorkerSpec) -> _Fresh:
    """The passages, their part files checked (not read), the terms."""
    folder = Path(spec.shard_folder) / CHECKED_FOLDER
    empty = np.zeros((0, spec.dimension), np.float32)
    by_source: dict[str, list[Chunk]] = {}
    too_slow: list[SkippedSource] = []
    terms: FreshTerms = {}
    parts: dict[str, StagedPart] = {}
    for document in documents:
        row = returned.get(document.source)
        if row is None:
            raise ClusterError(f"the cluster returned nothing for {document.source}: build again")
        if row.skipped:
            too_slow.append(SkippedSource(source=document.source, reason=row.skipped))
            continue
        chunks = [Chunk.model_validate_json(line) for line in row.chunks.split("\n") if line]
        by_source[document.source] = chunks
        terms[document.source] = json.loads(row.terms)
        if len(terms[document.source]) != len(chunks):
            raise ClusterError(
                f"the cluster returned {len(chunks)} passages but "
                f"{len(terms[document.source])} term lists for {document.source}: build again"
            )
        count = sum(len(c.sentences) for c in chunks)
        for name in (row.vectors, row.sentences):
            claim_shard(folder.parent, name)
        shape = (len(chunks), spec.dimension)
        check_shard(folder, row.vectors, row.vectors_sha256, shape, np.float32)
        shape = (count, spec.dimension)
        check_shard(folder, row.sentences, row.sentences_sha256, shape, np.float16)
        parts[document.source] = row.part()
    return _Fresh(
        FreshPassages(by_source=by_source, too_slow=too_slow),
        # The vectors stay in their checked part files: the new generation links
        # them, the indexing task reads them, and the driver never holds them.
        EmbeddedPassages(vectors=empty, sentence_vectors=empty),
        terms,
        parts,
    )
