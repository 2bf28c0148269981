"""Which encoder embeds a build's passages.

The verified ONNX graph embeds passages too: same vectors (cosine ≥ 0.9999 on the
probes), faster than torch on this CPU, and an incremental build with a reused
encoder never imports torch. sentence-transformers embeds only when there is no
verified graph, or when the caller supplied its own embedder.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..embedding.transformer import Embedder
from .query_encoder import PreparedEncoder, open_encoder

__all__ = ["SMALL_BUILD", "choose_passage_embedder", "verified_graph_for"]

# Up to this many passages a build embeds with the (shared, one-thread) query
# session: opening a second session costs more than the work.
SMALL_BUILD = 64


def verified_graph_for(encoder: PreparedEncoder, count: int) -> Embedder | None:
    """The verified graph to embed `count` passages with, or None without one.

    Args:
        encoder: The build's query encoder (see `prepare_query_encoder`).
        count: How many passages will be embedded.

    Returns:
        The freshly exported session (open on every core); else the reused
        graph, on one shared thread for a small build and every core otherwise;
        None when queries use sentence-transformers.

    Raises:
        IndexCorruptError: A reused encoder file no longer matches its checksum.
    """
    if encoder.record is None or encoder.exported is not None:
        return encoder.exported
    folder = encoder.files[encoder.record.file][0].parent
    small = count <= SMALL_BUILD
    return open_encoder(
        folder,
        {name: sha for name, (_, sha) in encoder.files.items()},
        encoder.record,
        threads=1 if small else os.cpu_count() or 1,
        shared=small,
        name=encoder.model,
        dimension=encoder.dimension,
    )


def choose_passage_embedder(
    supplied: Embedder | None,
    encoder: PreparedEncoder,
    count: int,
    load: Callable[[], Embedder],
) -> Embedder:
    """The embedder for a build's `count` new passages.

    Args:
        supplied: The embedder the caller passed to `build_index`; always wins.
        encoder: The build's query encoder; its verified graph comes next.
        count: How many passages will be embedded.
        load: Loads the configured model (sentence-transformers), the last resort.

    Raises:
        ModelError: The model has to be loaded and cannot be.
    """
    return supplied or verified_graph_for(encoder, count) or load()
