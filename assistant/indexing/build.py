"""`build_index()`: plan → chunk → embed → write → report.

Each step is its own module, its input and output explicit models:

    build_plan.plan_build        previous generation, documents read, what changed
    build_chunk.chunk_fresh      passages of the added and changed documents
    build_embed.prepare          query encoder exported or reused, passage embedder
    build_embed.embed_passages   passage and sentence vectors
    build_write.assemble         fresh and reused passages in one generation
    build_write.write_new_generation   vector index, manifest, files, pointer
    build_report (here)          what the caller is told
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from .._settings import Settings
from .._types import BuildReport, Manifest
from ..embedding.transformer import Embedder, load_embedder
from ..ingest.sources import load_documents
from .build_chunk import FreshPassages, chunk_fresh
from .build_embed import embed_passages, prepare
from .build_plan import BuildPlan, plan_build
from .build_write import assemble, text_layer_files, write_new_generation
from .generations import (
    GENERATIONS,
    TEMP_PREFIX,
    build_lock,
    new_generation_id,
    remove_stale,
    repair_layout,
    write_error,
)

__all__ = [
    "build_index",
    "build_report",
    "prepare_folder",
    "resolve_settings",
    "staged_generation",
]

logger = logging.getLogger("assistant")


def build_index(
    sources_dir: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
    settings: Settings | None = None,
) -> BuildReport:
    """Bring the index up to date with the sources folder.

    Only new or changed documents (by SHA-256) are chunked and embedded; removed
    ones drop out; unchanged ones keep their passages and vectors. Nothing is
    written when nothing changed.

    Args:
        sources_dir: Documents folder (default `./sources` or `ASSISTANT_SOURCES`).
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        force: Re-embed every document.
        progress: Show a progress bar while embedding.
        embedder: Use this embedder instead of loading the configured model.
        settings: Use these settings instead of `Settings.from_env()`; folders given
            as arguments still win over `settings.sources_dir` / `settings.index_dir`.

    Returns:
        What was added, changed, removed, kept and skipped, and the timing.

    Raises:
        SourcesError: The folder is missing, empty or has no readable document.
        BuildInProgressError: Another build is running on the same index.
        ModelError: The embedding model cannot be loaded.
    """
    started = time.perf_counter()
    settings = resolve_settings(settings, sources_dir, index_dir)
    if not settings.sources_dir.is_dir():
        load_documents(settings.sources_dir)  # raises the SourcesError that says what to do

    with build_lock(settings.index_dir):
        prepare_folder(settings.index_dir)
        plan = plan_build(settings, force=force)
        passages = chunk_fresh(plan.changes.fresh, settings, progress)
        if passages.too_slow:
            plan = plan.without(passages.too_slow, settings.sources_dir)
        for source in plan.changes.reextracted:
            logger.warning(
                "the stored text layer of %s was missing or damaged: extracted again", source
            )
        if plan.up_to_date:
            remove_stale(settings.index_dir)
            return build_report(settings, plan, None, chunks_embedded=0, started=started)
        manifest = _new_generation(settings, plan, passages, embedder, progress)
        remove_stale(settings.index_dir)
        embedded = len(passages.all)
        return build_report(settings, plan, manifest, chunks_embedded=embedded, started=started)


def resolve_settings(
    settings: Settings | None,
    sources_dir: str | os.PathLike[str] | None,
    index_dir: str | os.PathLike[str] | None,
) -> Settings:
    """`settings` (default: from the environment), with the folders given as
    arguments in place of its own.

    Args:
        settings: Settings given by the caller, or None.
        sources_dir: A sources folder that overrides the settings' own.
        index_dir: An index folder that overrides the settings' own.

    Returns:
        The settings a build runs with.
    """
    if settings is None:
        return Settings.from_env(sources_dir, index_dir)
    folders = {"sources_dir": sources_dir, "index_dir": index_dir}
    return settings.model_copy(
        update={name: Path(value) for name, value in folders.items() if value is not None}
    )


def prepare_folder(index_dir: Path) -> None:
    """Repair the folder layout and remove what failed builds left, before writing
    (a build killed by a full disk must not make every later build fail too).

    Args:
        index_dir: The index folder (the build lock is held).

    Raises:
        IndexWriteError: The folder cannot be repaired or cleaned.
    """
    try:
        repair_layout(index_dir)
        remove_stale(index_dir)
    except OSError as exc:
        raise write_error(exc, "(not started)") from None


@contextlib.contextmanager
def staged_generation(index_dir: Path) -> Iterator[tuple[str, Path]]:
    """A new generation's id and the staging folder its encoder and text layers
    are written to; the folder is removed afterwards whatever happens, and a
    failed write becomes one `IndexWriteError` (nothing went live).

    Args:
        index_dir: The index folder (the build lock is held).

    Yields:
        The generation id and the staging folder.

    Raises:
        IndexWriteError: The disk filled up or is not writable.
    """
    generation = new_generation_id()
    staging = index_dir / GENERATIONS / f"{TEMP_PREFIX}{generation}-export"
    try:
        staging.mkdir(parents=True)
        yield generation, staging
    except OSError as exc:  # disk full while exporting or embedding
        raise write_error(exc, generation) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _new_generation(
    settings: Settings,
    plan: BuildPlan,
    passages: FreshPassages,
    embedder: Embedder | None,
    progress: bool,
) -> Manifest:
    """Embed the fresh passages and write the new generation (steps 3 and 4).

    Raises:
        IndexWriteError: The disk filled up or is not writable; nothing went live.
        ModelError: The embedding model cannot be loaded.
    """
    fresh = passages.all
    with staged_generation(settings.index_dir) as (generation, staging):
        encoders = prepare(
            embedder, lambda: load_embedder(settings.model), staging, plan.previous, len(fresh)
        )
        embedded = embed_passages(
            encoders.passages, fresh, plan.changes.fresh, settings.chunking.context_prefix, progress
        )
        content = assemble(plan.documents, passages.by_source, embedded, plan.previous)
        layers = text_layer_files(plan.documents, staging, plan.layers)
        return write_new_generation(
            settings, generation, content, encoders.passages.dimension, encoders.query, layers
        )


def build_report(
    settings: Settings,
    plan: BuildPlan,
    manifest: Manifest | None,
    *,
    chunks_embedded: int,
    started: float,
) -> BuildReport:
    """Step 5: what a build did.

    Args:
        settings: The build's settings (for the index folder).
        plan: The final plan (after documents too slow to chunk were left out).
        manifest: The new generation's manifest; None when the index was up to date.
        chunks_embedded: How many passages this build embedded.
        started: `time.perf_counter()` when the build started.

    Returns:
        The report `build_index` returns.
    """
    report = BuildReport(
        index_dir=str(settings.index_dir),
        generation=plan.previous.manifest.generation if plan.previous else "",
        up_to_date=manifest is None,
        full_rebuild_reason=plan.full_rebuild_reason,
        added=plan.changes.added,
        changed=plan.changes.changed,
        removed=plan.changes.removed,
        unchanged=plan.changes.unchanged,
        skipped=plan.skipped,
    )
    if manifest is None:
        assert plan.previous is not None  # only a previous generation is up to date
        report.chunks_total = plan.previous.manifest.chunk_count
    else:
        report.generation = manifest.generation
        report.vector_index = manifest.index_parameters
        record = manifest.query_encoder
        report.query_encoder = (
            "onnx" if record is not None else f"torch ({manifest.query_encoder_refused})"
        )
        report.chunks_total = manifest.chunk_count
        report.chunks_embedded = chunks_embedded
    report.seconds = time.perf_counter() - started
    return report
