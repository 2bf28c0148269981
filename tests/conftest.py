"""Shared fixtures: one real model per session, a real index of the brief."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import build_index
from assistant._settings import DEFAULT_MODEL
from assistant.embedding.transformer import SentenceTransformerEmbedder, load_embedder

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sources"
BRIEF = "2024-08-16-intelbrief-us-japan-alliance-modernization.txt"
DATA = Path(__file__).resolve().parent / "data"
DEV_QA = ROOT.parent / "shared" / "eval" / "dev_qa.jsonl"


@pytest.fixture(autouse=True)
def _no_assistant_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass folders explicitly; a developer's ASSISTANT_* must not leak in."""
    for name in (
        "SOURCES", "INDEX", "MODEL", "CHUNK_TOKENS", "FUSION", "MAX_PDF_PAGES",
        "MAX_UNPACKED_MB", "MAX_HTML_MB", "MAX_EXTRACT_SECONDS",
    ):  # fmt: skip
        monkeypatch.delenv(f"ASSISTANT_{name}", raising=False)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real default model, loaded once for the whole session."""
    return load_embedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def brief_text() -> str:
    return (SOURCES / BRIEF).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def brief_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Path:
    """An index of the repository's sources/, built once; tests must not modify it."""
    index_dir = tmp_path_factory.mktemp("brief-index")
    build_index(SOURCES, index_dir, embedder=embedder)
    return index_dir


def brief_sources(root: Path) -> Path:
    """A new `root/sources` folder holding a copy of the brief, for a test to change."""
    folder = root / "sources"
    folder.mkdir()
    shutil.copy(SOURCES / BRIEF, folder / BRIEF)
    return folder


@pytest.fixture
def sources_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable sources folder holding the brief and the small fixture documents."""
    folder = brief_sources(tmp_path)
    for path in DATA.iterdir():
        shutil.copy(path, folder / path.name)
    return folder
