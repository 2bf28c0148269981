"""Sharded search on Ray: one actor per shard of the live generation holds that
shard's vector index and its part of the BM25 matrix, and answers the candidate
step of a query; everything after it (fusion, selection, highlights, citations)
is the local query path, so the results are the ones a single index gives.

- Shards are contiguous ranges of passage ids. A shard's BM25 scores are the
  generation's own (statistics global to the generation, see
  `LexicalIndex.restrict`), so merged scores compare; for an exact (flat)
  generation the merged top-k is the single index's top-k.
- The question is embedded once, in the caller, and sent to every shard.
- A shard actor that dies is restarted by Ray (`max_restarts`) and the call
  retried (`max_task_retries`); a query waits for that at most `wait_seconds`,
  then fails with `ClusterError`: never an answer from some shards only.
- Each query runs against one set of actors, all started on the generation the
  caller's searcher holds; when `CURRENT.json` moves, a complete new set is
  started and swapped in, so no query mixes two generations.
- The actors are named after the index folder, the generation and their rows,
  and detached: every process searching the same folder on the cluster (UI
  replicas on any node) finds and shares the same set instead of starting its
  own. When a process starts serving a generation, it stops the sets of
  generations older than the one before it (generation ids sort by build time),
  never the previous or a newer one, which other processes may still be
  querying; `close(stop_shards=True)` stops them all. A process whose set was
  stopped anyway looks its generation's set up again, once per query.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import Vectors
from .._errors import ClusterError
from .._settings import RetrievalSettings, Settings
from ..indexing.generations import (
    MappedGeneration,
    map_generation,
    open_lexical,
    read_index_shard,
    read_named_generation,
)
from ..indexing.lexical import LexicalIndex, content_terms, top_rows
from ..indexing.vectors import VectorIndex
from ..search.pipeline import CandidateStep, SearchResult, _Candidates, search
from ..search.searcher import Searcher
from .connect import connect

__all__ = [
    "ShardServer",
    "ShardedSearch",
    "candidate_step",
    "merged_candidates",
    "shard_ranges",
]

# Dense and lexical pools of one shard: (passage id, score), best first; and the
# BM25 score of each of the shard's dense candidates.
_ShardAnswer = tuple[list[tuple[int, float]], list[tuple[int, float]], dict[int, float]]


#: The Ray namespace of the shard actors, shared by every process that searches.
NAMESPACE = "assistant"


def shard_name(index_dir: Path, generation: str, first: int, last: int) -> str:
    """The name under which every process finds the actor serving rows
    `first`..`last - 1` of `generation` of `index_dir`.

    Args:
        index_dir: The index folder (resolved: the same folder has one name).
        generation: The generation's id.
        first: The shard's first row.
        last: One past its last row.

    Returns:
        `assistant-shard-<folder digest>-<generation>-<first>-<last>`.
    """
    return f"{_folder_prefix(index_dir)}{generation}-{first}-{last}"


def _folder_prefix(index_dir: Path) -> str:
    digest = hashlib.sha256(str(index_dir.resolve()).encode()).hexdigest()[:12]
    return f"assistant-shard-{digest}-"


def shard_ranges(count: int, shards: int) -> list[tuple[int, int]]:
    """`shards` contiguous ranges of passage ids covering `count` passages, sizes
    differing by at most one (fewer ranges when there are fewer passages).

    Args:
        count: Passages in the generation.
        shards: Shards wanted.

    Returns:
        (first, last + 1) of each shard, in order.
    """
    shards = max(1, min(shards, count))
    bounds = [round(i * count / shards) for i in range(shards + 1)]
    return list(itertools.pairwise(bounds))


class ShardServer:
    """What one shard actor holds: its rows' vector index and BM25 part."""

    def __init__(self, index_dir: str, generation: str, first: int, last: int) -> None:
        # Only this shard's rows are read (the files are mapped), so an actor's
        # memory is its shard's, not the corpus's.
        mapped = map_generation(Path(index_dir), generation)
        self.first, self.last = first, last
        self.generation = generation
        self.vectors, self.origin = _shard_index(mapped, first, last)
        self.lexical: dict[bool, LexicalIndex] = {}
        for in_context in (True, False):
            whole = open_lexical(mapped, in_context) or _in_memory(
                Path(index_dir), generation, in_context
            )
            self.lexical[in_context] = whole.restrict(first, last)

    def ping(self) -> str:
        """The generation this shard serves (a readiness probe)."""
        return self.generation

    def index_origin(self) -> str:
        """ "stored": the shard loaded the generation's index shard over its rows;
        "built": it built its own (no stored shard covers exactly its rows)."""
        return self.origin

    def candidates(
        self, query: Vectors, terms: list[str], pool: int, in_context: bool
    ) -> _ShardAnswer:
        """This shard's best `pool` passages by cosine and by BM25 (global ids).

        Args:
            query: The question's vector.
            terms: The question's content terms.
            pool: Candidates wanted from each ranking.
            in_context: Which BM25 index (see `retrieval.lexical_context`).

        Returns:
            The dense pool, the lexical pool, and the BM25 score of each dense candidate.
        """
        dense = [
            (self.first + i, s)
            for i, s in self.vectors.search(query, min(pool, self.vectors.count))
        ]
        scores = self.lexical[in_context].scores(terms)
        lexical = [(self.first + int(i), float(scores[i])) for i in top_rows(scores, pool)]
        of_dense = {i: float(scores[i - self.first]) for i, _ in dense}
        return dense, lexical, of_dense


