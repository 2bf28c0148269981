"""Build step 2: passages of the fresh documents, their offsets, and the time limit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from assistant._settings import IngestSettings
from assistant.indexing.build_chunk import chunk_fresh
from assistant.ingest.sources import load_documents

from .build_fakes import FERRY, TRAIN, settings_for, write_sources


def test_passages_index_the_text_layer_by_offset(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources", ferry=FERRY)
    settings = settings_for(tmp_path)
    documents, _ = load_documents(settings.sources_dir)

    passages = chunk_fresh(documents, settings, progress=False)

    assert passages.too_slow == []
    ferry = passages.by_source["ferry.txt"]
    assert [(c.id, c.start, c.end) for c in ferry] == [(0, 26, 92), (1, 94, 146)]
    assert [[(s.start, s.end) for s in c.sentences] for c in ferry] == [
        [(26, 63), (64, 92)],
        [(94, 146)],
    ]
    assert ferry[0].text == "A ferry ran to Sado island on Monday. It carried forty passengers."
    assert FERRY[94:146] == ferry[1].text == "The harbour master said the crossing took two hours."
    assert passages.all == ferry


def test_passages_of_several_documents_in_the_order_given(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    settings = settings_for(tmp_path)
    documents, _ = load_documents(settings.sources_dir)

    passages = chunk_fresh(list(reversed(documents)), settings, progress=False)

    assert list(passages.by_source) == ["train.txt", "ferry.txt"]
    assert [(c.source, c.id, c.start, c.end) for c in passages.all] == [
        ("train.txt", 0, 13, 52),  # "The night train to Aomori left at nine."
        ("ferry.txt", 0, 26, 92),
        ("ferry.txt", 1, 94, 146),
    ]


def test_nothing_to_chunk_loads_no_tokenizer(tmp_path: Path) -> None:
    # a model that does not exist: loading its tokenizer would raise ModelError
    settings = settings_for(tmp_path).model_copy(update={"model": "no-such-model"})
    passages = chunk_fresh([], settings, progress=False)
    assert passages.by_source == {}
    assert passages.too_slow == []


def test_a_document_over_the_time_limit_is_skipped_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_sources(tmp_path / "sources", ferry=FERRY)
    settings = settings_for(tmp_path)
    documents, _ = load_documents(settings.sources_dir)
    no_time = settings.model_copy(update={"ingest": IngestSettings(max_seconds_per_file=0.5)})
    # The step's clock reads 0: its deadline (0.5) has long passed on the chunker's.
    with caplog.at_level(logging.WARNING, logger="assistant"):
        passages = chunk_fresh(documents, no_time, progress=False, clock=lambda: 0.0)

    assert passages.by_source == {}
    assert [s.source for s in passages.too_slow] == ["ferry.txt"]
    assert passages.too_slow[0].reason.endswith("after 0.5 s (ASSISTANT_MAX_SECONDS_PER_FILE)")
    assert f"skipped ferry.txt: {passages.too_slow[0].reason}" in caplog.text


def test_a_documents_first_paragraph_is_cut_whatever_the_clock(tmp_path: Path) -> None:
    """The deadline is checked between paragraphs: a one-paragraph note always
    makes it, so a short file is never lost to a slow moment before it."""
    write_sources(tmp_path / "sources", ferry=FERRY, train=TRAIN)
    settings = settings_for(tmp_path)
    documents, _ = load_documents(settings.sources_dir)
    no_time = settings.model_copy(update={"ingest": IngestSettings(max_seconds_per_file=0.5)})
    passages = chunk_fresh(documents, no_time, progress=False, clock=lambda: 0.0)
    assert list(passages.by_source) == ["train.txt"]
    assert "night train to Aomori" in passages.by_source["train.txt"][0].text
    assert [s.source for s in passages.too_slow] == ["ferry.txt"]
