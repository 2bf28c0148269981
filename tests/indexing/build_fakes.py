"""A model-free embedder and small documents for the build-step tests: each step is
checked on its own in milliseconds, without loading or exporting the real model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistant._settings import Settings

Vectors = npt.NDArray[np.float32]

DIMENSION = 8
FERRY = (
    "Ferry Notes\nMay 25, 2024\n\n"
    "A ferry ran to Sado island on Monday. It carried forty passengers.\n\n"
    "The harbour master said the crossing took two hours.\n"
)
TRAIN = "Train Notes\n\nThe night train to Aomori left at nine.\n"
BUS = "Bus Notes\n\nA bus links the airport with the port every hour.\n"


class HashEmbedder:
    """Unit vectors derived from each text's SHA-256: equal texts, equal vectors.
    It cannot export ONNX, so a build with it records a refused query encoder."""

    name = "hash-embedder"
    dimension = DIMENSION

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        self.calls.append(list(texts))
        rows = [
            np.frombuffer(hashlib.sha256(text.encode()).digest()[:DIMENSION], np.uint8)
            for text in texts
        ]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), DIMENSION) + 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def encode_query(self, text: str) -> Vectors:
        return self.encode_passages([text])[0]


def write_sources(folder: Path, **files: str) -> Path:
    """`folder` holding `name.txt` with each text (folder created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def settings_for(root: Path) -> Settings:
    """Settings for `root/sources` and `root/index`, the rest from the defaults."""
    return Settings.from_env(root / "sources", root / "index")