def _shard_index(mapped: MappedGeneration, first: int, last: int) -> tuple[VectorIndex, str]:
    """The vector index over rows `first`..`last - 1`: the generation's stored
    index shard over exactly those rows (the same index a reader of the whole
    generation searches, so the merged results are its results), else one built
    here over the rows (exact for a flat generation, else its own HNSW)."""
    manifest = mapped.manifest
    for shard in manifest.index_shards:
        if (shard.first, shard.first + shard.rows) == (first, last):
            return read_index_shard(mapped.path, manifest, shard), "stored"
    rows = np.ascontiguousarray(mapped.vectors[first:last])
    return VectorIndex.build(rows, manifest.index_type), "built"


def merged_candidates(
    ask: Callable[[Vectors, list[str], int, bool], list[_ShardAnswer]],
    searcher: Searcher,
    text: str,
    query: Vectors,
    k: int,
    options: RetrievalSettings,
) -> _Candidates:
    """The local candidate step's result, from every shard's answer.

    Each ranking's pool is the best `pool` of the shards' pools merged (a shard's
    best `pool` holds all of its passages that can be in the global best `pool`),
    equal scores ordered as the local step orders them. (Where equal cosines
    straddle the edge of the dense pool, FAISS's heap may keep another of the
    equal passages than the merge does.)

    Args:
        ask: Sends (query, terms, pool, in_context) to every shard, returns their answers.
        searcher: The caller's searcher of the same generation (global BM25 statistics).
        text: The cleaned question.
        query: Its vector.
        k: Excerpts wanted.
        options: The retrieval settings.

    Returns:
        What `assistant.search.pipeline` fuses.
    """
    count = searcher.generation.manifest.chunk_count
    terms = content_terms(text)
    pool = min(count, max(options.candidates, k))
    answers = ask(query, terms, pool, options.lexical_context)
    # FAISS returns equal cosines (repeated passages) higher id first; so does
    # the merge, so rank-based fusion (RRF) sees the single index's order.
    dense = sorted((hit for a in answers for hit in a[0]), key=lambda h: (-h[1], -h[0]))
    lexical = sorted((hit for a in answers for hit in a[1]), key=lambda h: (-h[1], h[0]))
    # Every score fusion reads: the lexical pool's and each dense candidate's.
    scores = np.zeros(count, dtype=np.float32)
    for _, hits, of_dense in answers:
        for i, score in [*hits, *of_dense.items()]:
            scores[i] = score
    return _Candidates(
        terms,
        searcher.lexical(options.lexical_context),
        dict(dense[:pool]),
        scores,
        dict(lexical[:pool]),
    )


