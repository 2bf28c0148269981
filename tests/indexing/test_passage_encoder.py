"""Which encoder embeds a build's passages: the caller's, else the verified graph
(on the shared query session for a small build), else the loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant._settings import Settings
from assistant.embedding.onnx_runtime import OnnxEmbedder
from assistant.indexing.generations import read_generation
from assistant.indexing.passage_encoder import (
    SMALL_BUILD,
    choose_passage_embedder,
    verified_graph_for,
)
from assistant.indexing.query_encoder import PreparedEncoder, prepare_query_encoder, query_embedder

from ..indexing.build_fakes import HashEmbedder


def _must_not_load() -> HashEmbedder:
    raise AssertionError("the model was loaded although it was not needed")


@pytest.fixture
def reused(brief_index: Path, tmp_path: Path) -> PreparedEncoder:
    """The brief index's verified encoder, as an incremental build reuses it."""
    encoder = prepare_query_encoder(_must_not_load, tmp_path, read_generation(brief_index))
    assert encoder.record is not None
    assert encoder.exported is None  # reused, not exported
    return encoder


def test_the_supplied_embedder_always_wins(reused: PreparedEncoder) -> None:
    supplied = HashEmbedder()
    assert choose_passage_embedder(supplied, reused, 10, _must_not_load) is supplied


def test_without_a_verified_graph_the_model_is_loaded() -> None:
    refused = PreparedEncoder(record=None, refused="ONNX export refused")
    model = HashEmbedder()
    assert verified_graph_for(refused, 10) is None
    assert choose_passage_embedder(None, refused, 10, lambda: model) is model


def test_a_small_build_embeds_on_the_shared_query_session(
    reused: PreparedEncoder, brief_index: Path
) -> None:
    small = choose_passage_embedder(None, reused, SMALL_BUILD, _must_not_load)
    assert isinstance(small, OnnxEmbedder)
    assert verified_graph_for(reused, 1) is small
    generation = read_generation(brief_index)
    assert query_embedder(generation, Settings.from_env(index_dir=brief_index)) is small


def test_a_large_build_opens_its_own_session(reused: PreparedEncoder) -> None:
    small = verified_graph_for(reused, SMALL_BUILD)
    large = verified_graph_for(reused, SMALL_BUILD + 1)
    assert isinstance(large, OnnxEmbedder)
    assert large is not small
    assert verified_graph_for(reused, SMALL_BUILD + 1) is not large  # dropped with the build
