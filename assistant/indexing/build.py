"""`build_index()`: hash sources, re-embed only what changed, write a new generation."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from .._errors import IndexMissingError, SourcesError, UnusableIndexError
from .._settings import Settings
from .._types import (
    FORMAT_VERSION,
    BuildReport,
    Chunk,
    Document,
    DocumentRecord,
    Manifest,
    SkippedSource,
)
from ..embedding.encoders import encoder_damage, prepare_query_encoder
from ..embedding.pooling import encode_with_spans
from ..embedding.transformer import Embedder, load_embedder
from ..ingest.chunking import ChunkingTimeoutError, chunk_document
from ..ingest.sources import load_documents
from ..ingest.tokenizer import load_tokenizer
from .generations import (
    GENERATIONS,
    TEMP_PREFIX,
    Generation,
    build_lock,
    new_generation_id,
    read_generation,
    remove_stale,
    repair_layout,
    write_error,
    write_generation,
)
from .text_layers import PreviousLayers, StagedFiles, stage_layer
from .vectors import VectorIndex, choose_index_type

__all__ = ["build_index"]

logger = logging.getLogger("assistant")
Vectors = npt.NDArray[np.float32]


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
    settings: Settings | None = None,
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
        settings: Use these settings instead of `Settings.from_env()`; folders given
            as arguments still win over `settings.sources_dir` / `settings.index_dir`.

    Returns:
        What was added, changed, removed, kept and skipped, and the timing.

    Raises:
        SourcesError: The folder is missing, empty or has no readable document.
        BuildInProgressError: Another build is running on the same index.
        ModelError: The embedding model cannot be loaded.
    """
    started = time.perf_counter()
    settings = _resolve(settings, sources_dir, index_dir)
    if not settings.sources_dir.is_dir():
        load_documents(settings.sources_dir)  # raises the SourcesError that says what to do

    with build_lock(settings.index_dir):
        _prepare_folder(settings.index_dir)
        previous, reason = _reusable(settings.index_dir, settings, force)
        old = previous.manifest.documents if previous else {}
        layers = PreviousLayers(previous)
        documents, skipped = load_documents(
            settings.sources_dir, old, limits=settings.ingest, stored_text=layers.text
        )
        for item in skipped:
            logger.warning("skipped %s: %s", item.source, item.reason)
        if not documents:
            reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped)
            raise SourcesError(f"no readable document in {settings.sources_dir} ({reasons})")
        report = BuildReport(
            index_dir=str(settings.index_dir),
            generation=previous.manifest.generation if previous else "",
            up_to_date=False,
            full_rebuild_reason=reason,
            skipped=skipped,
        )
        new_chunks, too_slow = _chunk_all(
            [d for d in documents if _is_fresh(d, old.get(d.source))], settings, progress
        )
        if too_slow:
            report.skipped = sorted(report.skipped + too_slow, key=lambda s: s.source)
            slow = {item.source for item in too_slow}
            documents = [d for d in documents if d.source not in slow]
            if not documents:
                raise SourcesError(
                    f"no document of {settings.sources_dir} could be chunked in time"
                )
        fresh = _classify(documents, old, report)
        damage = encoder_damage(previous) if previous is not None else None
        if damage is not None:
            report.full_rebuild_reason = damage
        if previous is not None and not fresh and not report.removed and damage is None:
            remove_stale(settings.index_dir)
            report.up_to_date = True
            report.chunks_total = previous.manifest.chunk_count
            report.seconds = time.perf_counter() - started
            return report

        generation = new_generation_id()
        staging = settings.index_dir / GENERATIONS / f"{TEMP_PREFIX}{generation}-export"
        try:
            staging.mkdir(parents=True)
            encoder = prepare_query_encoder(
                lambda: embedder or load_embedder(settings.model), staging, previous
            )
            # The verified graph embeds passages too: same vectors (cosine ≥ 0.9999
            # on the probes), faster than torch on this CPU, and an incremental
            # build with a reused encoder never imports torch.
            embedded = [c for chunks in new_chunks.values() for c in chunks]
            passage_encoder = (
                embedder or encoder.passage_embedder(len(embedded)) or load_embedder(settings.model)
            )
            new_vectors, new_sentences = _embed(
                passage_encoder, embedded, fresh, settings.chunking.context_prefix, progress
            )
            report.chunks_embedded = len(embedded)
            chunks, vectors, sentence_vectors, records = _assemble(
                documents, new_chunks, new_vectors, new_sentences, previous
            )
            dimension = passage_encoder.dimension
            index_type = choose_index_type(len(chunks))
            index = VectorIndex.build(vectors.reshape(len(chunks), dimension), index_type)
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                generation=generation,
                built_at=dt.datetime.now(dt.UTC),
                model=settings.model,
                dimension=dimension,
                index_type=index_type,
                chunking=settings.chunking,
                chunk_count=len(chunks),
                documents=records,
                files={},
                index_parameters=index.parameters,
                query_encoder=encoder.record,
                query_encoder_refused=encoder.refused,
            )
            write_generation(
                settings.index_dir,
                manifest,
                chunks,
                vectors.reshape(len(chunks), dimension),
                sentence_vectors.reshape(-1, dimension),
                index,
                {**encoder.files, **_text_layer_files(documents, staging, layers)},
            )
        except OSError as exc:  # disk full while exporting or embedding: nothing went live
            raise write_error(exc, generation) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        remove_stale(settings.index_dir)
        report.generation = manifest.generation
        report.vector_index = index.parameters
        report.query_encoder = (
            "onnx" if encoder.record is not None else f"torch ({encoder.refused})"
        )
        report.chunks_total = len(chunks)
        report.seconds = time.perf_counter() - started
        return report


