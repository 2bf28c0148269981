"""A generation's passages, read a line at a time from a memory-mapped `chunks.jsonl`.

Beside `chunks.jsonl` a generation stores `chunks.rows.npy`, one row per passage
plus one past the end: the byte offset of the passage's line, and the row of its
first sentence in `sentences.npy`. A reader maps both files and parses a passage
only when a query asks for it, so opening a generation does not grow with its
passage count (validating every line into a `Chunk` took 22 s of the 34 s it
took to open 1M passages). A generation written before this file existed has
its passages parsed on load, as before.
"""

from __future__ import annotations

import functools
import mmap
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from .._errors import REBUILD_HINT, IndexCorruptError
from .._types import Chunk

__all__ = ["PARSED_PASSAGES_KEPT", "Passages", "check_rows", "encode_passages", "map_text"]

#: Parsed passages each reader keeps (a query reads its candidates' passages several
#: times while it selects and cites them; ≈ 2 KB each).
PARSED_PASSAGES_KEPT = 8192


def encode_passages(chunks: Sequence[Chunk]) -> tuple[bytes, npt.NDArray[np.int64]]:
    """`chunks.jsonl`'s bytes and its `chunks.rows.npy` array.

    Returns:
        (one JSON line per passage, `(len(chunks) + 1, 2)` rows of byte offset
        and first sentence row).
    """
    lines = [(chunk.model_dump_json() + "\n").encode("utf-8") for chunk in chunks]
    rows = np.zeros((len(chunks) + 1, 2), dtype=np.int64)
    rows[1:, 0] = np.cumsum([len(line) for line in lines], dtype=np.int64)
    rows[1:, 1] = np.cumsum([len(chunk.sentences) for chunk in chunks], dtype=np.int64)
    return b"".join(lines), rows


def map_text(path: Path) -> bytes | mmap.mmap:
    """The file's bytes memory-mapped read-only (an empty file as `b""`, which
    cannot be mapped)."""
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def check_rows(rows: npt.NDArray[np.int64], size: int, path: Path) -> None:
    """Check the row table against its passage file, in vectorized passes
    (milliseconds at 1M passages). Its last sentence row is the sentence count,
    which the sentence vectors' shape is checked against.

    Raises:
        IndexCorruptError: Offsets that do not start at 0, end at the file's size
            and grow, or sentence rows that do not start at 0 and grow.
    """
    offsets, sentences = rows[:, 0], rows[:, 1]
    if (
        offsets[0] != 0
        or offsets[-1] != size
        or bool(np.any(np.diff(offsets) <= 0))
        or sentences[0] != 0
        or bool(np.any(np.diff(sentences) < 0))
    ):
        raise IndexCorruptError(
            f"{path} does not match the passages and sentence vectors it indexes: {REBUILD_HINT}",
            path=str(path),
        )


class Passages(Sequence[Chunk]):
    """Passage `i` of a generation, parsed and checked when first asked for.

    Thread-safe: the mapping is read-only and the parse cache is `lru_cache`'s.
    A line is checked when read, so in a generation with a row table a bad line
    (possible only if the writer had a bug: the file matched its checksum) is an
    `IndexCorruptError` of the query that reads it, not of the load.
    """

    def __init__(self, text: bytes | mmap.mmap, rows: npt.NDArray[np.int64], path: Path) -> None:
        """Args:
        text: `chunks.jsonl`, checked against its checksum.
        rows: `chunks.rows.npy`, checked by `check_rows`.
        path: `chunks.jsonl`'s path, for error messages.
        """
        self._rows = rows
        self._count = len(rows) - 1
        # The cache wraps a function of the data, not a bound method: a cache
        # holding `self` would keep the mapping open until the cyclic GC ran.
        self._parsed = functools.lru_cache(maxsize=PARSED_PASSAGES_KEPT)(
            functools.partial(_parse_passage, text, rows, path)
        )

    @property
    def sentence_rows(self) -> npt.NDArray[np.int64]:
        """Row of each passage's first sentence in `sentences.npy`."""
        return self._rows[:-1, 1]

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> Chunk: ...

    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i: int | slice) -> Chunk | list[Chunk]:
        # A query reads its candidates' passages hundreds of times while it fuses,
        # selects and cites: a known row goes straight to the cache.
        if type(i) is int and 0 <= i < self._count:
            return self._parsed(i)
        if isinstance(i, slice):
            return [self._parsed(j) for j in range(*i.indices(self._count))]
        if not -self._count <= i < self._count:
            raise IndexError(f"passage {i} of {self._count}")
        return self._parsed(int(i) % self._count)


def _parse_passage(
    text: bytes | mmap.mmap, rows: npt.NDArray[np.int64], path: Path, i: int
) -> Chunk:
    """Passage `i` of `text`, checked against its row in `rows`."""
    start, end = int(rows[i, 0]), int(rows[i + 1, 0])
    try:
        chunk = Chunk.model_validate_json(text[start:end])
    except ValidationError as exc:
        raise _invalid(path, i, exc.errors()[0]["msg"]) from None
    if chunk.id != i:
        raise _invalid(path, i, f"it has id {chunk.id}")
    if len(chunk.sentences) != rows[i + 1, 1] - rows[i, 1]:
        raise _invalid(path, i, "its sentence count differs from chunks.rows.npy")
    return chunk


def _invalid(path: Path, i: int, reason: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"passage {i} of {path} is invalid ({reason}): {REBUILD_HINT}", path=str(path)
    )
