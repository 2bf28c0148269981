"""Chunking stays linear: medians of `chunk_document` at a size and ten times it.

Three inputs, each at `n` and `10 n` characters: a report of many ordinary
paragraphs (the brief's lines, shuffled, repeated), one paragraph of prose with no
line breaks, and one line of "U.S. " repeated (pysbd's worst case, once minutes at
200 KB). Printed per input: the median time at each size, the growth ratio (10 is
linear, 100 quadratic) and the cost per character against bare pysbd on the
brief's own paragraphs, measured in the same run.

Run: `python -m benchmarks.chunking [--size 200000] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from assistant._settings import DEFAULT_MODEL, ChunkingSettings
from assistant._types import Document
from assistant.ingest.chunking import chunk_document, pysbd_segments, split_paragraphs
from assistant.ingest.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
BRIEF = ROOT / "sources" / "2024-08-16-intelbrief-us-japan-alliance-modernization.txt"


def report(brief: str, size: int) -> str:
    """Copies of the brief, each with its lines shuffled, to about `size` chars."""
    lines = brief.split("\n")
    copies: list[str] = []
    while sum(map(len, copies)) < size:
        body = lines[4:]
        random.Random(len(copies)).shuffle(body)
        copies.append("\n".join([f"Section {len(copies)}", *lines[:4], *body]))
    return "\n".join(copies)[:size]


def paragraph(brief: str, size: int) -> str:
    """The brief's prose lines joined into one line of about `size` chars."""
    prose = [line.lstrip("- ") for line in brief.split("\n") if len(line) > 150]
    joined = " ".join(prose)
    return " ".join([joined] * (size // len(joined) + 1))[:size]


def abbreviations(_brief: str, size: int) -> str:
    return ("U.S. " * (size // 5 + 1))[:size]


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="n, in characters")
    parser.add_argument("--repeat", type=int, default=3, help="runs per median")
    args = parser.parse_args(argv)

    tokenizer = load_tokenizer(DEFAULT_MODEL)
    settings = ChunkingSettings()
    brief = BRIEF.read_text(encoding="utf-8")
    texts = [brief[p.start : p.end] for p in split_paragraphs(brief)]
    pysbd_seconds = median_seconds(lambda: [pysbd_segments(t) for t in texts], args.repeat)
    pysbd_per_char = pysbd_seconds / sum(map(len, texts))
    print(f"bare pysbd on the brief's paragraphs: {pysbd_per_char * 1e6:.1f} µs/char")

    inputs = {"report": report, "one paragraph": paragraph, "'U.S. ' line": abbreviations}
    for name, make in inputs.items():
        seconds = []
        for size in (args.size, 10 * args.size):
            document = Document(source="b.txt", text=make(brief, size), sha256="0" * 64, title="b")
            run = functools.partial(chunk_document, document, tokenizer, settings)
            seconds.append(median_seconds(run, args.repeat))
        per_char = seconds[1] / (10 * args.size)
        print(
            f"{name:14s} {args.size:>9,d} chars {seconds[0]:7.2f} s  "
            f"{10 * args.size:>10,d} chars {seconds[1]:7.2f} s  "
            f"growth ×{seconds[1] / seconds[0]:5.1f} (10 = linear)  "
            f"{per_char / pysbd_per_char:4.1f}× bare pysbd per char"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
