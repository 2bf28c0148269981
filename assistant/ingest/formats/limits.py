"""The bounds on one file's extraction (`ExtractLimits`) and what enforces them in
the extracting process: a soft `Deadline` between steps and the memory budget a
child may add (the hard bounds are the worker's kill and rlimits).
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MB", "Deadline", "ExtractLimits", "memory_budget_mb", "timeout_reason"]

MB = 1_000_000


class ExtractLimits(BaseModel):
    """Bounds on one file's extraction; a file past any of them is skipped with the
    reason. Every bound is a setting: pass your own to `extract`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_pages: int = Field(default=2000, gt=0, description="Pages a PDF may have.")
    max_uncompressed_mb: float = Field(
        default=200,
        gt=0,
        description="Size a PDF or DOCX may have, and what its compressed streams or "
        "ZIP members may unpack to, in MB (10^6 bytes).",
    )
    max_seconds: float = Field(
        default=60, gt=0, description="Wall time for one file; the extractor is killed after."
    )
    max_html_mb: float = Field(default=20, gt=0, description="Size an HTML file may have, in MB.")


class Deadline:
    """A soft deadline checked between steps (the hard one is the child's kill)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        """Raise the timeout reason once the deadline has passed."""
        if time.monotonic() > self.end:
            raise ValueError(timeout_reason(self.seconds))


def timeout_reason(seconds: float) -> str:
    """The skip reason of a file whose extraction ran past `seconds`."""
    return f"extraction took longer than {seconds:g} s (max_seconds); stopped"


def memory_budget_mb(limits: ExtractLimits) -> float:
    """Address space a child may add to what it starts with: parsers hold several
    times what they unpack, so six times the largest size limit, at least 1 GB."""
    return max(1024.0, 6 * max(limits.max_uncompressed_mb, limits.max_html_mb))
