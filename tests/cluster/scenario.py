"""What the cluster tests run inside their network namespace, in one process: a
real two-node Ray cluster (`ray.cluster_utils.Cluster`, head and one more node
with one CPU each), a local build and a cluster build of the same sources, a
worker killed during a build, and sharded search with a shard actor killed.

Run as `python -m tests.cluster.scenario WORKDIR` (under `ip netns exec`); it
writes WORKDIR/result.json with what it saw, for the tests to assert on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant import build_index, retrieve
from assistant._settings import DEFAULT_MODEL, Settings
from assistant.embedding.onnx_export import OnnxExport
from assistant.embedding.transformer import load_embedder
from assistant.indexing.generations import read_generation, read_named_generation

from ..conftest import BRIEF_QUESTION_TEXTS, DATA, SOURCES, ReusedExport
from ..formats_fixtures import Brief, brief_docx, brief_web_page
from .netns import ray_processes

# Ray names a Ray Data pool actor's process after its class; while it runs a
# task the title gains the method (".submit").
POOL_ACTOR = "ray::MapWorker(MapBatches(_Worker))"


def _questions() -> list[str]:
    return list(BRIEF_QUESTION_TEXTS)


def _sources(root: Path) -> Path:
    folder = root / "sources"
    folder.mkdir()
    for path in [*SOURCES.iterdir(), *DATA.iterdir()]:
        if path.is_file():
            shutil.copy(path, folder / path.name)
    # extracted by the cluster's tasks, not the driver
    (folder / "port-visit.html").write_text(brief_web_page(PORT_VISIT), encoding="utf-8")
    (folder / "coast-guard-drill.docx").write_bytes(brief_docx(COAST_GUARD_DRILL))
    return folder


PORT_VISIT = Brief(
    "FIELD NOTE",
    "Tuesday, March 4, 2025",
    "A Destroyer's Port Call at Subic Bay",
    "In short",
    ["The destroyer Kirishima spent four days at Subic Bay."],
    [
        "The Japanese destroyer Kirishima docked at Subic Bay on March 1 for a four-day call.",
        "Its crew of 270 held a deck reception for Philippine navy officers and local mayors.",
        "Officials said the visit prepared a combined search-and-rescue drill planned for May.",
    ],
)
COAST_GUARD_DRILL = Brief(
    "FIELD NOTE",
    "Friday, June 13, 2025",
    "Coast Guards Rehearse a Ferry Rescue off Kagoshima",
    "In short",
    ["Three coast guards rescued 40 role players from a burning ferry."],
    [
        "Coast guard cutters from Japan, the Philippines and the United States met off Kagoshima.",
        "Crews pulled 40 role players from a ferry set alight with smoke generators.",
        "A helicopter from the cutter Akitsushima lifted two simulated casualties to hospital.",
    ],
)


def _citations(index_dir: Path, questions: list[str]) -> list[list[list[Any]]]:
    settings = Settings(index_dir=index_dir)
    return [
        [[c.source, c.start, c.end, c.chunk_id] for c in retrieve(q, k=5, settings=settings)]
        for q in questions
    ]


def _compare(local: Path, cluster: Path) -> dict[str, Any]:
    a, b = read_generation(local, with_vectors=True), read_generation(cluster, with_vectors=True)
    assert a.vectors is not None
    assert b.vectors is not None
    same_shape = a.vectors.shape == b.vectors.shape
    return {
        "chunks_equal": [c.model_dump() for c in a.chunks] == [c.model_dump() for c in b.chunks],
        "chunk_count": len(b.chunks),
        "documents_equal": a.manifest.documents == b.manifest.documents,
        # BM25 built from the terms the workers cut, bit for bit the local one
        "lexical_equal": _lexical_files(a.manifest.files) == _lexical_files(b.manifest.files),
        "temp_left": [p.name for p in b.path.parent.iterdir() if p.name.startswith(".tmp-")],
        "min_cosine": float((a.vectors * b.vectors).sum(axis=1).min()) if same_shape else -1.0,
        "min_sentence_cosine": float(
            (
                a.sentence_vectors.to_array().astype(np.float32)
                * b.sentence_vectors.to_array().astype(np.float32)
            )
            .sum(axis=1)
            .min()
        )
        if a.sentence_vectors.shape == b.sentence_vectors.shape
        else -1.0,
        "generation": b.manifest.generation,
        # The cluster's generation is made of the workers' parts, one per document.
        "format_version": b.manifest.format_version,
        "part_sources": [part.sources for part in b.manifest.parts],
        "document_order": list(b.manifest.documents),
        "single_vector_files": sorted({"vectors.npy", "sentences.npy"} & set(b.manifest.files)),
    }


def _linked_parts(index_dir: Path, before: str, after: str) -> dict[str, int]:
    """How many of generation `after`'s part files are `before`'s files, linked."""
    old, new = (read_named_generation(index_dir, name) for name in (before, after))
    names = [name for part in new.manifest.parts for name in (part.vectors, part.sentences)]
    same = [
        name
        for name in names
        if (old.path / name).exists()
        and (old.path / name).stat().st_ino == (new.path / name).stat().st_ino
    ]
    return {"files": len(names), "linked": len(same)}


def _lexical_files(files: dict[str, str]) -> dict[str, str]:
    return {name: sha for name, sha in files.items() if name.startswith("lexical/")}


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""


def _kill_a_busy_worker(stop: threading.Event, killed: list[str], seen: list[str]) -> None:
    """SIGKILL the first pool actor seen running a task (once); its title then
    names the method, e.g. `ray::MapWorker(MapBatches(_Worker)).submit`."""
    while not stop.is_set() and not killed:
        for pid in ray_processes(POOL_ACTOR):
            title = _title(pid)
            seen.append(title)
            method = title.removeprefix(POOL_ACTOR)
            if method.startswith(".") and method != ".__init__":
                os.kill(pid, signal.SIGKILL)
                killed.append(title)
                return
        time.sleep(0.005)


def _results(found: list[Any]) -> list[Any]:
    """Search results as data, scores rounded to float32 precision."""
    return [json.loads(r.model_dump_json()) for r in found]


def _sharded(address: str, index_dir: Path, sources: Path, questions: list[str]) -> dict[str, Any]:
    from assistant.cluster.build import build_on_ray
    from assistant.cluster.shards import ShardedSearch
    from assistant.search.pipeline import search

    settings = Settings(index_dir=index_dir)
    sharded = ShardedSearch(address, index_dir, shards=2, wait_seconds=120)
    out: dict[str, Any] = {}
    try:
        out["local"] = _results([search(q, 5, settings) for q in questions])
        out["sharded"] = _results([sharded.search(q, 5, settings) for q in questions])
        out["shard_pids"] = ray_processes("ray::ShardServer")
        # A second serving process finds the same actors and starts none.
        out["replica"] = _replica(address, index_dir, questions[:3])
        out["shard_pids_after_replica"] = ray_processes("ray::ShardServer")
        # A shard actor killed: Ray restarts it; the next query waits for it.
        victim = out["shard_pids"][0]
        os.kill(victim, signal.SIGKILL)
        out["killed_shard"] = victim
        out["after_restart"] = _results([sharded.search(q, 5, settings) for q in questions[:3]])
        out["shard_pids_after"] = ray_processes("ray::ShardServer")
        # Another process stops every set: this one finds its set gone, starts it again.
        ShardedSearch(address, index_dir, shards=2).close(stop_shards=True)
        out["after_stopped"] = _results([sharded.search(q, 5, settings) for q in questions[:3]])
        # A new generation: a complete new set of shard actors is swapped in.
        with (sources / "typhoon-relief.txt").open("a", encoding="utf-8") as handle:
            handle.write("\nThe relief convoy reached Ishigaki on the third day.\n")
        before = read_generation(index_dir).manifest.generation
        report = build_on_ray(address, sources, index_dir, workers=2)
        out["swap_generation"] = report.generation
        out["swap_parts"] = _linked_parts(index_dir, before, report.generation)
        question = "When did the relief convoy reach Ishigaki?"
        out["swap_local"] = _results([search(question, 5, settings)])
        out["swap_sharded"] = _results([sharded.search(question, 5, settings)])
    finally:
        sharded.close(stop_shards=True)
    # The way a program or the UI reaches the shards: settings with the address.
    through = Settings(index_dir=index_dir, ray_address=address, ray_shards=2)
    out["via_settings"] = _results([search(q, 5, through) for q in questions[:3]])
    out["via_settings_local"] = _results([search(q, 5, settings) for q in questions[:3]])
    return out


def _hnsw_shards(
    address: str, sources: Path, index_dir: Path, questions: list[str]
) -> dict[str, Any]:
    """A generation above the (lowered) exact limit: its HNSW index is built as two
    shards by two tasks, each actor loads its shard, and the answers are those of
    one reader searching the whole generation."""
    import ray

    from assistant.cluster.build import build_on_ray
    from assistant.cluster.shards import ShardedSearch
    from assistant.search.pipeline import search

    settings = Settings(sources_dir=sources, index_dir=index_dir, exact_limit=10, ray_shards=2)
    build_on_ray(address, settings=settings, workers=2)
    manifest = read_generation(index_dir).manifest
    sharded = ShardedSearch(address, index_dir, shards=2, wait_seconds=120)
    try:
        out: dict[str, Any] = {
            "format": manifest.format_version,
            "index_type": manifest.index_type,
            "index_shards": [[s.first, s.rows] for s in manifest.index_shards],
            "count": manifest.chunk_count,
            "single_file": (
                index_dir / "generations" / manifest.generation / "vectors.faiss"
            ).exists(),
            "local": _results([search(q, 5, settings) for q in questions]),
            "sharded": _results([sharded.search(q, 5, settings) for q in questions]),
        }
        actors = sharded.actors(manifest.generation, manifest.chunk_count)
        out["origins"] = ray.get([actor.index_origin.remote() for actor in actors])
    finally:
        sharded.close(stop_shards=True)
    return out


def _replica(address: str, index_dir: Path, questions: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.cluster.replica", address, str(index_dir), *questions],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _command_line(address: str, sources: Path, index_dir: Path) -> dict[str, Any]:
    """`assistant build --ray ADDRESS` as a user types it (a second driver)."""
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "build", "--ray", address, "--quiet",
         "--sources", str(sources), "--index", str(index_dir)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return {"returncode": done.returncode, "stdout": done.stdout[-2000:]}


def main(workdir: Path, export: OnnxExport) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from assistant.cluster.build import build_on_ray

    result: dict[str, Any] = {}
    started = time.monotonic()
    model = load_embedder(DEFAULT_MODEL)
    embedder = ReusedExport(model, export)
    sources = _sources(workdir)
    questions = _questions()

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes(timeout=60)
        ray.init(address=cluster.address, logging_level="ERROR")
        result["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        result["node_addresses"] = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
        result["cluster_seconds"] = time.monotonic() - started

        local, remote = workdir / "local", workdir / "cluster"
        build_index(sources, local, embedder=embedder)
        report = build_on_ray(cluster.address, sources, remote, embedder=embedder, workers=2)
        result["build"] = {
            "chunks_embedded": report.chunks_embedded,
            "query_encoder": report.query_encoder,
            **_compare(local, remote),
        }
        result["citations_local"] = _citations(local, questions)
        result["citations_cluster"] = _citations(remote, questions)

        # A worker killed during a build: Ray restarts the actor and retries its task.
        stop, killed, seen = threading.Event(), [], []
        killer = threading.Thread(target=_kill_a_busy_worker, args=(stop, killed, seen))
        killer.start()
        try:
            again = build_on_ray(cluster.address, sources, remote, force=True, workers=2)
        finally:
            stop.set()
            killer.join()
        result["kill"] = {
            "killed": killed,
            "generation_before": result["build"]["generation"],
            "titles": sorted(set(seen))[:5],
            "chunks_embedded": again.chunks_embedded,
            **_compare(local, remote),
        }
        result["citations_after_kill"] = _citations(remote, questions)
        result["shards"] = _sharded(cluster.address, remote, sources, questions)
        result["command_line"] = _command_line(cluster.address, sources, workdir / "cli")
        result["command_line"].update(_compare(remote, workdir / "cli"))
        result["hnsw"] = _hnsw_shards(cluster.address, sources, workdir / "hnsw", questions)
    finally:
        ray.shutdown()
        cluster.shutdown()
    result["seconds"] = time.monotonic() - started
    (workdir / "result.json").write_text(json.dumps(result, indent=1))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    # argv: the work folder, and the test session's ONNX export as JSON (copied,
    # then verified against the model by every build, as `ReusedExport` does)
    fields = json.loads(sys.argv[2])
    main(
        Path(sys.argv[1]),
        OnnxExport(**{k: Path(v) if k in ("graph", "weights", "tokenizer") else v
                      for k, v in fields.items()}),
    )  # fmt: skip