def _in_memory(index_dir: Path, name: str, in_context: bool) -> LexicalIndex:
    """A generation written before BM25 indexes were stored: index it here."""
    from ..search.searcher import _searcher

    generation = read_named_generation(index_dir, name)
    searcher = _searcher(generation)
    texts = list(searcher.in_context) if in_context else [c.text for c in generation.chunks]
    return LexicalIndex(texts)


class ShardedSearch:
    """Queries against `index_dir` with their candidates from shard actors."""

    def __init__(
        self,
        address: str,
        index_dir: str | Path,
        *,
        shards: int = 2,
        wait_seconds: float = 60.0,
        max_restarts: int = 3,
    ) -> None:
        """Join the cluster; actors are found or started on the first query (and on
        every swap).

        Args:
            address: The Ray cluster (`auto` or `HOST:PORT`).
            index_dir: The index folder, on storage every node reaches.
            shards: Actors per generation.
            wait_seconds: How long a query waits for every shard (a restarting
                shard included) before it fails.
            max_restarts: How often Ray restarts a shard actor that died.

        Raises:
            ClusterError: ray is missing or the cluster does not answer.
        """
        self._ray = connect(address)
        self.index_dir = Path(index_dir)
        self.shards = shards
        self.wait_seconds = wait_seconds
        self._actor = self._ray.remote(
            num_cpus=0,
            max_restarts=max_restarts,
            max_task_retries=-1,
            scheduling_strategy="SPREAD",
            lifetime="detached",
            namespace=NAMESPACE,
        )(ShardServer)
        self._lock = threading.Lock()
        self._serving: tuple[str, list[Any]] | None = None

    def search(self, question: str, k: int, settings: Settings) -> SearchResult:
        """`assistant.search.pipeline.search`, its candidates from the shards.

        Raises:
            ClusterError: A shard did not answer within `wait_seconds`.
            QuestionError, IndexMissingError, IndexMismatchError, IndexCorruptError:
                As for a local search.
        """
        return search(question, k, settings, candidates=self.candidates)

    def actors(self, generation: str, count: int) -> list[Any]:
        """The shard actors of `generation` (`count` passages), found by name or
        started, and waited for; a new set replaces the previous one once all of
        it is ready.

        Raises:
            ClusterError: The actors did not come up within `wait_seconds`.
        """
        with self._lock:
            if self._serving is not None and self._serving[0] == generation:
                return self._serving[1]
            actors = [
                self._actor.options(
                    name=shard_name(self.index_dir, generation, first, last), get_if_exists=True
                ).remote(str(self.index_dir), generation, first, last)
                for first, last in shard_ranges(count, self.shards)
            ]
            self._get([a.ping.remote() for a in actors], f"starting generation {generation}")
            self._serving = (generation, actors)
        self._stop(lambda running: _older_than_previous(generation, running))
        return actors

    def _own_actors(self) -> dict[str, str]:
        """This folder's shard actors on the cluster: name → generation."""
        prefix = _folder_prefix(self.index_dir)
        return {
            entry["name"]: entry["name"].removeprefix(prefix).rsplit("-", 2)[0]
            for entry in self._ray.util.list_named_actors(all_namespaces=True)
            if entry["namespace"] == NAMESPACE and entry["name"].startswith(prefix)
        }

    def _stop(self, which: Callable[[set[str]], set[str]]) -> None:
        """Kill this folder's shard actors of the generations `which` picks among
        those running (the cluster is listed once)."""
        running = self._own_actors()
        stopping = which(set(running.values()))
        for name, generation in running.items():
            if generation in stopping:
                with contextlib.suppress(ValueError):  # stopped meanwhile by another process
                    self._ray.kill(self._ray.get_actor(name, namespace=NAMESPACE))

    def _get(self, refs: list[Any], what: str) -> list[Any]:
        try:
            return list(self._ray.get(refs, timeout=self.wait_seconds))
        except self._ray.exceptions.GetTimeoutError:
            raise ClusterError(
                f"a shard did not answer within {self.wait_seconds:g} s while {what} "
                "(restarting, or its node is lost): retry; no partial answer is given"
            ) from None
        except self._ray.exceptions.RayActorError as exc:
            # Dead for good: stopped by another process, or out of restarts.
            raise _ShardStoppedError(
                f"a shard actor is gone while {what} ({type(exc).__name__}): retry; "
                "no partial answer is given"
            ) from None
        except self._ray.exceptions.RayError as exc:
            raise ClusterError(
                f"a shard failed while {what} ({type(exc).__name__}): retry, or restart "
                "the search service; no partial answer is given"
            ) from None

    def candidates(
        self, searcher: Searcher, text: str, query: Vectors, k: int, options: RetrievalSettings
    ) -> _Candidates:
        """The candidate step of `search`, answered by this generation's shards.

        Raises:
            ClusterError: A shard did not answer within `wait_seconds`.
        """
        name = searcher.generation.manifest.generation
        count = searcher.generation.manifest.chunk_count

        def ask(
            query: Vectors, terms: list[str], pool: int, in_context: bool
        ) -> list[_ShardAnswer]:
            def once() -> list[_ShardAnswer]:
                return self._get(
                    [
                        a.candidates.remote(query, terms, pool, in_context)
                        for a in self.actors(name, count)
                    ],
                    f"answering a query on generation {name}",
                )

            try:
                return once()
            except _ShardStoppedError:  # find or start the set again, once
                self._forget(name)
                return once()

        return merged_candidates(ask, searcher, text, query, k, options)

    def _forget(self, generation: str) -> None:
        with self._lock:
            if self._serving is not None and self._serving[0] == generation:
                self._serving = None

    def close(self, *, stop_shards: bool = False) -> None:
        """Let go of the shard actors; they keep serving other processes.

        Args:
            stop_shards: Stop every shard actor of this index folder, for every
                process (the cluster itself keeps running).
        """
        with self._lock:
            self._serving = None
        if stop_shards:
            self._stop(lambda running: running)


