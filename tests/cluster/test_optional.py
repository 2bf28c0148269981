"""Ray is an optional extra: the default path never imports it, and the cluster
functions that need it say how to get it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from assistant._errors import ClusterError
from assistant.cluster import connect as connect_module
from assistant.cluster.connect import cluster_address
from assistant.cluster.shards import shard_ranges

PROBE = """
import json, sys
import assistant
from assistant import build_index, retrieve, ask
import assistant.cli, assistant.search.pipeline, assistant.indexing.build
import assistant.cluster, assistant.cluster.connect, assistant.cluster.build
import assistant.cluster.shards
print(json.dumps(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))))
"""


def test_the_default_path_never_imports_ray() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == []


def test_without_ray_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ClusterError, match=r"pip install -e '\.\[cluster\]'"):
        connect_module._ray()


def test_the_address_comes_from_the_flag_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ASSISTANT_RAY_ADDRESS", raising=False)
    assert cluster_address(None) is None
    monkeypatch.setenv("ASSISTANT_RAY_ADDRESS", "auto")
    assert cluster_address(None) == "auto"
    assert cluster_address("10.0.0.5:6379") == "10.0.0.5:6379"


def test_shards_cover_every_passage_once() -> None:
    assert shard_ranges(27, 2) == [(0, 14), (14, 27)]
    assert shard_ranges(3, 4) == [(0, 1), (1, 2), (2, 3)]
    for count in (1, 5, 100, 1001):
        for shards in (1, 2, 3, 7):
            ranges = shard_ranges(count, shards)
            assert ranges[0][0] == 0
            assert ranges[-1][1] == count
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
