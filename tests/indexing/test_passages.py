"""Passages read a line at a time from a mapped `chunks.jsonl`, checked when read;
a generation written before `chunks.rows.npy` existed still opens."""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from pathlib import Path

import numpy as np
import pytest

from assistant import IndexCorruptError, retrieve
from assistant._types import Chunk, Span
from assistant.indexing.generations import GENERATIONS, current_generation, read_generation
from assistant.indexing.passages import Passages, check_rows, encode_passages, map_text

QUESTION = "Who is Japan's defense minister?"


def _chunk(id: int, text: str, sentences: int) -> Chunk:
    start = 10 * id
    spans = [Span(start=start, end=start + len(text))] * sentences
    return Chunk(id=id, source="a.txt", start=start, end=start + len(text), text=text,
                 sentences=spans, tokens=3)  # fmt: skip


CHUNKS = [
    _chunk(0, "First passage.", 1),
    # U+2028 and U+0085 stay unescaped in JSON: lines are found by offsets, never split
    _chunk(1, "Line\u2028separator and next\u0085line, «quoted» 東京.", 2),
    _chunk(2, "Third.", 3),
]


def _passages(tmp_path: Path, chunks: list[Chunk] = CHUNKS) -> Passages:
    text, rows = encode_passages(chunks)
    (tmp_path / "chunks.jsonl").write_bytes(text)
    return Passages(map_text(tmp_path / "chunks.jsonl"), rows, tmp_path / "chunks.jsonl")


def test_passages_read_back_as_written(tmp_path: Path) -> None:
    passages = _passages(tmp_path)
    assert len(passages) == 3
    assert list(passages) == CHUNKS
    assert passages[-1] == CHUNKS[2]
    assert passages[np.int64(1)] == CHUNKS[1]  # rows found by FAISS are numpy integers
    assert passages[1:] == CHUNKS[1:]
    assert passages.sentence_rows.tolist() == [0, 1, 3]
    with pytest.raises(IndexError):
        passages[3]


def test_the_row_table_is_the_offsets_and_first_sentences() -> None:
    text, rows = encode_passages(CHUNKS)
    lines = text.split(b"\n")[:-1]
    assert rows[:, 0].tolist() == [0, *np.cumsum([len(line) + 1 for line in lines]).tolist()]
    assert rows[:, 1].tolist() == [0, 1, 3, 6]
    assert [Chunk.model_validate_json(line) for line in lines] == CHUNKS


def test_no_passages(tmp_path: Path) -> None:
    passages = _passages(tmp_path, [])
    assert len(passages) == 0
    assert list(passages) == []


def _past_the_end(rows: np.ndarray) -> None:
    rows[-1, 0] += 1


def _not_from_zero(rows: np.ndarray) -> None:
    rows[0, 0] = 1


def _not_growing(rows: np.ndarray) -> None:
    rows[2, 0] = rows[1, 0]


def _sentences_not_from_zero(rows: np.ndarray) -> None:
    rows[0, 1] = 1


def _shrinking_sentences(rows: np.ndarray) -> None:
    rows[2, 1] = 0


@pytest.mark.parametrize(
    "damage",
    [_past_the_end, _not_from_zero, _not_growing, _sentences_not_from_zero, _shrinking_sentences],
)
def test_a_row_table_that_does_not_fit_is_refused(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    text, rows = encode_passages(CHUNKS)
    check_rows(rows, len(text), tmp_path / "chunks.rows.npy")  # as written: fits
    damage(rows)
    with pytest.raises(IndexCorruptError, match="does not match the passages"):
        check_rows(rows, len(text), tmp_path / "chunks.rows.npy")


def test_a_line_that_is_not_its_passage_is_refused_when_read(tmp_path: Path) -> None:
    text, rows = encode_passages(CHUNKS)
    # passage 1's line replaced by one of the same length with another id
    lines = text.split(b"\n")
    lines[1] = lines[1].replace(b'"id":1,', b'"id":7,')
    (tmp_path / "chunks.jsonl").write_bytes(b"\n".join(lines))
    passages = Passages(map_text(tmp_path / "chunks.jsonl"), rows, tmp_path / "chunks.jsonl")
    assert passages[0] == CHUNKS[0]  # the others still read
    with pytest.raises(IndexCorruptError, match=r"passage 1 of .* is invalid \(it has id 7\)"):
        passages[1]


def test_a_generation_maps_its_passages(brief_index: Path) -> None:
    generation = read_generation(brief_index)
    assert isinstance(generation.chunks, Passages)
    assert "chunks.rows.npy" in generation.manifest.files
    text = (generation.path / "chunks.jsonl").read_text(encoding="utf-8")
    written = [Chunk.model_validate_json(line) for line in text.split("\n")[:-1]]
    assert list(generation.chunks) == written


def test_a_generation_without_a_row_table_still_opens(brief_index: Path, tmp_path: Path) -> None:
    """Written by the previous version: passages parsed on load, same answers."""
    old = tmp_path / "index"
    shutil.copytree(brief_index, old)
    folder = old / GENERATIONS / str(current_generation(old))
    (folder / "chunks.rows.npy").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]["chunks.rows.npy"]
    (folder / "manifest.json").write_text(json.dumps(manifest))

    generation = read_generation(old)
    assert isinstance(generation.chunks, list)
    assert generation.chunks == list(read_generation(brief_index).chunks)
    assert generation.sentence_rows.tolist() == read_generation(brief_index).sentence_rows.tolist()
    assert retrieve(QUESTION, index_dir=old) == retrieve(QUESTION, index_dir=brief_index)


def test_dropped_passages_release_their_mapping_at_once(tmp_path: Path) -> None:
    """No reference cycle: a replaced generation's file is unmapped when the
    last reader drops it, not whenever the cyclic GC runs."""
    passages = _passages(tmp_path)
    passages[0]  # fills the parse cache
    gone = weakref.ref(passages)
    gc.disable()
    try:
        del passages
        assert gone() is None
    finally:
        gc.enable()