class _ShardStoppedError(ClusterError):
    """A shard actor is dead for good (another process stopped its set, or it ran
    out of restarts): its set is looked up again once, then this is the error."""


def _older_than_previous(serving: str, running: set[str]) -> set[str]:
    """The generations among `running` whose shard sets may be stopped now that
    `serving` is served: those older than the newest one before it (ids sort by
    build time). The previous one and newer ones stay: other processes may still
    query them."""
    before = sorted(g for g in running if g < serving)
    return set(before[:-1])


_registry_lock = threading.Lock()
_registry: dict[tuple[str, Path, int], ShardedSearch] = {}


def candidate_step(settings: Settings) -> CandidateStep:
    """The candidate step of `settings.ray_address`'s shards for `settings.index_dir`:
    one `ShardedSearch` per process, cluster, index folder and shard count (this
    is how `retrieve(..., settings=)` and `assistant serve --ray` reach the shards).

    Args:
        settings: Settings whose `ray_address` is set.

    Returns:
        The step `assistant.search.pipeline.search` takes as `candidates`.

    Raises:
        ClusterError: ray is missing or the cluster does not answer.
    """
    assert settings.ray_address is not None  # only called when it is set
    key = (settings.ray_address, settings.index_dir.resolve(), settings.ray_shards)
    with _registry_lock:
        sharded = _registry.get(key)
        if sharded is None:
            sharded = _registry[key] = ShardedSearch(key[0], key[1], shards=settings.ray_shards)
    return sharded.candidates
