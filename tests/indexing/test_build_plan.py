"""Build step 1: the plan for new, unchanged, changed, removed and re-extracted sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import SourcesError, build_index
from assistant._types import Document, DocumentRecord, SkippedSource
from assistant.indexing.build_plan import compare_documents, is_fresh, plan_build
from assistant.indexing.generations import (
    GENERATIONS,
    MANIFEST,
    current_generation,
    open_lexical,
    read_generation,
)
from assistant.indexing.lexical import TERMS_VERSION
from assistant.search.searcher import load_searcher

from .build_fakes import BUS, FERRY, TRAIN, HashEmbedder, settings_for, write_sources

SHA_A = "a" * 64
SHA_B = "b" * 64


def _document(source: str, sha256: str, kind: str = "text", stored: bool = False) -> Document:
    return Document(
        source=source, text="Title\n\nBody.\n", sha256=sha256, title="Title", kind=kind,
        stored_layer=stored,
    )  # fmt: skip


def _record(sha256: str, kind: str = "text") -> DocumentRecord:
    return DocumentRecord(sha256=sha256, title="Title", chunks=1, kind=kind)


def test_is_fresh_by_hash_and_by_stored_layer() -> None:
    assert is_fresh(_document("a.txt", SHA_A), None)
    assert is_fresh(_document("a.txt", SHA_B), _record(SHA_A))
    assert not is_fresh(_document("a.txt", SHA_A), _record(SHA_A))
    # an extracted format whose stored text layer could not be reused
    assert is_fresh(_document("a.pdf", SHA_A, "pdf", stored=False), _record(SHA_A, "pdf"))
    assert not is_fresh(_document("a.pdf", SHA_A, "pdf", stored=True), _record(SHA_A, "pdf"))


def test_compare_sorts_every_source_into_one_list() -> None:
    documents = [
        _document("added.txt", SHA_A),
        _document("changed.txt", SHA_B),
        _document("layer.pdf", SHA_A, "pdf", stored=False),
        _document("same.txt", SHA_A),
    ]
    old = {
        "changed.txt": _record(SHA_A),
        "gone.txt": _record(SHA_A),
        "layer.pdf": _record(SHA_A, "pdf"),
        "same.txt": _record(SHA_A),
        "also-gone.txt": _record(SHA_B),
    }
    changes = compare_documents(documents, old)
    assert changes.added == ["added.txt"]
    assert changes.changed == ["changed.txt", "layer.pdf"]
    assert changes.reextracted == ["layer.pdf"]
    assert changes.unchanged == ["same.txt"]
    assert changes.removed == ["also-gone.txt", "gone.txt"]
    assert [d.source for d in changes.fresh] == ["added.txt", "changed.txt", "layer.pdf"]


def test_first_plan_adds_everything(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    plan = plan_build(settings_for(tmp_path), force=False)
    assert plan.previous is None
    assert plan.full_rebuild_reason is None
    assert plan.changes.added == ["ferry.txt", "train.txt"]
    assert [d.source for d in plan.documents] == ["ferry.txt", "train.txt"]
    assert [d.title for d in plan.changes.fresh] == ["Ferry Notes", "Train Notes"]
    assert not plan.up_to_date


def test_plan_after_a_build_unchanged_changed_removed_added(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    first = build_index(sources, tmp_path / "index", embedder=HashEmbedder())
    settings = settings_for(tmp_path)

    unchanged = plan_build(settings, force=False)
    assert unchanged.up_to_date
    assert unchanged.previous is not None
    assert unchanged.previous.manifest.generation == first.generation
    assert unchanged.changes.unchanged == ["ferry.txt", "train.txt"]
    assert unchanged.changes.fresh == []

    write_sources(sources, ferry=FERRY.replace("forty", "fifty"), bus=BUS)
    (sources / "train.txt").unlink()
    changed = plan_build(settings, force=False)
    assert not changed.up_to_date
    assert changed.changes.added == ["bus.txt"]
    assert changed.changes.changed == ["ferry.txt"]
    assert changed.changes.unchanged == []
    assert changed.changes.removed == ["train.txt"]
    assert [d.source for d in changed.changes.fresh] == ["bus.txt", "ferry.txt"]
    assert set(changed.records) == {"ferry.txt", "train.txt"}  # the previous generation's


def test_forced_plan_reuses_nothing(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "sources", ferry=FERRY)
    build_index(sources, tmp_path / "index", embedder=HashEmbedder())
    plan = plan_build(settings_for(tmp_path), force=True)
    assert plan.previous is None
    assert plan.full_rebuild_reason == "--force"
    assert plan.changes.added == ["ferry.txt"]
    assert plan.records == {}


def test_plan_without_a_document_too_slow_to_chunk(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    build_index(sources, tmp_path / "index", embedder=HashEmbedder())
    write_sources(sources, ferry=FERRY.replace("forty", "fifty"), bus=BUS)
    plan = plan_build(settings_for(tmp_path), force=False)
    slow = [SkippedSource(source="ferry.txt", reason="too slow")]

    reduced = plan.without(slow, sources)
    assert [d.source for d in reduced.documents] == ["bus.txt", "train.txt"]
    assert reduced.skipped == slow
    # indexed before and not chunked now: it leaves the index
    assert reduced.changes.removed == ["ferry.txt"]
    assert reduced.changes.added == ["bus.txt"]
    assert reduced.changes.unchanged == ["train.txt"]
    everything = [SkippedSource(source=d.source, reason="too slow") for d in plan.documents]
    with pytest.raises(SourcesError, match="could be chunked in time"):
        plan.without(everything, sources)


def test_plan_refuses_a_folder_without_readable_document(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(SourcesError, match="no readable document in"):
        plan_build(settings_for(tmp_path), force=False)


def test_a_generation_cut_into_other_terms_is_rewritten(tmp_path: Path) -> None:
    """After an upgrade that cuts BM25 terms differently, the next build rewrites the
    generation although no document changed, so queries and index cut alike."""
    sources = write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    (sources / "talks.txt").write_text("Talks\n\nThe 2+2 met in Tokyo with U.S. officials.\n")
    index = tmp_path / "index"
    first = build_index(sources, index, embedder=HashEmbedder())
    manifest_path = index / GENERATIONS / first.generation / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    assert manifest["lexical_terms"] == TERMS_VERSION
    del manifest["lexical_terms"]  # as written before the version was recorded
    manifest_path.write_text(json.dumps(manifest))
    # until the next build, queries index the passages themselves rather than use
    # the stored index, cut otherwise
    assert open_lexical(read_generation(index), in_context=True) is None
    assert not plan_build(settings_for(tmp_path), force=False).up_to_date

    second = build_index(sources, index, embedder=HashEmbedder())
    assert not second.up_to_date
    assert second.generation != first.generation
    assert current_generation(index) == second.generation
    assert open_lexical(read_generation(index), in_context=True) is not None
    lexical = load_searcher(index).lexical(in_context=False)
    assert lexical.known_terms(["2+2", "us"]) == ["2+2", "us"]
    assert build_index(sources, index, embedder=HashEmbedder()).up_to_date
