"""Vector index at scale: synthetic corpora of 10k, 100k and 1M passages.

Vectors are synthetic (unit vectors around 2,000 cluster centres, as sentence
embeddings cluster by topic); the index is the product's own `VectorIndex`, kind
chosen by `choose_index_type` (exact up to 50k, HNSW above). Reported per size:
build time, index memory (serialized size, which is what a reader holds), search
p50/p99 over 300 noisy queries, recall@10 against exact search, and how each grows
with N. Writes `benchmarks/scale.png`.

Run: `python -m benchmarks.scale [--sizes 10000 100000 1000000]`.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np

from assistant.indexing.vectors import VectorIndex, choose_index_type, exact_top_k

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
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
