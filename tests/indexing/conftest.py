"""Fixtures the indexing tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import build_index
from assistant.indexing.generations import GENERATIONS, current_generation

from ..conftest import DATA, ReusedExport, brief_sources


@pytest.fixture(scope="module")
def two_generations_original(
    tmp_path_factory: pytest.TempPathFactory, embedder: ReusedExport
) -> Path:
    """An index with two generations: the brief alone, then the brief plus a typhoon note."""
    root = tmp_path_factory.mktemp("two-generations")
    sources = brief_sources(root)
    build_index(sources, root / "index", embedder=embedder)
    shutil.copy(DATA / "typhoon-relief.txt", sources / "typhoon-relief.txt")
    build_index(sources, root / "index", embedder=embedder)
    return root / "index"


@pytest.fixture
def two_generations(two_generations_original: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of `two_generations_original` for one test to damage, and its live
    generation's folder."""
    copy = tmp_path / "index"
    shutil.copytree(two_generations_original, copy)
    return copy, copy / GENERATIONS / str(current_generation(copy))
