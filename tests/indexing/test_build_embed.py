"""Build step 3: encoders chosen, passages embedded after their context, one unit
vector per passage and per sentence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant._settings import Settings
from assistant.indexing.build_chunk import chunk_fresh
from assistant.indexing.build_embed import embed_passages, prepare
from assistant.ingest.sources import load_documents

from .build_fakes import DIMENSION, FERRY, TRAIN, HashEmbedder, Vectors, write_sources


class SpanRecorder(HashEmbedder):
    """Records the texts and spans it is asked to embed in one pass."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.spans: list[list[tuple[int, int]]] = []

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], *,
        progress: bool = False,
    ) -> tuple[Vectors, Vectors]:  # fmt: skip
        self.texts, self.spans = list(texts), [list(own) for own in spans]
        pieces = [text[s:e] for text, own in zip(texts, spans, strict=True) for s, e in own]
        return self.encode_passages(texts), self.encode_passages(pieces)


def _fresh(tmp_path: Path) -> tuple[Settings, list, list]:
    write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    settings = Settings.from_env(tmp_path / "sources", tmp_path / "index")
    documents, _ = load_documents(settings.sources_dir)
    return settings, documents, chunk_fresh(documents, settings, progress=False).all


def test_one_unit_vector_per_passage_and_per_sentence(tmp_path: Path) -> None:
    _, documents, chunks = _fresh(tmp_path)
    embedded = embed_passages(HashEmbedder(), chunks, documents, True, progress=False)
    assert len(chunks) == 3
    assert embedded.vectors.shape == (3, DIMENSION)
    assert embedded.sentence_vectors.shape == (4, DIMENSION)  # 2 + 1 + 1 sentences
    assert embedded.vectors.dtype == embedded.sentence_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embedded.vectors, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(embedded.sentence_vectors, axis=1), 1.0, rtol=1e-6)


def test_passages_are_embedded_after_their_context_with_shifted_sentence_spans(
    tmp_path: Path,
) -> None:
    _, documents, chunks = _fresh(tmp_path)
    recorder = SpanRecorder()
    embed_passages(recorder, chunks, documents, True, progress=False)
    assert recorder.texts == [
        "Ferry Notes (May 25, 2024)\nA ferry ran to Sado island on Monday. "
        "It carried forty passengers.",
        "Ferry Notes (May 25, 2024)\nThe harbour master said the crossing took two hours.",
        "Train Notes\nThe night train to Aomori left at nine.",
    ]
    sentences = [
        text[s:e] for text, own in zip(recorder.texts, recorder.spans, strict=True) for s, e in own
    ]
    assert sentences == [
        "A ferry ran to Sado island on Monday.",
        "It carried forty passengers.",
        "The harbour master said the crossing took two hours.",
        "The night train to Aomori left at nine.",
    ]


def test_without_context_passages_are_embedded_as_they_are(tmp_path: Path) -> None:
    _, documents, chunks = _fresh(tmp_path)
    recorder = SpanRecorder()
    embed_passages(recorder, chunks, documents, False, progress=False)
    assert recorder.texts == [c.text for c in chunks]
    assert recorder.spans[0] == [(0, 37), (38, 66)]


def test_no_passage_gives_empty_matrices(tmp_path: Path) -> None:
    _, documents, _ = _fresh(tmp_path)
    embedded = embed_passages(HashEmbedder(), [], documents, True, progress=False)
    assert embedded.vectors.shape[0] == embedded.sentence_vectors.shape[0] == 0


def test_an_embedder_that_cannot_export_embeds_and_queries_use_torch(tmp_path: Path) -> None:
    supplied = HashEmbedder()
    loaded: list[str] = []

    def load() -> HashEmbedder:
        loaded.append("model")
        return HashEmbedder()

    encoders = prepare(supplied, load, tmp_path, None, count=3)
    assert encoders.passages is supplied
    assert encoders.query.record is None
    assert encoders.query.refused == "embedder hash-embedder cannot export ONNX"
    assert loaded == []  # the supplied embedder stands in for the model
