"""The assistant on a real two-node Ray cluster, inside a network namespace the
test makes (see `netns`): a cluster build gives the local build's index, a worker
killed during a build is retried, two shard actors answer what the single index
answers, a killed shard is restarted, and a new generation is swapped in whole.

Everything runs once, in `scenario.py` under `ip netns exec`, bounded by a
timeout; the namespace and every process left in it are removed afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ReusedExport
from .netns import namespace, why_not_available

ROOT = Path(__file__).resolve().parents[2]
# The scenario takes about two minutes on two cores; a hung cluster is cut here.
TIMEOUT_SECONDS = 600

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(why_not_available() is not None, reason=str(why_not_available())),
]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory, embedder: ReusedExport) -> dict[str, Any]:
    """What the scenario saw (result.json), run once for this module."""
    workdir = tmp_path_factory.mktemp("cluster")
    export = json.dumps(dataclasses.asdict(embedder.export), default=str)  # paths as text
    with namespace() as name:
        scenario = [sys.executable, "-m", "tests.cluster.scenario", str(workdir), export]
        done = subprocess.run(
            ["ip", "netns", "exec", name, *scenario],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0:
        pytest.fail(f"the cluster scenario failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads((workdir / "result.json").read_text())
    return result


def test_the_cluster_has_two_nodes_inside_the_namespace(seen: dict[str, Any]) -> None:
    assert seen["nodes"] == 2
    assert seen["node_addresses"] == ["10.77.0.1"]


def test_a_cluster_build_gives_the_local_build(seen: dict[str, Any]) -> None:
    build = seen["build"]
    assert build["query_encoder"] == "onnx"
    assert build["chunks_embedded"] == build["chunk_count"] > 20
    assert build["chunks_equal"]
    assert build["documents_equal"]
    assert build["lexical_equal"]
    assert build["temp_left"] == []  # the workers' shard files went with the staging folder
    assert build["min_cosine"] >= 0.9999
    assert build["min_sentence_cosine"] >= 0.999  # stored in float16
    assert seen["citations_cluster"] == seen["citations_local"]


def test_a_cluster_generation_is_made_of_the_workers_parts(seen: dict[str, Any]) -> None:
    build = seen["build"]
    assert build["format_version"] == 5
    # one part per document, in row order; no single vectors.npy / sentences.npy
    assert build["part_sources"] == [[source] for source in build["document_order"]]
    assert build["single_vector_files"] == []
    # the next build links every unchanged document's part, and writes one
    parts = seen["shards"]["swap_parts"]
    assert parts["files"] == 2 * len(build["document_order"])
    assert parts["linked"] == parts["files"] - 2


def test_a_worker_killed_during_a_build_is_retried(seen: dict[str, Any]) -> None:
    kill = seen["kill"]
    assert len(kill["killed"]) == 1
    assert kill["killed"][0].startswith("ray::MapWorker(MapBatches(_Worker)).")
    assert kill["generation"] != kill["generation_before"]
    assert kill["chunks_embedded"] == kill["chunk_count"]
    assert kill["chunks_equal"]
    assert kill["lexical_equal"]
    assert kill["temp_left"] == []
    assert kill["min_cosine"] >= 0.9999
    assert seen["citations_after_kill"] == seen["citations_local"]


def test_two_shards_answer_what_the_single_index_answers(seen: dict[str, Any]) -> None:
    shards = seen["shards"]
    assert len(shards["shard_pids"]) == 2
    assert len(shards["local"]) > 10
    # Citations, scores, highlights and abstention signals alike.
    assert shards["sharded"] == shards["local"], _first_difference(
        shards["sharded"], shards["local"]
    )


def _first_difference(found: Any, expected: Any, where: str = "") -> str:
    """Where two JSON values first differ, for a failure message."""
    if isinstance(found, dict) and isinstance(expected, dict):
        for key in sorted(set(found) | set(expected)):
            if found.get(key) != expected.get(key):
                return _first_difference(found.get(key), expected.get(key), f"{where}.{key}")
    if isinstance(found, list) and isinstance(expected, list) and len(found) == len(expected):
        for i, (a, b) in enumerate(zip(found, expected, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where}: {found!r} != {expected!r}"[:2000]


def test_a_second_serving_process_shares_the_shard_actors(seen: dict[str, Any]) -> None:
    shards = seen["shards"]
    replica = shards["replica"]
    assert "error" not in replica, replica.get("error")
    assert replica["results"] == shards["local"][:3]
    # it found the running set by name: no actor started, none stopped
    assert sorted(replica["pids"]) == sorted(shards["shard_pids"])
    assert sorted(shards["shard_pids_after_replica"]) == sorted(shards["shard_pids"])
    # a set another process stopped is started again by the next query
    assert shards["after_stopped"] == shards["local"][:3]


def test_a_killed_shard_is_restarted_and_the_query_waits_for_it(seen: dict[str, Any]) -> None:
    shards = seen["shards"]
    assert shards["killed_shard"] not in shards["shard_pids_after"]
    assert len(shards["shard_pids_after"]) == 2
    assert shards["after_restart"] == shards["local"][:3]


def test_a_new_generation_is_served_by_new_shards(seen: dict[str, Any]) -> None:
    shards = seen["shards"]
    assert shards["swap_sharded"] == shards["swap_local"]
    first = shards["swap_sharded"][0]["citations"][0]
    assert first["generation"] == shards["swap_generation"]
    assert "Ishigaki" in first["text"]


def test_settings_with_an_address_search_through_the_shards(seen: dict[str, Any]) -> None:
    shards = seen["shards"]
    assert shards["via_settings"] == shards["via_settings_local"]


def test_the_command_line_builds_on_the_cluster(seen: dict[str, Any]) -> None:
    command = seen["command_line"]
    assert command["returncode"] == 0, command["stdout"]
    assert command["chunks_equal"]
    assert command["lexical_equal"]
    assert command["min_cosine"] >= 0.9999


def test_an_hnsw_generation_is_sharded_as_its_actors_serve_it(seen: dict[str, Any]) -> None:
    """Above the exact limit the index is built as one HNSW shard per actor's rows
    (in parallel tasks); each actor loads its shard, so two actors answer exactly
    what one reader of the whole generation answers."""
    hnsw = seen["hnsw"]
    count = hnsw["count"]
    assert (hnsw["format"], hnsw["index_type"]) == (6, "hnsw-ip")
    half = round(count / 2)
    assert hnsw["index_shards"] == [[0, half], [half, count - half]]
    assert hnsw["single_file"] is False
    assert hnsw["origins"] == ["stored", "stored"]
    assert hnsw["sharded"] == hnsw["local"]
