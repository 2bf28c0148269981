"""Vector parts read as one matrix, their names, and the check that they tile
the passages (`assistant.indexing.parts`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant._errors import IndexCorruptError
from assistant._types import VectorPart
from assistant.indexing.parts import PartedRows, check_part_bounds, part_files

DIMENSION = 3


def _rows(count: int, start: int) -> np.ndarray:
    return np.arange(start, start + count * DIMENSION, dtype=np.float32).reshape(count, DIMENSION)


def test_parted_rows_read_as_the_concatenated_matrix() -> None:
    parts = [_rows(2, 0), _rows(0, 100), _rows(3, 200), _rows(1, 300)]
    whole = np.concatenate(parts)
    rows = PartedRows(parts, DIMENSION)
    assert rows.shape == (6, DIMENSION)
    assert len(rows) == 6
    assert rows.dtype == np.float32
    for start in range(7):
        for stop in range(start, 8):
            assert np.array_equal(rows[start:stop], whole[start:stop]), (start, stop)
    assert np.array_equal(rows[-2:], whole[-2:])
    assert np.array_equal(rows.to_array(), whole)


def test_a_slice_inside_one_part_is_a_view_of_it() -> None:
    first, second = _rows(2, 0), _rows(3, 100)
    rows = PartedRows([first, second], DIMENSION)
    assert np.shares_memory(rows[2:4], second)
    assert not np.shares_memory(rows[1:3], first)  # across parts: a copy


def test_no_parts_is_an_empty_matrix() -> None:
    rows = PartedRows([], DIMENSION)
    assert rows.shape == (0, DIMENSION)
    assert rows[0:5].shape == (0, DIMENSION)


def test_a_stepped_slice_is_refused() -> None:
    with pytest.raises(ValueError, match="step 1"):
        PartedRows([_rows(4, 0)], DIMENSION)[0:4:2]


def test_part_names_follow_the_document_path_and_content() -> None:
    vectors, sentences = part_files("a/notes.txt", "0" * 64)
    assert vectors.endswith(".vectors.npy")
    assert sentences.endswith(".sentences.npy")
    assert vectors.removesuffix(".vectors.npy") == sentences.removesuffix(".sentences.npy")
    assert part_files("a/notes.txt", "0" * 64) == (vectors, sentences)
    assert part_files("a/notes.txt", "1" * 64) != (vectors, sentences)
    assert part_files("b/notes.txt", "0" * 64) != (vectors, sentences)


def _part(rows: int, sentence_rows: int) -> VectorPart:
    return VectorPart(
        vectors="parts/a.vectors.npy",
        sentences="parts/a.sentences.npy",
        rows=rows,
        sentence_rows=sentence_rows,
        sources=["a.txt"],
    )


def test_parts_must_tile_the_passages_and_their_sentences(tmp_path: Path) -> None:
    # three passages of 2, 1 and 3 sentences
    sentence_rows = np.array([0, 2, 3], dtype=np.int64)
    check_part_bounds([_part(2, 3), _part(1, 3)], sentence_rows, 6, tmp_path)
    check_part_bounds([_part(3, 6)], sentence_rows, 6, tmp_path)
    for wrong in (
        [_part(1, 3), _part(2, 3)],  # a part boundary inside a passage's sentences
        [_part(2, 3)],  # a passage left out
        [_part(2, 3), _part(1, 2)],  # a sentence left out
    ):
        with pytest.raises(IndexCorruptError, match="do not match its passages"):
            check_part_bounds(wrong, sentence_rows, 6, tmp_path)
