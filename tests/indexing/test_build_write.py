"""Build step 4: fresh and reused passages assembled in source order, and the
generation's files written and made live."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from assistant import build_index
from assistant._types import Document
from assistant.indexing.build_chunk import chunk_fresh
from assistant.indexing.build_embed import embed_passages
from assistant.indexing.build_plan import plan_build
from assistant.indexing.build_write import assemble, text_layer_files, write_new_generation
from assistant.indexing.generations import current_generation, read_generation
from assistant.indexing.query_encoder import PreparedEncoder
from assistant.indexing.text_layers import PreviousLayers

from .build_fakes import BUS, DIMENSION, FERRY, TRAIN, HashEmbedder, settings_for, write_sources


def test_assemble_numbers_passages_across_documents(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    plan = plan_build(settings_for(tmp_path), force=False)
    passages = chunk_fresh(plan.changes.fresh, settings_for(tmp_path), progress=False)
    embedded = embed_passages(HashEmbedder(), passages.all, plan.documents, True, False)

    content = assemble(plan.documents, passages.by_source, embedded, None)

    assert [(c.id, c.source, c.start) for c in content.chunks] == [
        (0, "ferry.txt", 26),
        (1, "ferry.txt", 94),
        (2, "train.txt", 13),  # its own id 0, renumbered to its row
    ]
    np.testing.assert_array_equal(content.vectors, embedded.vectors)
    np.testing.assert_array_equal(content.sentence_vectors, embedded.sentence_vectors)
    assert list(content.records) == ["ferry.txt", "train.txt"]
    assert content.records["ferry.txt"].chunks == 2
    assert content.records["ferry.txt"].sha256 == plan.documents[0].sha256
    assert str(content.records["ferry.txt"].date) == "2024-05-25"


def test_assemble_reuses_unchanged_rows_bit_for_bit(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    build_index(sources, tmp_path / "index", embedder=HashEmbedder())
    write_sources(sources, bus=BUS)  # sorts first: every reused row moves down
    settings = settings_for(tmp_path)
    plan = plan_build(settings, force=False)
    assert plan.previous is not None
    assert plan.previous.vectors is not None
    passages = chunk_fresh(plan.changes.fresh, settings, progress=False)
    embedded = embed_passages(HashEmbedder(), passages.all, plan.documents, True, False)

    content = assemble(plan.documents, passages.by_source, embedded, plan.previous)

    assert [(c.id, c.source) for c in content.chunks] == [
        (0, "bus.txt"), (1, "ferry.txt"), (2, "ferry.txt"), (3, "train.txt"),
    ]  # fmt: skip
    np.testing.assert_array_equal(content.vectors[0], embedded.vectors[0])
    np.testing.assert_array_equal(content.vectors[1:], plan.previous.vectors)
    assert content.sentence_vectors.shape == (5, DIMENSION)
    np.testing.assert_array_equal(
        content.sentence_vectors[1:], plan.previous.sentence_vectors.to_array().astype(np.float32)
    )
    assert content.records["train.txt"] == plan.previous.manifest.documents["train.txt"]
    # the reused passages are the previous ones, only their ids moved
    assert [c.text for c in content.chunks[1:]] == [c.text for c in plan.previous.chunks]


def test_write_makes_the_generation_live_with_every_file(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    settings = settings_for(tmp_path)
    (tmp_path / "index" / "generations").mkdir(parents=True)
    plan = plan_build(settings, force=False)
    passages = chunk_fresh(plan.changes.fresh, settings, progress=False)
    embedded = embed_passages(HashEmbedder(), passages.all, plan.documents, True, False)
    content = assemble(plan.documents, passages.by_source, embedded, None)
    refused = PreparedEncoder(record=None, refused="no export in this test")
    generation = "20240525T120000000000Z-abcdef"

    manifest = write_new_generation(settings, generation, content, DIMENSION, refused, {})

    assert current_generation(settings.index_dir) == generation
    folder = settings.index_dir / "generations" / generation
    # the BM25 files (lexical/) are write_generation's own, tested with it
    assert sorted(p.name for p in folder.iterdir() if p.name != "lexical") == [
        "chunks.jsonl", "chunks.rows.npy", "manifest.json", "sentences.npy", "vectors.faiss",
        "vectors.npy",
    ]  # fmt: skip
    written = json.loads((folder / "manifest.json").read_text())
    assert sorted(n for n in written["files"] if not n.startswith("lexical/")) == [
        "chunks.jsonl", "chunks.rows.npy", "sentences.npy", "vectors.faiss", "vectors.npy",
    ]  # fmt: skip
    assert written["chunk_count"] == manifest.chunk_count == 3
    assert written["dimension"] == DIMENSION
    assert written["index_type"] == "flat-ip"
    assert written["query_encoder"] is None
    assert written["query_encoder_refused"] == "no export in this test"
    loaded = read_generation(settings.index_dir, with_vectors=True)
    assert loaded.vectors is not None
    np.testing.assert_array_equal(loaded.vectors, embedded.vectors)
    assert loaded.sentence_vectors.dtype == np.float16
    assert loaded.sentence_vectors.shape == (4, DIMENSION)
    assert [c.text for c in loaded.chunks] == [c.text for c in content.chunks]


def test_text_layer_files_stage_extracted_documents_only(tmp_path: Path) -> None:
    sha = "c" * 64
    documents = [
        Document(source="a.txt", text="A\n\nplain.\n", sha256="a" * 64, title="A"),
        Document(source="b.html", text="B\n\nextracted.\n", sha256=sha, title="B", kind="html"),
    ]
    staged = text_layer_files(documents, tmp_path, PreviousLayers(None))
    assert list(staged) == [f"text/{sha}.txt"]
    path, checksum = staged[f"text/{sha}.txt"]
    assert path.read_text(encoding="utf-8") == "B\n\nextracted.\n"
    assert checksum == hashlib.sha256(b"B\n\nextracted.\n").hexdigest()
