"""`build_index()`: hash sources, re-embed only what changed, write a new generation."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ._chunking import chunk_document
from ._embedding import Embedder, load_embedder
from ._errors import IndexMissingError, SourcesError, UnusableIndexError
from ._models import load_tokenizer
from ._query_encoder import prepare_query_encoder
from ._settings import Settings
from ._sources import load_documents
from ._storage import (
    GENERATIONS,
    Generation,
    build_lock,
    new_generation_id,
    read_generation,
    remove_stale,
    write_generation,
)
from ._store import VectorIndex, choose_index_type
from ._types import FORMAT_VERSION, BuildReport, Chunk, Document, DocumentRecord, Manifest

__all__ = ["build_index"]

logger = logging.getLogger("assistant")


def _reusable(
    index_dir: Path, settings: Settings, force: bool
) -> tuple[Generation | None, str | None]:
    """The previous generation if its chunks and vectors can be reused, else why not."""
    if force:
        return None, "--force"
    try:
        previous = read_generation(index_dir, with_vectors=True)
    except IndexMissingError:
        return None, None
    except UnusableIndexError as exc:
        return None, f"previous index unusable ({exc})"
    if previous.manifest.model != settings.model:
        return None, f"model changed from {previous.manifest.model} to {settings.model}"
    if previous.manifest.chunking != settings.chunking:
        return None, "chunking settings changed"
    return previous, None


def build_index(
    sources_dir: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> BuildReport:
    """Bring the index up to date with the sources folder.

    Only new or changed documents (by SHA-256) are chunked and embedded; removed
    ones drop out; unchanged ones keep their passages and vectors. Nothing is
    written when nothing changed.

    Args:
        sources_dir: Documents folder (default `./sources` or `ASSISTANT_SOURCES`).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        force: Re-embed every document.
        progress: Show a progress bar while embedding.
        embedder: Use this embedder instead of loading the configured model.

    Returns:
        What was added, changed, removed, kept and skipped, and the timing.

    Raises:
        SourcesError: The folder is missing, empty or has no readable document.
        BuildInProgressError: Another build is running on the same index.
        ModelError: The embedding model cannot be loaded.
    """
    started = time.perf_counter()
    settings = Settings.from_env(sources_dir, index_dir)
    documents, skipped = load_documents(settings.sources_dir)
    for item in skipped:
        logger.warning("skipped %s: %s", item.source, item.reason)
    if not documents:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped)
        raise SourcesError(f"no readable document in {settings.sources_dir} ({reasons})")

    with build_lock(settings.index_dir):
        previous, reason = _reusable(settings.index_dir, settings, force)
        old = previous.manifest.documents if previous else {}
        report = BuildReport(
            index_dir=str(settings.index_dir),
            generation=previous.manifest.generation if previous else "",
            up_to_date=False,
            full_rebuild_reason=reason,
            skipped=skipped,
        )
        fresh: list[Document] = []
        for document in documents:
            record = old.get(document.source)
            if record is None:
                report.added.append(document.source)
                fresh.append(document)
            elif record.sha256 != document.sha256:
                report.changed.append(document.source)
                fresh.append(document)
            else:
                report.unchanged.append(document.source)
        current = {d.source for d in documents}
        report.removed = sorted(source for source in old if source not in current)

        if previous is not None and not fresh and not report.removed:
            remove_stale(settings.index_dir)
            report.up_to_date = True
            report.chunks_total = previous.manifest.chunk_count
            report.seconds = time.perf_counter() - started
            return report

        tokenizer = load_tokenizer(settings.model)
        new_chunks = {d.source: chunk_document(d, tokenizer, settings.chunking) for d in fresh}
        texts = [chunk.text for chunks in new_chunks.values() for chunk in chunks]
        if texts or previous is None:
            embedder = embedder or load_embedder(settings.model)
            new_vectors = embedder.encode_passages(texts, progress=progress)
            dimension = embedder.dimension
        else:
            new_vectors = np.zeros((0, previous.manifest.dimension), dtype=np.float32)
            dimension = previous.manifest.dimension
        report.chunks_embedded = len(texts)

        # Assemble in source order; ids are rows of the new vector matrix.
        chunks: list[Chunk] = []
        rows: list[np.ndarray] = []
        records: dict[str, DocumentRecord] = {}
        new_row = 0
        by_source: dict[str, list[Chunk]] = {}
        if previous is not None:
            for chunk in previous.chunks:
                by_source.setdefault(chunk.source, []).append(chunk)
        for document in documents:
            if document.source in new_chunks:
                own = new_chunks[document.source]
                rows.append(new_vectors[new_row : new_row + len(own)])
                new_row += len(own)
            else:
                assert previous is not None
                assert previous.vectors is not None
                own = by_source.get(document.source, [])
                rows.append(previous.vectors[[c.id for c in own]])
            first_id = len(chunks)
            chunks.extend(c.model_copy(update={"id": first_id + i}) for i, c in enumerate(own))
            records[document.source] = DocumentRecord(
                sha256=document.sha256,
                title=document.title,
                date=document.date,
                series=document.series,
                chunks=len(own),
            )
        vectors = (
            np.concatenate(rows).astype(np.float32, copy=False)
            if rows
            else np.zeros((0, dimension), dtype=np.float32)
        )
        index_type = choose_index_type(len(chunks))
        index = VectorIndex.build(vectors.reshape(len(chunks), dimension), index_type)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            generation=new_generation_id(),
            built_at=dt.datetime.now(dt.UTC),
            model=settings.model,
            dimension=dimension,
            index_type=index_type,
            chunking=settings.chunking,
            chunk_count=len(chunks),
            documents=records,
            files={},
            index_parameters=index.parameters,
        )
        staging = settings.index_dir / GENERATIONS / f".tmp-{manifest.generation}-export"
        staging.mkdir(parents=True)
        try:
            encoder, encoder_files, refused = prepare_query_encoder(
                embedder or load_embedder(settings.model), staging, previous
            )
            manifest = manifest.model_copy(
                update={"query_encoder": encoder, "query_encoder_refused": refused}
            )
            write_generation(settings.index_dir, manifest, chunks, vectors, index, encoder_files)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        remove_stale(settings.index_dir)
        report.generation = manifest.generation
        report.vector_index = index.parameters
        report.query_encoder = "onnx" if encoder is not None else f"torch ({refused})"
        report.chunks_total = len(chunks)
        report.seconds = time.perf_counter() - started
        return report
