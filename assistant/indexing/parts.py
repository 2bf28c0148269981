"""A generation's vectors as parts: runs of consecutive documents whose passage
and sentence vectors are stored in their own pair of `.npy` files.

A local build writes one part as `vectors.npy` and `sentences.npy`. A cluster
build writes one part per document, `parts/<key>.vectors.npy` and
`parts/<key>.sentences.npy`, where the workers wrote them; the manifest lists the
parts in row order with their row counts, and their files with their checksums.
A document that has not changed keeps its key, so the next cluster build links
its part's files into the new generation instead of writing them again.

Readers map every part and see the rows as one matrix (`PartedRows`): a slice
inside one part is a view of that part's map, which is what a query reads (one
passage's sentences never straddle two parts).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .._errors import REBUILD_HINT, IndexCorruptError
from .._types import PARTS_FOLDER, VectorPart

__all__ = ["PARTS_FOLDER", "PartedRows", "check_part_bounds", "part_files"]


def part_files(source: str, sha256: str) -> tuple[str, str]:
    """The two file names (inside `PARTS_FOLDER`) of one document's part.

    They depend only on the document's path and content, so an unchanged
    document's part has the same names in every generation.

    Args:
        source: The document's path relative to the sources folder.
        sha256: The document's content hash.

    Returns:
        (passage vectors file, sentence vectors file), plain file names.
    """
    key = hashlib.sha256(f"{source}\0{sha256}".encode()).hexdigest()[:24]
    return f"{key}.vectors.npy", f"{key}.sentences.npy"


class PartedRows:
    """Rows of several `(n_i, dimension)` arrays, read as one `(Σ n_i, dimension)`
    matrix, without copying them together."""

    def __init__(self, parts: Sequence[npt.NDArray[np.floating]], dimension: int) -> None:
        self._parts = [part for part in parts if len(part)]
        self._dimension = dimension
        self._ends = list(itertools.accumulate(len(part) for part in self._parts))
        self.dtype = self._parts[0].dtype if self._parts else np.dtype(np.float32)
        # A query slices one passage's sentences per candidate (≈ 200 a query):
        # one part is sliced as it is (0.5 µs a slice, against 5.7 µs through the loop).
        self._whole = self._parts[0] if len(self._parts) == 1 else None

    @property
    def parts(self) -> tuple[npt.NDArray[np.floating], ...]:
        """The non-empty parts, in row order."""
        return tuple(self._parts)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, dimension)."""
        return (len(self), self._dimension)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __getitem__(self, rows: slice) -> npt.NDArray[np.floating]:
        """Rows `rows.start` to `rows.stop` (step 1): a view when they lie in one
        part, else a copy."""
        if rows.step not in (None, 1):
            raise ValueError("PartedRows takes slices with step 1")
        if self._whole is not None:
            return self._whole[rows]
        start, stop, _ = rows.indices(len(self))
        if stop <= start:
            return np.zeros((0, self._dimension), self.dtype)
        first = bisect.bisect_right(self._ends, start)
        last = bisect.bisect_right(self._ends, stop - 1)
        pieces = []
        for number in range(first, last + 1):
            offset = self._ends[number - 1] if number else 0
            part = self._parts[number]
            pieces.append(part[max(start - offset, 0) : min(stop - offset, len(part))])
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def to_array(self) -> npt.NDArray[np.floating]:
        """Every row, in one array (a copy unless there is one part)."""
        return self[0 : len(self)]


def check_part_bounds(
    parts: Sequence[VectorPart],
    sentence_rows: npt.NDArray[np.int64],
    sentence_count: int,
    folder: Path,
) -> None:
    """Check that the parts tile the passages and their sentences: each part
    starts where a passage's sentences start, and together they hold them all.

    Args:
        parts: The manifest's parts, in row order.
        sentence_rows: Row of each passage's first sentence (see `Passages`).
        sentence_count: Sentences of every passage together.
        folder: The generation, for the message.

    Raises:
        IndexCorruptError: The parts do not match the passages.
    """
    passage_starts = np.cumsum([0] + [part.rows for part in parts], dtype=np.int64)
    sentence_starts = np.cumsum([0] + [part.sentence_rows for part in parts], dtype=np.int64)
    bounds_ok = (
        int(passage_starts[-1]) == len(sentence_rows)
        and int(sentence_starts[-1]) == sentence_count
        and np.array_equal(
            np.append(sentence_rows, sentence_count)[passage_starts], sentence_starts
        )
    )
    if not bounds_ok:
        raise IndexCorruptError(
            f"the vector parts of {folder} do not match its passages: {REBUILD_HINT}",
            path=str(folder),
        )
