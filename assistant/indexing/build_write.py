"""Build step 4, write: assemble the new generation from fresh and reused passages,
build its vector index and manifest, and write it live."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from .._arrays import Vectors
from .._settings import Settings
from .._types import (
    FORMAT_VERSION,
    PARTED_FORMAT_VERSION,
    SHARDED_FORMAT_VERSION,
    Chunk,
    Document,
    DocumentRecord,
    Manifest,
    VectorPart,
)
from .build_embed import EmbeddedPassages
from .generations import Generation, write_generation
from .lexical import TERMS_VERSION
from .query_encoder import PreparedEncoder
from .search_files import SearchFiles
from .text_layers import PreviousLayers, StagedFiles, stage_layer
from .vectors import VectorIndex, choose_index_type

__all__ = [
    "GenerationContent",
    "assemble",
    "passages_by_source",
    "reused_sentence_vectors",
    "text_layer_files",
    "write_new_generation",
]


class GenerationContent(BaseModel):
    """The output of `assemble`: everything of a generation but its files' names."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    chunks: list[Chunk]
    """Every passage in source order; a passage's id is its row in `vectors`."""
    vectors: Vectors
    """`(len(chunks), dimension)` float32; no rows when not gathered (`assemble`)."""
    sentence_vectors: Vectors
    """One row per sentence of every passage, in passage order."""
    records: dict[str, DocumentRecord]
    """Each document's record for the manifest, in source order."""


class _Rows(BaseModel):
    """One document's share of `GenerationContent`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    chunks: list[Chunk]
    vectors: Vectors
    sentence_vectors: Vectors
    record: DocumentRecord


def assemble(
    documents: list[Document],
    fresh: dict[str, list[Chunk]],
    embedded: EmbeddedPassages,
    previous: Generation | None,
    *,
    sentences: bool = True,
    vectors: bool = True,
) -> GenerationContent:
    """Passages, passage vectors, sentence vectors and records in source order:
    fresh ones from this build, the rest reused from `previous` bit for bit.

    Args:
        documents: Every document of the new generation, in source order.
        fresh: The passages cut by this build, by source, in the order `embedded`
            holds their vectors.
        embedded: The vectors of the fresh passages and their sentences.
        previous: The generation the other documents' passages come from.
        sentences: Gather the sentence vectors too; False when they are written
            as parts already (a cluster build), and `embedded` holds none.
        vectors: Gather the passage vectors; False for a cluster build, whose
            vector index is built from the parts on the cluster.

    Returns:
        The content, passages renumbered so their ids are rows of the new matrix.
    """
    reused = passages_by_source(previous)
    gather = (vectors, sentences)
    parts: list[_Rows] = []
    next_row = next_sentence = 0
    for document in documents:
        if document.source in fresh:
            own = fresh[document.source]
            part = _fresh_rows(
                document, own, embedded, next_row, next_sentence, (vectors, sentences)
            )
            next_row += len(own)
            next_sentence += sum(len(c.sentences) for c in own)
        else:
            assert previous is not None  # only fresh documents exist without one
            own = reused.get(document.source, [])
            part = _reused_rows(document, own, previous, gather)
        parts.append(part)
    chunks: list[Chunk] = []
    for part in parts:
        first_id = len(chunks)
        chunks.extend(
            c if c.id == first_id + i else c.model_copy(update={"id": first_id + i})
            for i, c in enumerate(part.chunks)
        )
    dimension = embedded.vectors.shape[1]
    return GenerationContent(
        chunks=chunks,
        vectors=_stack([p.vectors for p in parts], dimension),
        sentence_vectors=_stack([p.sentence_vectors for p in parts], dimension),
        records={d.source: part.record for d, part in zip(documents, parts, strict=True)},
    )


def passages_by_source(previous: Generation | None) -> dict[str, list[Chunk]]:
    """A generation's passages, by source, in order (empty without one)."""
    by_source: dict[str, list[Chunk]] = {}
    if previous is not None:
        for chunk in previous.chunks:
            by_source.setdefault(chunk.source, []).append(chunk)
    return by_source


def _fresh_rows(
    document: Document,
    own: list[Chunk],
    embedded: EmbeddedPassages,
    row: int,
    sentence: int,
    gather: tuple[bool, bool],
) -> _Rows:
    """A fresh document's passages and vectors, which start at `row` and `sentence`
    (`gather`: whether to take its passage vectors, its sentence vectors)."""
    count = sum(len(c.sentences) for c in own) if gather[1] else 0
    return _Rows(
        chunks=own,
        vectors=embedded.vectors[row : row + len(own) if gather[0] else row],
        sentence_vectors=embedded.sentence_vectors[sentence : sentence + count],
        record=DocumentRecord(
            sha256=document.sha256,
            title=document.title,
            date=document.date,
            series=document.series,
            chunks=len(own),
            kind=document.kind,
            author=document.author,
            pages=document.pages,
            sections=document.sections,
        ),
    )


