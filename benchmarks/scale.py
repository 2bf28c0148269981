"""Vector index at scale: synthetic corpora of 10k, 100k and 1M passages.

Vectors are synthetic (unit vectors around 2,000 cluster centres, as sentence
embeddings cluster by topic); the index is the product's own `VectorIndex`, kind
chosen by `choose_index_type` (exact up to 50k, HNSW above). Reported per size:
build time, index memory (serialized size, which is what a reader holds), search
p50/p99 over 300 noisy queries, recall@10 against exact search, and how each grows
with N. Writes `benchmarks/scale.png`.

With `--generations`, it also writes a whole synthetic generation per size
(passages of Zipf-distributed words, three sentences each, the product's own
`write_generation`, which stores the BM25 indexes) and reports what opening it
costs (`load_searcher` with its lexical index, against rebuilding BM25 and the
word sets from the passages as every process did before), and the whole query
path of `search()`: dense + lexical + fusion + selection + highlights + citations
(the question's embedding is timed apart: it does not grow with the corpus).

Run: `python -m benchmarks.scale [--sizes 10000 100000 1000000] [--generations]`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import itertools
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from assistant._settings import DEFAULT_MODEL, ChunkingSettings, Settings
from assistant._types import (
    FORMAT_VERSION,
    SHARDED_FORMAT_VERSION,
    Chunk,
    DocumentRecord,
    Manifest,
    Span,
)
from assistant.indexing.generations import new_generation_id, write_generation
from assistant.indexing.lexical import LexicalIndex, content_terms
from assistant.indexing.vectors import HNSW_IP, VectorIndex, choose_index_type, exact_top_k

DIMENSION = 384
PLOT = Path(__file__).with_name("scale.png")


def clustered_vectors(count: int, seed: int = 0) -> np.ndarray:
    """Unit float32 vectors in clusters, generated in blocks to bound memory."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, DIMENSION)).astype(np.float32)
    vectors = np.empty((count, DIMENSION), dtype=np.float32)
    for first in range(0, count, 100_000):
        size = min(100_000, count - first)
        block = centres[rng.integers(0, len(centres), size)]
        block += rng.normal(scale=0.8, size=(size, DIMENSION)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[first : first + size] = block
    return vectors


def measure(count: int) -> dict[str, float | str]:
    vectors = clustered_vectors(count)
    started = time.perf_counter()
    index = VectorIndex.build(vectors, choose_index_type(count))
    build_seconds = time.perf_counter() - started
    memory_mb = len(index.to_bytes()) / 1e6

    rng = np.random.default_rng(99)
    picks = rng.choice(count, size=300, replace=False)
    queries = vectors[picks] + rng.normal(scale=0.05, size=(300, DIMENSION)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    latencies = []
    found = []
    for query in queries:
        begin = time.perf_counter()
        hits = index.search(query, 10)
        latencies.append((time.perf_counter() - begin) * 1000)
        found.append({i for i, _ in hits})
    exact = exact_top_k(vectors, queries, 10)
    recall = statistics.fmean(
        len(f & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)
    )
    latencies.sort()
    return {
        "n": count,
        "kind": index.index_type,
        "ef_search": index.parameters.ef_search or 0,
        "build_s": build_seconds,
        "memory_mb": memory_mb,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "recall": recall,
    }


def synthetic_passages(count: int, seed: int = 0) -> list[str]:
    """Passages of three sentences, 20 words each, from a Zipf vocabulary of 50k
    made-up words (the shape of real text: a few words everywhere, most rare)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}x" for i in range(50_000)])
    passages = []
    for first in range(0, count, 100_000):
        size = min(100_000, count - first)
        ids = np.minimum(rng.zipf(1.3, size=(size, 60)) - 1, len(words) - 1)
        for row in words[ids]:
            passages.append(
                " ".join(row[:20]) + ". " + " ".join(row[20:40]) + ". " + " ".join(row[40:]) + "."
            )
    return passages


def write_synthetic_generation(
    index_dir: Path, count: int, index_shards: list[tuple[int, int]] | None = None
) -> float:
    """A generation of `count` synthetic passages in 1,000 documents; returns the
    seconds `write_generation` took (vector index built before, not counted).
    With `index_shards` (runs of rows, above the exact limit) its HNSW index is
    stored as one index per run, as a cluster build stores it (format 6)."""
    texts = synthetic_passages(count)
    per_document = max(1, count // 1000)
    chunks = []
    for i, text in enumerate(texts):
        source = f"doc-{i // per_document:05d}.txt"
        start = (i % per_document) * (len(text) + 1)
        ends = [text.index(".") + 1, text.index(".", text.index(".") + 1) + 1, len(text)]
        starts = [0, ends[0] + 1, ends[1] + 1]
        spans = [Span(start=start + a, end=start + b) for a, b in zip(starts, ends, strict=True)]
        chunks.append(
            Chunk.model_construct(
                id=i, source=source, start=start, end=start + len(text), text=text, tokens=90,
                sentences=spans,
            )
        )  # fmt: skip
    documents = {
        c.source: DocumentRecord(sha256="0" * 64, title=f"Report {c.source}", chunks=per_document)
        for c in chunks
    }
    vectors = clustered_vectors(count)
    rng = np.random.default_rng(7)
    sentences = np.repeat(vectors, 3, axis=0).astype(np.float16)
    sentences += rng.normal(scale=0.01, size=(1, DIMENSION)).astype(np.float16)
    index_type = choose_index_type(count)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        generation=new_generation_id(),
        built_at=dt.datetime.now(dt.UTC),
        model=DEFAULT_MODEL,
        dimension=DIMENSION,
        index_type=index_type,
        chunking=ChunkingSettings(),
        chunk_count=count,
        documents=documents,
        files={},
    )
    (index_dir / "generations").mkdir(parents=True, exist_ok=True)
    if index_shards and index_type == HNSW_IP:
        return _write_sharded(index_dir, manifest, chunks, vectors, sentences, index_shards)
    index = VectorIndex.build(vectors, index_type)
    manifest = manifest.model_copy(update={"index_parameters": index.parameters})
    started = time.perf_counter()
    write_generation(index_dir, manifest, chunks, vectors, sentences, index)
    return time.perf_counter() - started


def _write_sharded(
    index_dir: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    vectors: np.ndarray,
    sentences: np.ndarray,
    runs: list[tuple[int, int]],
) -> float:
    """`write_synthetic_generation` with its vector index stored as shards, built
    and staged as the cluster's indexing tasks build them."""
    from assistant.indexing.generations import lexical_terms
    from assistant.indexing.search_files import (
        index_shard_name,
        search_files,
        staged_search_files,
        write_lexical_files,
        write_vector_index,
    )

    staging = Path(tempfile.mkdtemp(prefix="shards-", dir=index_dir))
    try:
        written = [
            write_vector_index(
                staging, index_shard_name(a, b), vectors[a:b], manifest.index_type, a
            )
            for a, b in runs
        ]
        lexical = write_lexical_files(staging, lexical_terms(chunks, manifest.documents))
        search = search_files(written, lexical, manifest.index_type)
        manifest = manifest.model_copy(
            update={
                "format_version": SHARDED_FORMAT_VERSION,
                "index_shards": search.index_shards,
                "index_parameters": search.index_parameters,
            }
        )
        started = time.perf_counter()
        write_generation(
            index_dir,
            manifest,
            chunks,
            vectors,
            sentences,
            None,
            staged_search_files(staging, search),
        )
        return time.perf_counter() - started
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Embedded:
    """Hands `search()` the vectors the real model made beforehand."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def encode_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


def measure_generation(count: int, queries: int = 100) -> dict[str, float | str]:
    """Write, open and query one synthetic generation of `count` passages."""
    from assistant._files import sha256_file
    from assistant.embedding.transformer import load_embedder
    from assistant.indexing.generations import CHUNKS, _parse_chunks
    from assistant.search import pipeline
    from assistant.search import searcher as searcher_module
    from assistant.search.pipeline import search

    folder = Path(tempfile.mkdtemp(prefix="scale-generation-"))
    try:
        write_seconds = write_synthetic_generation(folder, count)
        searcher_module._cache.clear()
        gc.collect()
        started = time.perf_counter()
        searcher = searcher_module.load_searcher(folder)
        lexical = searcher.lexical(True)
        load_seconds = time.perf_counter() - started
        generation = searcher.generation
        later = _open_verifying_later(folder)

        # What opening still reads whole: every file, against its checksum.
        started = time.perf_counter()
        for name in generation.manifest.files:
            sha256_file(generation.path / name)
        checksum_seconds = time.perf_counter() - started
        opening = _open_side_by_side(folder)

        # What opening did before passages were mapped: validate every passage of
        # chunks.jsonl into a `Chunk`.
        data = (generation.path / CHUNKS).read_bytes()
        started = time.perf_counter()
        _parse_chunks(data, generation.path)
        parse_seconds = time.perf_counter() - started
        del data

        # What every process did before BM25 was stored: index the passages in
        # context and cut every passage into words, on load.
        started = time.perf_counter()
        texts = [searcher.in_context[i] for i in range(count)]
        LexicalIndex(texts)
        _ = [searcher.words[i] for i in range(count)]
        rebuild_seconds = time.perf_counter() - started

        rng = np.random.default_rng(3)
        questions = []
        for row in rng.choice(count, size=queries, replace=False):
            words = generation.chunks[int(row)].text.rstrip(".").split()
            questions.append(" ".join(words[i] for i in rng.choice(len(words), 4, replace=False)))
        settings = Settings(index_dir=folder)
        embedder = load_embedder(DEFAULT_MODEL)
        embed, vectors = [], {}
        for question in questions:
            begin = time.perf_counter()
            vectors[question] = embedder.encode_query(question)
            embed.append((time.perf_counter() - begin) * 1000)
        # The query path alone: the question's vector as the model made it above.
        # (replaced by name: `_Embedded` answers only what `search` asks of an embedder)
        setattr(pipeline, "embedder_for", lambda generation, settings: _Embedded(vectors))  # noqa: B010
        try:
            search(questions[0], 5, settings)  # warm: the mapped pages
            lexical_ms, path = [], []
            for question in questions:
                begin = time.perf_counter()
                lexical.scores(content_terms(question))
                lexical_ms.append((time.perf_counter() - begin) * 1000)
                begin = time.perf_counter()
                search(question, 5, settings)
                path.append((time.perf_counter() - begin) * 1000)
        finally:
            setattr(pipeline, "embedder_for", searcher_module.embedder_for)  # noqa: B010
        path.sort()
        return {
            "n": count,
            "kind": generation.manifest.index_type,
            "write_s": write_seconds,
            "parse_chunks_s": parse_seconds,
            "checksum_s": checksum_seconds,
            **opening,
            "load_searcher_s": load_seconds,
            **later,
            "rebuild_s": rebuild_seconds,
            "embed_p50_ms": statistics.median(embed),
            "lexical_p50_ms": statistics.median(lexical_ms),
            "path_p50_ms": path[len(path) // 2],
            "path_p99_ms": path[int(len(path) * 0.99) - 1],
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _open_verifying_later(folder: Path) -> dict[str, float]:
    """`load_searcher` of a generation verified in the background
    (`verify_later_mb=0`): the open, then the FAISS index the first query reads,
    then the wait until every file is verified, each from the open."""
    from assistant.search import searcher as searcher_module

    searcher_module._cache.clear()
    gc.collect()
    started = time.perf_counter()
    searcher = searcher_module.load_searcher(folder, verify_later_mb=0)
    opened = time.perf_counter() - started
    verification = searcher.generation.verification
    assert verification is not None
    _ = searcher.generation.index  # what the first query reads
    index_read = time.perf_counter() - started
    failure = verification.wait()
    assert failure is None, failure
    verified = time.perf_counter() - started
    searcher_module._cache.clear()
    return {"later_open_s": opened, "later_index_s": index_read, "later_verified_s": verified}


def _open_side_by_side(folder: Path, trials: int = 3) -> dict[str, float]:
    """`read_generation` with the files hashed on `HASH_THREADS` threads while it
    goes on, and one after the other as before, alternated; medians."""
    from assistant.indexing import generations

    parallel = generations._hashing_ahead

    @contextlib.contextmanager
    def one_at_a_time(*_: object) -> Iterator[None]:
        yield

    seconds: dict[str, list[float]] = {"open_parallel_s": [], "open_sequential_s": []}
    try:
        for _ in range(trials):
            for key, ahead in (("open_sequential_s", one_at_a_time), ("open_parallel_s", parallel)):
                generations._hashing_ahead = ahead  # type: ignore[assignment]
                gc.collect()
                started = time.perf_counter()
                generations.read_generation(folder)
                seconds[key].append(time.perf_counter() - started)
    finally:
        generations._hashing_ahead = parallel
    return {key: statistics.median(values) for key, values in seconds.items()}


def generation_table(sizes: list[int]) -> None:
    """Print `measure_generation` for each size as a Markdown table."""
    print(
        "\n| passages | index | write generation | load_searcher (stored BM25, mapped passages) "
        "| of which checksums | read_generation: files hashed in parallel / one at a time "
        "| before: + parsing every passage | before that: + rebuilding "
        "BM25 and word sets | BM25 scores p50 | query path p50 (without embedding) | p99 "
        "| query embedding p50 | verified in the background: open / + FAISS read / all verified |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for count in sizes:
        r = measure_generation(count)
        print(
            f"| {count:,} | {r['kind']} | {r['write_s']:.1f} s | {r['load_searcher_s']:.2f} s "
            f"| {r['checksum_s']:.2f} s "
            f"| {r['open_parallel_s']:.2f} s / {r['open_sequential_s']:.2f} s "
            f"| {r['parse_chunks_s']:.2f} s | {r['rebuild_s']:.1f} s "
            f"| {r['lexical_p50_ms']:.2f} ms | {r['path_p50_ms']:.1f} ms "
            f"| {r['path_p99_ms']:.1f} ms | {r['embed_p50_ms']:.1f} ms "
            f"| {r['later_open_s']:.3f} s / {r['later_index_s']:.2f} s "
            f"/ {r['later_verified_s']:.2f} s |",
            flush=True,
        )


def plot(rows: list[dict[str, float | str]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [float(r["n"]) for r in rows]
    figure, (latency, memory) = plt.subplots(1, 2, figsize=(9, 3.4))
    latency.plot(sizes, [r["p50_ms"] for r in rows], "o-", label="p50")
    latency.plot(sizes, [r["p99_ms"] for r in rows], "s--", label="p99")
    latency.set(xscale="log", yscale="log", xlabel="passages", ylabel="search ms")
    latency.legend()
    latency.set_title("search latency (k=10)")
    memory.plot(sizes, [r["memory_mb"] for r in rows], "o-", color="tab:green")
    memory.set(xscale="log", yscale="log", xlabel="passages", ylabel="index MB")
    memory.set_title("index memory")
    for axis in (latency, memory):
        for row in rows:
            axis.annotate(
                str(row["kind"]),
                (float(row["n"]), 1),
                xycoords=("data", "axes fraction"),
                xytext=(0, -12),
                textcoords="offset points",
                fontsize=7,
                ha="center",
            )
    figure.tight_layout()
    figure.savefig(PLOT, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--generations",
        action="store_true",
        help="also write whole generations: load_searcher and the whole query path",
    )
    parser.add_argument(
        "--generations-only", action="store_true", help="only the whole-generation table"
    )
    args = parser.parse_args(argv)
    if args.generations_only:
        generation_table(args.sizes)
        return 0
    rows = []
    print("| passages | index | efSearch | build | index memory | search p50 | p99 | recall@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for count in args.sizes:
        row = measure(count)
        rows.append(row)
        print(
            f"| {count:,} | {row['kind']} | {row['ef_search'] or '—'} | {row['build_s']:.1f} s "
            f"| {row['memory_mb']:.0f} MB | {row['p50_ms']:.2f} ms | {row['p99_ms']:.2f} ms "
            f"| {row['recall']:.3f} |",
            flush=True,
        )
    for before, after in itertools.pairwise(rows):
        growth = float(after["n"]) / float(before["n"])
        print(
            f"{before['n']:,} → {after['n']:,} (×{growth:.0f}): build ×"
            f"{float(after['build_s']) / float(before['build_s']):.1f}, memory ×"
            f"{float(after['memory_mb']) / float(before['memory_mb']):.1f}, p50 ×"
            f"{float(after['p50_ms']) / float(before['p50_ms']):.1f}"
        )
    plot(rows)
    print(f"plot: {PLOT}")
    if args.generations:
        generation_table(args.sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
