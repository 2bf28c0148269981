"""Build step 3, embed: export (or reuse) the query encoder, then embed the fresh
passages and their sentences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SkipValidation

from .._arrays import Vectors
from .._types import Chunk, Document, document_context
from ..embedding.pooling import encode_with_spans
from ..embedding.transformer import Embedder
from .generations import Generation
from .passage_encoder import choose_passage_embedder
from .query_encoder import PreparedEncoder, prepare_query_encoder

__all__ = ["BuildEncoders", "EmbeddedPassages", "embed_passages", "prepare"]


class BuildEncoders(BaseModel):
    """The output of `prepare`: what answers queries, and what embeds passages."""

    # Embedders are live models and sessions, not data; `Embedder` is a protocol,
    # which isinstance cannot check.
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    query: PreparedEncoder
    """The verified ONNX query encoder for the new generation, or why there is none."""
    passages: SkipValidation[Embedder]
    """The embedder for this build's fresh passages."""


class EmbeddedPassages(BaseModel):
    """The output of `embed_passages`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    vectors: Vectors
    """One unit row per passage, `(passages, dimension)`, float32."""
    sentence_vectors: Vectors
    """One unit row per sentence of every passage, in passage order, float32."""


def prepare(
    supplied: Embedder | None,
    load: Callable[[], Embedder],
    staging: Path,
    previous: Generation | None,
    count: int,
) -> BuildEncoders:
    """Export and verify the query encoder (or reuse the previous one), and choose
    the embedder for `count` fresh passages.

    Args:
        supplied: The embedder passed to `build_index`, if any.
        load: Loads the configured model; called only when needed.
        staging: An empty scratch folder for the export.
        previous: The generation being updated (see `prepare_query_encoder`).
        count: How many passages will be embedded.

    Raises:
        ModelError: The model has to be loaded and cannot be.
        OSError: The export could not be written.
    """
    query = prepare_query_encoder(lambda: supplied or load(), staging, previous)
    return BuildEncoders(
        query=query, passages=choose_passage_embedder(supplied, query, count, load)
    )


def embed_passages(
    encoder: Embedder,
    chunks: list[Chunk],
    documents: list[Document],
    with_context: bool,
    progress: bool,
) -> EmbeddedPassages:
    """Passage and sentence vectors of `chunks`.

    With `with_context`, each passage is embedded after its document's title and
    date, so a passage that never names its event still carries it (sentence
    spans shift by the prefix, offsets do not change).

    Args:
        encoder: The passage embedder (see `prepare`).
        chunks: The passages, each from one of `documents`.
        documents: Their documents (at least those `chunks` come from).
        with_context: Prefix each passage with its document's `document_context`.
        progress: Show a progress bar.

    Returns:
        The vectors, one row per passage and one per sentence.
    """
    prefixes = {
        d.source: document_context(d.title, d.date) if with_context else "" for d in documents
    }
    texts, spans = [], []
    for chunk in chunks:
        shift = len(prefixes[chunk.source]) - chunk.start
        texts.append(prefixes[chunk.source] + chunk.text)
        spans.append([(s.start + shift, s.end + shift) for s in chunk.sentences])
    vectors, sentence_vectors = encode_with_spans(encoder, texts, spans, progress=progress)
    return EmbeddedPassages(vectors=vectors, sentence_vectors=sentence_vectors)