def _resolve(
    settings: Settings | None,
    sources_dir: str | os.PathLike[str] | None,
    index_dir: str | os.PathLike[str] | None,
) -> Settings:
    if settings is None:
        return Settings.from_env(sources_dir, index_dir)
    folders = {"sources_dir": sources_dir, "index_dir": index_dir}
    return settings.model_copy(
        update={name: Path(value) for name, value in folders.items() if value is not None}
    )


def _prepare_folder(index_dir: Path) -> None:
    """Repair the folder layout and remove what failed builds left, before writing
    (a build killed by a full disk must not make every later build fail too)."""
    try:
        repair_layout(index_dir)
        remove_stale(index_dir)
    except OSError as exc:
        raise write_error(exc, "(not started)") from None


def _embed(
    encoder: Embedder,
    chunks: list[Chunk],
    documents: list[Document],
    with_context: bool,
    progress: bool,
) -> tuple[Vectors, Vectors]:
    """Passage and sentence vectors; with `with_context`, each passage is embedded
    after its document's title and date, so a passage that never names its event
    still carries it (sentence spans shift by the prefix, offsets do not change)."""
    prefixes = {
        d.source: context_prefix(d.title, d.date) if with_context else "" for d in documents
    }
    texts, spans = [], []
    for chunk in chunks:
        shift = len(prefixes[chunk.source]) - chunk.start
        texts.append(prefixes[chunk.source] + chunk.text)
        spans.append([(s.start + shift, s.end + shift) for s in chunk.sentences])
    return encode_with_spans(encoder, texts, spans, progress=progress)


def context_prefix(title: str, date: dt.date | None) -> str:
    """ "Title (May 25, 2024)\n": how a passage is introduced to the embedding model."""
    when = f" ({date:%B} {date.day}, {date.year})" if date else ""
    return f"{title}{when}\n"


def _is_fresh(document: Document, record: DocumentRecord | None) -> bool:
    """Whether `document` must be chunked and embedded: new, changed by content hash,
    or extracted again because the previous generation's text layer was missing or
    damaged (its old passages might not index the new extraction)."""
    return (
        record is None
        or record.sha256 != document.sha256
        or (document.kind != "text" and not document.stored_layer)
    )


def _text_layer_files(
    documents: list[Document], staging: Path, layers: PreviousLayers
) -> StagedFiles:
    """The text layers of the new generation: an unchanged document's linked from
    the previous one, a just-extracted document's written to `staging` first."""
    files: StagedFiles = {}
    for document in documents:
        if document.kind == "text":
            continue
        if document.stored_layer:
            files.update(layers.files(document.sha256))
        else:
            files.update(stage_layer(document, staging))
    return files


