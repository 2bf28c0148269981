"""Ray on this machine: what a worker embeds, how the pool scales, what a shard costs.

Starts a real Ray cluster (`ray.cluster_utils.Cluster`: a head and one more node,
one CPU each) inside a network namespace it makes (root; Ray never binds
loopback, see tests/cluster/netns.py), then reports:

- per-worker embedding throughput (passages/s) of the build's Ray Data actor
  pool with n = 1 and 2 workers, and Ray's efficiency: throughput with n workers
  / (n × throughput with one); beside it the same graph embedding in-process on
  one thread, which is what a worker would do without Ray;
- fan-out overhead per query with 1, 2 and 4 shard actors: the candidate step
  through the shards minus the same step in-process, over a synthetic generation.

Run (as root): `python -m benchmarks.cluster [--passages 600] [--generation 100000]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _documents(count: int) -> list[Any]:
    """Documents of eight paragraphs of the brief each (about ten passages, the
    size of a short report; one document is one task), `count` documents."""
    from assistant._types import Document

    brief = next((ROOT / "sources").glob("*.txt")).read_text(encoding="utf-8")
    paragraphs = [p for p in brief.split("\n\n") if len(p) > 200]
    return [
        Document(
            source=f"doc-{i:05d}.txt",
            text="\n\n".join(paragraphs[(i + j) % len(paragraphs)] for j in range(8)),
            sha256=f"{i:064x}",
            title=f"Doc {i}",
        )
        for i in range(count)
    ]


def _throughput(address: str, workdir: Path, passages: int) -> list[dict[str, float]]:
    import ray

    from assistant._settings import DEFAULT_MODEL, Settings
    from assistant.cluster.build import _fan_out, _spec
    from assistant.embedding.transformer import load_embedder
    from assistant.indexing.build_chunk import chunk_fresh
    from assistant.indexing.build_embed import embed_passages
    from assistant.indexing.query_encoder import open_encoder, prepare_query_encoder

    settings = Settings(index_dir=workdir / "index")
    export = workdir / "export"
    export.mkdir()
    encoder = prepare_query_encoder(lambda: load_embedder(DEFAULT_MODEL), export, None)
    assert encoder.record is not None, encoder.refused
    documents = _documents(passages)
    shards = workdir / "shards"
    (shards / "checked").mkdir(parents=True)
    spec = _spec(settings, encoder, encoder.dimension, shards)
    rows = []
    # In-process, one thread: the work one worker does, without Ray.
    local = open_encoder(
        export, spec.encoder_files, encoder.record, threads=1, shared=False,
        name=DEFAULT_MODEL, dimension=encoder.dimension,
    )  # fmt: skip
    fresh = chunk_fresh(documents, settings, False)
    # Keep the documents whose passages add up to the count asked for.
    total, kept = 0, []
    for document in documents:
        if total >= passages:
            break
        kept.append(document)
        total += len(fresh.by_source.get(document.source, []))
    documents = kept
    fresh = chunk_fresh(documents, settings, False)
    begin = time.perf_counter()
    embed_passages(local, fresh.all, documents, settings.chunking.context_prefix, False)
    count = len(fresh.all)
    rows.append({"workers": 0, "passages": count, "seconds": time.perf_counter() - begin})
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        _fan_out(ray, documents[:2], spec, 2, False)  # warm: workers, graph on disk cache
        for workers in (1, 2):
            begin = time.perf_counter()
            done = _fan_out(ray, documents, spec, workers, False)
            seconds = time.perf_counter() - begin
            rows.append(
                {"workers": workers, "passages": len(done.passages.all), "seconds": seconds}
            )
            for leftover in (shards / "checked").iterdir():  # the next run claims anew
                leftover.unlink()
    finally:
        ray.shutdown()
    return rows


def _fan_out_overhead(address: str, workdir: Path, size: int, queries: int) -> list[dict[str, Any]]:
    import ray

    from assistant._settings import Settings
    from assistant.cluster.shards import ShardedSearch
    from assistant.indexing.generations import read_generation
    from assistant.search import pipeline
    from assistant.search.searcher import load_searcher
    from benchmarks.scale import synthetic_passages, write_synthetic_generation

    index_dir = workdir / "generation"
    write_synthetic_generation(index_dir, size)
    settings = Settings(index_dir=index_dir)
    rng = np.random.default_rng(5)
    texts = synthetic_passages(size)
    rows_asked = rng.choice(size, queries, replace=False)
    questions = [
        " ".join(rng.choice(texts[int(i)].rstrip(".").split(), 4, replace=False))
        for i in rows_asked
    ]
    # The synthetic passages' vectors are clustered points, not the model's view of
    # their made-up words, so a question's vector is its passage's plus noise (as
    # HNSW's recall is tuned): near the data, as real questions are.
    matrix = read_generation(index_dir, with_vectors=True).vectors
    assert matrix is not None
    noisy = matrix[rows_asked] + rng.normal(0, 0.05, size=(queries, matrix.shape[1]))
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    vectors = {q: noisy[i].astype(np.float32) for i, q in enumerate(questions)}
    searcher = load_searcher(index_dir)
    options = settings.retrieval

    def timed(step: Any) -> tuple[list[float], list[list[int]]]:
        return _timed_top10(step, searcher, questions, vectors, options)

    # The exact 10 nearest passages (brute force): what both HNSW searches approximate.
    exact = [np.argsort(-(matrix @ vectors[q]), kind="stable")[:10].tolist() for q in questions]

    def recall(found: list[list[int]]) -> float:
        return statistics.mean(len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True))

    local, single = timed(pipeline._candidates)
    rows: list[dict[str, Any]] = [
        {"shards": 0, "p50_ms": statistics.median(local), "recall_at_10": recall(single)}
    ]
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        for shards in (1, 2, 4):
            sharded = ShardedSearch(address, index_dir, shards=shards)
            try:
                through, found = timed(sharded.candidates)
            finally:
                sharded.close(stop_shards=True)
            # HNSW is approximate: each shard's graph misses other passages than
            # the single index's; both are held against the exact 10 nearest.
            agreement = statistics.mean(
                len(set(a) & set(b)) / 10 for a, b in zip(single, found, strict=True)
            )
            rows.append(
                {
                    "shards": shards,
                    "p50_ms": statistics.median(through),
                    "overhead_ms": statistics.median(through) - statistics.median(local),
                    "top10_agreement": agreement,
                    "recall_at_10": recall(found),
                }
            )
        for shards in (2, 4):
            rows.append(_stored_shards(address, workdir, size, shards, questions, vectors, recall))
    finally:
        ray.shutdown()
    return rows


def _timed_top10(
    step: Any, searcher: Any, questions: list[str], vectors: dict[str, Any], options: Any
) -> tuple[list[float], list[list[int]]]:
    """Each question through a candidate step (after one warm-up): its milliseconds
    and its top 10 dense passages."""
    step(searcher, questions[0], vectors[questions[0]], 5, options)  # warm
    times, found = [], []
    for q in questions:
        begin = time.perf_counter()
        candidates = step(searcher, q, vectors[q], 5, options)
        times.append((time.perf_counter() - begin) * 1000)
        best = sorted(candidates.dense.items(), key=lambda item: (-item[1], item[0]))
        found.append([passage for passage, _ in best[:10]])
    return times, found


def _stored_shards(
    address: str,
    workdir: Path,
    size: int,
    shards: int,
    questions: list[str],
    vectors: dict[str, Any],
    recall: Any,
) -> dict[str, Any]:
    """The same passages in a generation whose HNSW index is stored as `shards`
    shards (as a cluster build above the exact limit writes it): the actors load
    them, and their top 10 is the one reader's of that generation."""
    from assistant._settings import Settings
    from assistant.cluster.shards import ShardedSearch, shard_ranges
    from assistant.search import pipeline
    from assistant.search.searcher import load_searcher
    from benchmarks.scale import write_synthetic_generation

    index_dir = workdir / f"stored-{shards}"
    write_synthetic_generation(index_dir, size, shard_ranges(size, shards))
    searcher = load_searcher(index_dir)
    options = Settings(index_dir=index_dir).retrieval

    def top10(step: Any) -> tuple[list[float], list[list[int]]]:
        return _timed_top10(step, searcher, questions, vectors, options)

    local, one_reader = top10(pipeline._candidates)
    sharded = ShardedSearch(address, index_dir, shards=shards)
    try:
        through, found = top10(sharded.candidates)
        generation = searcher.generation
        actors = sharded.actors(generation.manifest.generation, generation.manifest.chunk_count)
        origins = sorted(set(_ray().get([a.index_origin.remote() for a in actors])))
    finally:
        sharded.close(stop_shards=True)
    return {
        "shards": shards,
        "stored": True,
        "origins": origins,
        "p50_ms": statistics.median(through),
        "overhead_ms": statistics.median(through) - statistics.median(local),
        "top10_agreement": statistics.mean(
            len(set(a) & set(b)) / 10 for a, b in zip(one_reader, found, strict=True)
        ),
        "recall_at_10": recall(found),
    }