def _reused_rows(
    document: Document, own: list[Chunk], previous: Generation, gather: tuple[bool, bool]
) -> _Rows:
    """An unchanged document's passages, vectors and record, from `previous`
    (`gather`: whether to take its passage vectors, its sentence vectors)."""
    assert previous.vectors is not None  # the builder reads it with_vectors
    dimension = previous.vectors.shape[1]
    vectors = np.zeros((0, dimension), np.float32)
    sentence_vectors = np.zeros((0, dimension), np.float32)
    if own:
        # A document's passages, and so their sentences, are contiguous rows.
        if gather[0]:
            vectors = previous.vectors[own[0].id : own[-1].id + 1]
        if gather[1]:
            sentence_vectors = reused_sentence_vectors(previous, own)
    return _Rows(
        chunks=own,
        vectors=vectors,
        sentence_vectors=sentence_vectors,
        record=previous.manifest.documents[document.source],
    )


def reused_sentence_vectors(previous: Generation, own: list[Chunk]) -> Vectors:
    """The sentence vectors of `own`, a document's passages in `previous` (contiguous
    rows), as float32.

    Args:
        previous: The generation the passages are in.
        own: The document's passages there, in order (at least one).

    Returns:
        One row per sentence of those passages.
    """
    start = previous.sentence_rows[own[0].id]
    end = previous.sentence_rows[own[-1].id] + len(own[-1].sentences)
    return previous.sentence_vectors[start:end].astype(np.float32)


def _stack(parts: list[Vectors], dimension: int) -> Vectors:
    if not parts:
        return np.zeros((0, dimension), np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def text_layer_files(
    documents: list[Document], staging: Path, layers: PreviousLayers
) -> StagedFiles:
    """The text layers of the new generation: an unchanged document's linked from
    the previous one, a just-extracted document's written to `staging` first.

    Returns:
        Generation file name → (the file to link in, its SHA-256).
    """
    files: StagedFiles = {}
    for document in documents:
        if document.kind == "text":
            continue
        if document.stored_layer:
            files.update(layers.files(document.sha256))
        else:
            files.update(stage_layer(document, staging))
    return files


def write_new_generation(
    settings: Settings,
    generation: str,
    content: GenerationContent,
    dimension: int,
    query: PreparedEncoder,
    extra_files: StagedFiles,
    passage_terms: tuple[Sequence[list[str]], Sequence[list[str]]] | None = None,
    *,
    parts: Sequence[VectorPart] = (),
    search: SearchFiles | None = None,
) -> Manifest:
    """Build the vector index and manifest of `content` and write it as the live
    generation `generation` of `settings.index_dir`.

    Args:
        settings: The index folder, model and chunking settings for the manifest.
        generation: The new generation's id (see `new_generation_id`).
        content: The assembled passages and vectors.
        dimension: The embedding dimension.
        query: The query encoder, recorded in the manifest; its files are linked in.
        extra_files: Further files to link in (the text layers).
        passage_terms: Each passage's BM25 terms alone and in context, when
            already cut (see `lexical_terms`); else cut while writing.
        parts: The vector parts, whose files are among `extra_files` (a cluster
            build's); none: the vectors are written as one part.
        search: The vector index (or its shards) and BM25 files, already built and
            among `extra_files` (a cluster build's); None: built here from `content`.

    Returns:
        The manifest written (its `files` still empty: `write_generation` fills in
        the copy it writes).

    Raises:
        IndexWriteError: The disk is full or not writable; nothing went live.
    """
    count = len(content.chunks)
    vectors = content.vectors.reshape(-1, dimension)
    index = None
    if search is None:
        index = VectorIndex.build(vectors, choose_index_type(count, settings.exact_limit))
        search = SearchFiles(
            files={},
            index_type=index.index_type,
            index_parameters=index.parameters,
            index_shards=[],
        )
    version = PARTED_FORMAT_VERSION if parts else FORMAT_VERSION
    manifest = Manifest(
        format_version=SHARDED_FORMAT_VERSION if search.index_shards else version,
        generation=generation,
        built_at=dt.datetime.now(dt.UTC),
        model=settings.model,
        dimension=dimension,
        index_type=search.index_type,
        chunking=settings.chunking,
        chunk_count=count,
        documents=content.records,
        files={},
        index_parameters=search.index_parameters,
        query_encoder=query.record,
        query_encoder_refused=query.refused,
        abstention=settings.answer.rule(),
        lexical_terms=TERMS_VERSION,
        parts=list(parts),
        index_shards=search.index_shards,
    )
    write_generation(
        settings.index_dir,
        manifest,
        content.chunks,
        vectors,
        content.sentence_vectors.reshape(-1, dimension),
        index,
        {**query.files, **extra_files},
        passage_terms,
    )
    return manifest
