"""A network namespace of the test's own, for a multi-node Ray cluster.

On Linux Ray never binds loopback: it resolves 127.0.0.1 to the machine's
interface address. Inside a namespace with a veth pair (10.77.0.1/24 ↔
10.77.0.2/24, default route through the pair) every Ray process started there
uses 10.77.0.1, and no packet leaves the namespace. Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NAMESPACE_PREFIX", "namespace", "ray_processes", "why_not_available"]

NAMESPACE_PREFIX = "assistant-ray-"
_SETUP = [
    "ip link set lo up",
    "ip link add rv0 type veth peer name rv1",
    "ip addr add 10.77.0.1/24 dev rv0",
    "ip addr add 10.77.0.2/24 dev rv1",
    "ip link set rv0 up",
    "ip link set rv1 up",
    "ip route add default via 10.77.0.2 dev rv0",
]


def why_not_available() -> str | None:
    """Why these tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "creating a network namespace for the Ray cluster needs root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed: pip install -e '.[cluster]'"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A fresh namespace set up as above; deleted afterwards, whatever happens, after
    every process left inside it is killed."""
    name = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}"
    _ip("netns", "add", name)
    try:
        for command in _SETUP:
            _ip("netns", "exec", name, *command.split())
        yield name
    finally:
        kill_inside(name)
        _ip("netns", "delete", name)


def kill_inside(name: str) -> None:
    """SIGKILL every process still in namespace `name` (Ray's raylets, workers, GCS)."""
    done = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30, check=False
    )
    for pid in done.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def ray_processes(title: str) -> list[int]:
    """Pids whose command line (Ray's process title) starts with `title`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if command.startswith(title):
            pids.append(int(entry.name))
    return pids
