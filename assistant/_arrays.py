"""Array type aliases shared by the embedding and indexing code, defined once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["HalfVectors", "Spans", "TokenVectors", "Vectors"]

Vectors = npt.NDArray[np.float32]
"""Unit-length embeddings, one row per text (or a single `(dimension,)` vector)."""

HalfVectors = npt.NDArray[np.float16]
"""Sentence vectors as stored: half precision, they only choose highlights."""

TokenVectors = npt.NDArray[np.floating]
"""A model's per-token outputs, `(n_tokens, dimension)`, in whatever float type it uses."""

Spans = Sequence[tuple[int, int]]
"""Character ranges `[start, end)` in one text."""
