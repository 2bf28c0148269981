"""A large generation opens at once and is verified in the background: an intact
one serves and verifies, a damaged one is refused as soon as its hash is known,
and the previous generation serves from then on."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import IndexCorruptError, Settings, retrieve
from assistant.indexing.generations import read_generation
from assistant.indexing.verification import Verification
from assistant.search.searcher import load_searcher

DAMAGED = "lexical/plain.scores.npy"  # written fresh by every build, never linked


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_intact_generation_opens_at_once_and_verifies(
    two_generations: tuple[Path, Path],
) -> None:
    index_dir, _ = two_generations
    generation = read_generation(index_dir, verify_later_bytes=0)
    assert generation.verification is not None
    assert not generation.index_file.is_read  # read by the first query (hashed meanwhile)
    assert generation.verification.wait() is None
    assert generation.index.count == generation.manifest.chunk_count
    # below the limit, nothing changes: verified before it serves
    assert read_generation(index_dir, verify_later_bytes=1 << 40).verification is None


@pytest.mark.parametrize("damaged", [DAMAGED, "vectors.faiss", "chunks.jsonl", "sentences.npy"])
def test_a_damaged_generation_is_refused_once_its_hash_is_known(
    two_generations: tuple[Path, Path], damaged: str
) -> None:
    index_dir, live = two_generations
    _flip(live / damaged)
    generation = read_generation(index_dir, verify_later_bytes=0)  # opens: not hashed yet
    error = generation.verification.wait() if generation.verification else None
    assert isinstance(error, IndexCorruptError)
    assert damaged in str(error)
    # refused from now on, even where it would be verified first
    with pytest.raises(IndexCorruptError, match="does not match its checksum"):
        read_generation(index_dir)
    served = read_generation(index_dir, fallback=True, verify_later_bytes=0)
    assert served.manifest.generation != live.name
    assert served.fallback_reason is not None
    assert damaged in served.fallback_reason


def test_queries_move_to_the_previous_generation_once_the_live_one_fails(
    two_generations: tuple[Path, Path],
) -> None:
    index_dir, live = two_generations
    _flip(live / DAMAGED)
    first = load_searcher(index_dir, verify_later_mb=0)
    assert first.generation.manifest.generation == live.name
    assert first.generation.verification is not None
    assert first.generation.verification.wait() is not None
    settings = Settings(index_dir=index_dir, verify_later_mb=0)
    found = retrieve("When did the relief convoy reach Okinawa?", k=3, settings=settings)
    then = load_searcher(index_dir, verify_later_mb=0)
    assert then.generation.manifest.generation != live.name
    assert then.generation.fallback_reason is not None
    # the previous generation never held the typhoon note
    assert all(c.source != "typhoon-relief.txt" for c in found)
    assert {c.generation for c in found} == {then.generation.manifest.generation}


def test_wait_reports_a_mismatch_found_by_the_last_hash(tmp_path: Path) -> None:
    """A future wakes `wait()` before its done callback runs: the mismatch must be
    reported all the same, every time (the interleaving is rare, hence 50 rounds; it
    made the damaged-generation test above fail once under load)."""
    (tmp_path / "chunks.jsonl").write_bytes(b"{}\n" * 1000)

    def corrupt(path: Path) -> IndexCorruptError:
        return IndexCorruptError(f"{path.name} does not match its checksum")

    for _ in range(50):
        verification = Verification(tmp_path, {"chunks.jsonl": "0" * 64}, 2, corrupt, corrupt)
        verification.submit("chunks.jsonl")
        verification.started()
        error = verification.wait()
        assert isinstance(error, IndexCorruptError)
        assert "chunks.jsonl" in str(error)
