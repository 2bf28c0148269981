"""Shared fixtures: one real model per session, one real ONNX export of it reused by
every index a test builds (see `ReusedExport`), and a real index of the brief.

Markers (pyproject.toml): `slow` spawns subprocesses, starts servers or rebuilds
indexes repeatedly; `browser` drives Chromium. `make test-fast` runs neither.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from assistant import build_index
from assistant._settings import DEFAULT_MODEL
from assistant.embedding.transformer import OnnxExport, SentenceTransformerEmbedder, load_embedder

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sources"
BRIEF = "2024-08-16-intelbrief-us-japan-alliance-modernization.txt"
DATA = Path(__file__).resolve().parent / "data"
"""Small source documents (its files; the `eval/` folder is not a document)."""
BRIEF_QUESTIONS = DATA / "eval" / "brief_questions.jsonl"
"""Questions on the brief in the `assistant eval` format, written for these tests."""
BRIEF_QUESTION_TEXTS = [
    json.loads(line)["question"]
    for line in BRIEF_QUESTIONS.read_text(encoding="utf-8").splitlines()
    if line.strip()
]
"""Just the question strings of `BRIEF_QUESTIONS`, in file order."""

Vectors = npt.NDArray[np.float32]


class ReusedExport:
    """The real model, whose ONNX export is done once per session and then copied.

    It implements the `Exporter` Protocol of `assistant.indexing.query_encoder`: on a
    fresh index, `prepare_query_encoder` calls `export_onnx(staging)`, which here
    copies the files of one real `SentenceTransformerEmbedder.export_onnx` instead
    of tracing the model again. Everything after that is unchanged: the copies
    are checksummed, opened with onnxruntime and verified against this (real)
    model on the probes, so an export that stopped matching still fails the
    build's check. Encoding is the real model's, untouched.

    Tests about exporting itself (tests/embedding/test_encoders.py, a damaged
    encoder exported afresh) take `exporting_embedder`, which exports every time.
    """

    def __init__(self, model: SentenceTransformerEmbedder, export: OnnxExport) -> None:
        self.model = model
        self.export = export
        self.name = model.name
        self.dimension = model.dimension

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        return self.model.encode_passages(texts, progress=progress)

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        progress: bool = False,
    ) -> tuple[Vectors, Vectors]:
        return self.model.encode_with_spans(texts, spans, progress=progress)

    def encode_query(self, text: str) -> Vectors:
        return self.model.encode_query(text)

    def export_onnx(self, folder: Path) -> OnnxExport:
        # copies, not hard links: tests damage encoder files in their own index
        # (the graph names its weights file, so the names must stay the same)
        copied = [
            Path(shutil.copy2(path, folder / path.name))
            for path in (self.export.graph, self.export.weights, self.export.tokenizer)
        ]
        return dataclasses.replace(
            self.export, graph=copied[0], weights=copied[1], tokenizer=copied[2]
        )


@pytest.fixture(autouse=True)
def _no_assistant_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass folders explicitly; a developer's ASSISTANT_* must not leak in."""
    for name in (
        "SOURCES", "INDEX", "MODEL", "CHUNK_TOKENS", "FUSION", "MAX_PDF_PAGES",
        "MAX_UNPACKED_MB", "MAX_HTML_MB", "MAX_EXTRACT_SECONDS",
    ):  # fmt: skip
        monkeypatch.delenv(f"ASSISTANT_{name}", raising=False)


@pytest.fixture(scope="session")
def exporting_embedder() -> SentenceTransformerEmbedder:
    """The real default model, loaded once; every fresh index built with it
    exports and verifies the ONNX graph anew (for tests about exporting)."""
    return load_embedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def session_export(
    tmp_path_factory: pytest.TempPathFactory, exporting_embedder: SentenceTransformerEmbedder
) -> OnnxExport:
    """The model exported to ONNX once, for `embedder` to copy; tests must not modify it."""
    return exporting_embedder.export_onnx(tmp_path_factory.mktemp("session-export"))


@pytest.fixture(scope="session")
def embedder(
    exporting_embedder: SentenceTransformerEmbedder, session_export: OnnxExport
) -> ReusedExport:
    """The real default model for building indexes, its ONNX export reused."""
    return ReusedExport(exporting_embedder, session_export)


@pytest.fixture(scope="session")
def brief_text() -> str:
    return (SOURCES / BRIEF).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def brief_index(tmp_path_factory: pytest.TempPathFactory, embedder: ReusedExport) -> Path:
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


def brief_and_notes(root: Path) -> Path:
    """A new `root/sources` folder holding the brief and the small fixture documents."""
    folder = brief_sources(root)
    for path in DATA.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def sources_copy(tmp_path: Path) -> Path:
    """A writable sources folder holding the brief and the small fixture documents."""
    return brief_and_notes(tmp_path)


# The longest test files, started first: with `--dist loadfile` each file runs on
# one worker, and a long file handed out last would keep its worker busy after the
# other has finished (the files are otherwise in alphabetical order).
_LONGEST_FIRST = ("tests/cluster/test_cluster.py", "tests/test_lifecycle.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests of `_LONGEST_FIRST` to the front, keeping every other order."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return _LONGEST_FIRST.index(path) if path in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: within each part, collection order
