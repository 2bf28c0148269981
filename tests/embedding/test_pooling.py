"""Sentence vectors pooled from one forward pass per passage, and the build path
that embeds with the verified ONNX graph instead of torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import build_index, retrieve
from assistant.embedding.pooling import pool_spans
from assistant.indexing.generations import read_generation
from assistant.indexing.query_encoder import MIN_COSINE

from ..conftest import BRIEF, SOURCES, brief_sources


def test_pool_spans_averages_the_tokens_inside_each_span() -> None:
    # [CLS] "alpha" "beta" "gamma" [SEP]; the special tokens point the other way
    tokens = np.array([[5, -5], [1, 0], [0, 1], [1, 1], [5, -5]], dtype=np.float32)
    offsets = [(0, 0), (0, 5), (6, 10), (11, 16), (0, 0)]
    fallback = np.array([0.6, 0.8], dtype=np.float32)
    pooled = pool_spans(tokens, offsets, [(0, 5), (6, 16), (0, 16), (20, 30)], fallback)
    np.testing.assert_allclose(pooled[0], [1, 0])
    np.testing.assert_allclose(pooled[1], np.array([0.5, 1]) / np.hypot(0.5, 1), rtol=1e-6)
    np.testing.assert_allclose(pooled[2], [2**-0.5, 2**-0.5], rtol=1e-6)  # no special token
    np.testing.assert_allclose(pooled[3], fallback)  # past the model's length limit


def test_pool_spans_ignores_padding_rows() -> None:
    tokens = np.array([[0, 0], [3, 4], [100, 100], [100, 100]], dtype=np.float32)
    pooled = pool_spans(tokens, [(0, 0), (0, 4)], [(0, 4)], np.zeros(2, np.float32))
    np.testing.assert_allclose(pooled[0], [0.6, 0.8], rtol=1e-6)


@pytest.fixture(scope="module")
def default_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The brief built the way `assistant build` builds it (no embedder passed)."""
    index = tmp_path_factory.mktemp("default-build") / "index"
    report = build_index(SOURCES, index)
    assert report.query_encoder == "onnx"
    return index


@pytest.mark.slow
def test_default_build_embeds_with_the_graph_and_matches_torch(
    default_index: Path, brief_index: Path
) -> None:
    ours = read_generation(default_index, with_vectors=True)
    torch_built = read_generation(brief_index, with_vectors=True)  # sentence-transformers
    assert [c.text for c in ours.chunks] == [c.text for c in torch_built.chunks]
    assert ours.vectors is not None
    assert torch_built.vectors is not None
    assert float((ours.vectors * torch_built.vectors).sum(axis=1).min()) >= MIN_COSINE
    # sentence vectors: pooled the same way on both paths, stored in half precision
    total = sum(len(c.sentences) for c in ours.chunks)
    assert ours.sentence_vectors.shape == (total, 384)
    assert ours.sentence_rows[1] == len(ours.chunks[0].sentences)
    a = ours.sentence_vectors.to_array().astype(np.float32)
    b = torch_built.sentence_vectors.to_array().astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=2e-3)
    assert float((a * b).sum(axis=1).min()) >= 0.999


@pytest.mark.slow
def test_sentence_vectors_stand_for_their_own_sentence(default_index: Path, embedder) -> None:
    generation = read_generation(default_index)
    chunk = next(c for c in generation.chunks if len(c.sentences) >= 3)
    texts = [chunk.text[s.start - chunk.start : s.end - chunk.start] for s in chunk.sentences]
    alone = embedder.encode_passages(texts)  # each sentence encoded on its own
    first = generation.sentence_rows[chunk.id]
    pooled = generation.sentence_vectors[first : first + len(texts)].astype(np.float32)
    similarity = pooled @ alone.T
    # each pooled vector is closest to its own sentence among its neighbours
    assert list(similarity.argmax(axis=1)) == list(range(len(texts)))


def test_highlight_marks_the_sentence_that_answers(brief_index: Path) -> None:
    top = retrieve("Who is Japan's defense minister?", k=1, index_dir=brief_index)[0]
    text = Path(SOURCES / BRIEF).read_text(encoding="utf-8")
    (mark,) = top.highlights
    assert "Defense Minister Kihara Minoru" in text[mark.start : mark.end]
    assert top.start <= mark.start < mark.end <= top.end
    assert (mark.start, mark.end) != (top.start, top.end)  # one sentence of several


INCREMENTAL = """
import sys
from assistant import build_index
report = build_index({sources!r}, {index!r})
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print("HEAVY", heavy, "EMBEDDED", report.chunks_embedded, "ENCODER", report.query_encoder)
"""


@pytest.mark.slow
def test_incremental_build_with_a_reused_encoder_never_imports_torch(
    tmp_path: Path, default_index: Path
) -> None:
    sources, index = brief_sources(tmp_path), tmp_path / "index"
    shutil.copytree(default_index, index)
    (sources / "note.txt").write_text(
        "Field note\n\nThe destroyer Kongo called at Sasebo on 2 June.\n", encoding="utf-8"
    )
    script = INCREMENTAL.format(sources=str(sources), index=str(index))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY [] EMBEDDED 1 ENCODER onnx" in result.stdout
    top = retrieve("Where did the Kongo call?", k=1, index_dir=index)[0]
    assert top.source == "note.txt"
    assert top.text == "The destroyer Kongo called at Sasebo on 2 June."