def _classify(
    documents: list[Document], old: dict[str, DocumentRecord], report: BuildReport
) -> list[Document]:
    """Fill the report's added / changed / unchanged / removed; return the documents
    to embed (see `_is_fresh`)."""
    fresh: list[Document] = []
    for document in documents:
        record = old.get(document.source)
        if record is None:
            report.added.append(document.source)
            fresh.append(document)
        elif _is_fresh(document, record):
            if record.sha256 == document.sha256:
                logger.warning(
                    "the stored text layer of %s was missing or damaged: extracted again",
                    document.source,
                )
            report.changed.append(document.source)
            fresh.append(document)
        else:
            report.unchanged.append(document.source)
    current = {d.source for d in documents}
    report.removed = sorted(source for source in old if source not in current)
    return fresh


def _chunk_all(
    documents: list[Document], settings: Settings, progress: bool
) -> tuple[dict[str, list[Chunk]], list[SkippedSource]]:
    """Passages of every document, with a progress bar over their characters; a
    document that takes longer than the per-file limit is skipped with the reason."""
    chunks: dict[str, list[Chunk]] = {}
    skipped: list[SkippedSource] = []
    if not documents:
        return chunks, skipped
    tokenizer = load_tokenizer(settings.model)
    limit = settings.ingest.max_seconds_per_file
    total = sum(len(d.text) for d in documents)
    with tqdm(
        total=total, desc="chunking", unit="char", unit_scale=True, disable=not progress
    ) as bar:
        for document in documents:
            try:
                chunks[document.source] = chunk_document(
                    document, tokenizer, settings.chunking, deadline=time.monotonic() + limit
                )
            except ChunkingTimeoutError as exc:
                reason = f"{exc} after {limit:g} s (ASSISTANT_MAX_SECONDS_PER_FILE)"
                skipped.append(SkippedSource(source=document.source, reason=reason))
                logger.warning("skipped %s: %s", document.source, reason)
            bar.update(len(document.text))
    return chunks, skipped


def _assemble(
    documents: list[Document],
    new_chunks: dict[str, list[Chunk]],
    new_vectors: Vectors,
    new_sentences: Vectors,
    previous: Generation | None,
) -> tuple[list[Chunk], Vectors, Vectors, dict[str, DocumentRecord]]:
    """Passages, passage vectors, sentence vectors and records in source order:
    fresh ones from this build, the rest reused from `previous` bit for bit.
    Chunk ids are rows of the new vector matrix."""
    chunks: list[Chunk] = []
    rows: list[Vectors] = []
    sentence_rows: list[Vectors] = []
    records: dict[str, DocumentRecord] = {}
    next_row = next_sentence = 0
    by_source: dict[str, list[Chunk]] = {}
    if previous is not None:
        for chunk in previous.chunks:
            by_source.setdefault(chunk.source, []).append(chunk)
    for document in documents:
        if document.source in new_chunks:
            own = new_chunks[document.source]
            sentences = sum(len(c.sentences) for c in own)
            rows.append(new_vectors[next_row : next_row + len(own)])
            sentence_rows.append(new_sentences[next_sentence : next_sentence + sentences])
            next_row += len(own)
            next_sentence += sentences
            records[document.source] = DocumentRecord(
                sha256=document.sha256,
                title=document.title,
                date=document.date,
                series=document.series,
                chunks=len(own),
                kind=document.kind,
                author=document.author,
                pages=document.pages,
                sections=document.sections,
            )
        else:
            assert previous is not None
            assert previous.vectors is not None
            own = by_source.get(document.source, [])
            if own:
                # A document's passages, and so their sentences, are contiguous rows.
                first, last = own[0].id, own[-1].id
                rows.append(previous.vectors[first : last + 1])
                start = previous.sentence_rows[first]
                end = previous.sentence_rows[last] + len(own[-1].sentences)
                sentence_rows.append(previous.sentence_vectors[start:end].astype(np.float32))
            records[document.source] = previous.manifest.documents[document.source]
        first_id = len(chunks)
        chunks.extend(
            c if c.id == first_id + i else c.model_copy(update={"id": first_id + i})
            for i, c in enumerate(own)
        )
    dimension = new_vectors.shape[1]
    vectors = np.concatenate(rows) if rows else np.zeros((0, dimension), np.float32)
    sentence_vectors = (
        np.concatenate(sentence_rows) if sentence_rows else np.zeros((0, dimension), np.float32)
    )
    return chunks, vectors.astype(np.float32, copy=False), sentence_vectors, records
