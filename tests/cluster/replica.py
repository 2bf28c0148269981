"""A second serving process (a UI replica) searching the same index folder
through the cluster: run by `scenario.py` as `python -m tests.cluster.replica
ADDRESS INDEX QUESTION...`; prints its results and the shard actors it saw as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from assistant._settings import Settings
from assistant.cluster.shards import ShardedSearch

from .netns import ray_processes


def main(address: str, index_dir: Path, questions: list[str]) -> None:
    settings = Settings(index_dir=index_dir)
    sharded = ShardedSearch(address, index_dir, shards=2, wait_seconds=120)
    try:
        found = [sharded.search(q, 5, settings) for q in questions]
        pids = ray_processes("ray::ShardServer")
    finally:
        sharded.close()  # the shared actors keep serving the other processes
    print(json.dumps({"results": [json.loads(r.model_dump_json()) for r in found], "pids": pids}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