def _ray() -> Any:
    import ray

    return ray


def inside(workdir: Path, passages: int, size: int, queries: int) -> None:
    """The measurements, run inside the namespace; written to workdir/result.json."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes(timeout=60)
        result = {
            "throughput": _throughput(cluster.address, workdir, passages),
            "fan_out": _fan_out_overhead(cluster.address, workdir, size, queries),
        }
    finally:
        cluster.shutdown()  # type: ignore[no-untyped-call]
    (workdir / "result.json").write_text(json.dumps(result))


def report(result: dict[str, Any]) -> None:
    """Print the two tables."""
    rows = result["throughput"]
    one = next(r for r in rows if r["workers"] == 1)
    per_one = one["passages"] / one["seconds"]
    print("| embedding | passages | seconds | passages/s | per worker | Ray efficiency |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        rate = r["passages"] / r["seconds"]
        if r["workers"] == 0:
            seconds = f"{r['seconds']:.1f}"
            print(f"| in-process, 1 thread | {r['passages']} | {seconds} | {rate:.0f} | — | — |")
            continue
        n = r["workers"]
        print(
            f"| Ray Data pool, {n} worker{'s' if n > 1 else ''} | {r['passages']} "
            f"| {r['seconds']:.1f} | {rate:.0f} | {rate / n:.0f} | {rate / (n * per_one):.2f} |"
        )
    print(
        "\n| candidate step | p50 | fan-out overhead | dense recall@10 vs exact search "
        "| top-10 shared with one reader of the same generation |"
    )
    print("|---|---|---|---|---|")
    for r in result["fan_out"]:
        if r["shards"] == 0:
            print(
                f"| in-process, one index | {r['p50_ms']:.2f} ms | — "
                f"| {r['recall_at_10']:.3f} | — |"
            )
        else:
            stored = (
                f", index stored as {r['shards']} shards (actors: {', '.join(r['origins'])})"
                if r.get("stored")
                else ", each builds its own HNSW"
            )
            print(
                f"| {r['shards']} shard actor{'s' if r['shards'] > 1 else ''}{stored} "
                f"| {r['p50_ms']:.2f} ms | {r['overhead_ms']:+.2f} ms "
                f"| {r['recall_at_10']:.3f} | {r['top10_agreement']:.3f} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=600, help="passages to embed")
    parser.add_argument("--generation", type=int, default=100_000, help="passages to shard")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--inside", metavar="WORKDIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        inside(Path(args.inside), args.passages, args.generation, args.queries)
        return 0
    from tests.cluster.netns import namespace, why_not_available

    reason = why_not_available()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder, namespace() as name:
        command = [sys.executable, "-m", "benchmarks.cluster", "--inside", folder]
        command += ["--passages", str(args.passages), "--generation", str(args.generation)]
        command += ["--queries", str(args.queries)]
        subprocess.run(["ip", "netns", "exec", name, *command], cwd=ROOT, check=True, timeout=3000)
        report(json.loads((Path(folder) / "result.json").read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
