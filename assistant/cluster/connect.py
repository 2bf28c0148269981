"""Connecting to a Ray cluster: the one place `ray` is imported first, so a
missing extra or an unreachable address is one clear error."""

from __future__ import annotations

import logging
import os
from types import ModuleType

from .._errors import ClusterError

__all__ = ["ADDRESS_VARIABLE", "cluster_address", "connect"]

ADDRESS_VARIABLE = "ASSISTANT_RAY_ADDRESS"


def _ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "ray is not installed: pip install -e '.[cluster]' (or run without --ray)"
        ) from None
    return ray


def cluster_address(given: str | None) -> str | None:
    """The cluster to use: `given`, else `ASSISTANT_RAY_ADDRESS`, else None (local).

    Args:
        given: An address from the command line (`auto` for the cluster this
            machine belongs to, or `HOST:PORT` of its head).

    Returns:
        The address, or None to run on this machine alone.
    """
    return given or os.environ.get(ADDRESS_VARIABLE) or None


def connect(address: str) -> ModuleType:
    """Join the Ray cluster at `address` (once per process) and return `ray`.

    Args:
        address: `auto`, or `HOST:PORT` of the head node.

    Returns:
        The `ray` module, initialised.

    Raises:
        ClusterError: ray is not installed, or nothing answers at `address`.
    """
    ray = _ray()
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, logging_level=logging.ERROR, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"no Ray cluster answers at {address} ({exc}): start one with `ray start --head`, "
            "or pass its address with --ray / ASSISTANT_RAY_ADDRESS"
        ) from None
    return ray
