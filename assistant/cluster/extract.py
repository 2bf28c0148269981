"""A cluster build's extraction: the new and changed PDFs, HTML pages and .docx
files are read and extracted by Ray tasks, one per file, on whichever node has a
free CPU; the driver only lists and hashes the sources.

Each task reads the file from the sources folder as its node mounts it (the same
path as the driver's), through the same confined open, checks that the bytes are
the ones the driver hashed, and runs the same isolated, bounded extractor a local
build runs (`assistant.ingest.formats.extract`). What comes back is the text
layer with its metadata, or the reason the file is skipped; a task whose worker
dies is retried by Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import ClusterError
from .._files import read_failure
from .._settings import IngestSettings
from ..ingest.formats import Extracted
from ..ingest.sources import ExtractionJob, ExtractMany, extract_source

__all__ = ["extract_on_cluster", "extract_task"]

#: How often Ray runs a task again whose worker died (a crash, a lost node).
TASK_RETRIES = 3


def extract_task(root: str, job: str, limits: str) -> tuple[bool, str]:
    """One file, in a Ray task: `(True, Extracted as JSON)` or `(False, the reason
    it is skipped)`. Plain strings in and out, so nothing but text crosses Ray.

    Args:
        root: The sources folder.
        job: The `ExtractionJob`, as JSON.
        limits: The `IngestSettings`, as JSON.
    """
    try:
        extracted = extract_source(
            Path(root),
            ExtractionJob.model_validate_json(job),
            IngestSettings.model_validate_json(limits),
        )
    except FileNotFoundError:
        return False, "removed while the build read it: build again"
    except (OSError, ValueError) as exc:
        return False, read_failure(exc)
    return True, extracted.model_dump_json()


def extract_on_cluster(ray: Any, sources_dir: Path, limits: IngestSettings) -> ExtractMany:
    """The `ExtractMany` of a build on the cluster `ray` is connected to.

    Args:
        ray: The `ray` module, connected.
        sources_dir: The sources folder, at the same path on every node.
        limits: Size and extraction bounds.

    Returns:
        The function `plan_build` calls with the files to extract.
    """
    task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(extract_task)
    root, bounds = str(sources_dir.resolve()), limits.model_dump_json()

    def extract_many(jobs: Sequence[ExtractionJob]) -> list[Extracted | str]:
        refs = [task.remote(root, job.model_dump_json(), bounds) for job in jobs]
        try:
            results = ray.get(refs)
        except ray.exceptions.RayError as exc:
            raise ClusterError(
                f"extracting on the cluster failed ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}); the previous index keeps serving: build again"
            ) from None
        return [Extracted.model_validate_json(out) if ok else out for ok, out in results]

    return extract_many
