"""Shared pieces of the SciFact benchmarks (`benchmarks/scifact.py`,
`benchmarks/distractors.py`): the BEIR SciFact files, the abstracts written as
source files, a cached index build, and the ranking metrics.

The metrics follow BEIR (`beir.retrieval.evaluation.EvaluateRetrieval`, which
calls pytrec_eval): nDCG@k with the qrels' grades as linear gains and a
log2(rank + 1) discount, the ideal ranking taken from the qrels themselves;
Recall@k over the documents judged relevant (grade > 0); MRR@k as the inverse
rank of the first relevant document within the top k (0 when none). A query's
ranking is a list of document ids, best first, without repeats.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant import BuildReport

__all__ = [
    "ALLIANCE",
    "CACHE",
    "REPO",
    "SCIFACT_DATA",
    "Abstract",
    "CachedBuild",
    "abstract_file_text",
    "add_set_argument",
    "build_cached",
    "doc_id_of",
    "doc_ranking",
    "environment_note",
    "git_state",
    "index_code_fingerprint",
    "load_corpus",
    "load_qrels",
    "load_queries",
    "mean",
    "mrr_at_k",
    "ndcg_at_k",
    "normalize_title",
    "recall_at_k",
    "sync_folder",
    "write_abstracts",
]

REPO = Path(__file__).resolve().parents[1]
#: `../shared/eval/scifact` next to the repository (override with `--data DIR`).
SCIFACT_DATA = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"
CACHE = REPO / "benchmarks" / ".cache"
ALLIANCE = REPO / "benchmarks" / "data" / "alliance"


def add_set_argument(parser: argparse.ArgumentParser, more_help: str = "") -> None:
    """`--set NAME`: which evaluation set of `benchmarks/data/` a benchmark runs on
    (its folder is `ALLIANCE.parent / NAME`)."""
    parser.add_argument(
        "--set",
        choices=sorted(p.name for p in ALLIANCE.parent.iterdir() if p.is_dir()),
        default=ALLIANCE.name,
        help=f"which evaluation set of benchmarks/data/ (default: {ALLIANCE.name})" + more_help,
    )


#: Modules used only when answering (the BM25 index is built when an index is
#: loaded; chunking settings are checked by `build_index` itself). Every other
#: module of `assistant/` may decide an index's passages, titles or vectors, and
#: the incremental build keeps the passages of a file whose bytes did not
#: change: a change of their code forces a full rebuild of a cached index.
_QUERY_ONLY = frozenset(
    {
        "__init__.py", "__main__.py", "cli.py", "evaluation.py", "_settings.py",
        "search", "answer", "viewing", "indexing/lexical.py", "indexing/watch.py",
        "search/status.py",
    }
)  # fmt: skip


def _is_query_only(path: Path) -> bool:
    relative = path.relative_to(REPO / "assistant")
    return relative.as_posix() in _QUERY_ONLY or relative.parts[0] in _QUERY_ONLY


def _index_code() -> list[Path]:
    return sorted(path for path in (REPO / "assistant").rglob("*.py") if not _is_query_only(path))


#: About when this process imported `assistant`: the benchmarks import it just
#: before this module (`build_cached` imports it lazily only so that the metrics
#: need no model stack).
_IMPORTED_AT = time.time()
_ASSISTANT_LOADED = "assistant" in sys.modules


# --- the SciFact files -------------------------------------------------------------


@dataclass(frozen=True)
class Abstract:
    """One SciFact corpus entry."""

    doc_id: str
    title: str
    text: str


def load_corpus(data: Path) -> dict[str, Abstract]:
    """`corpus.jsonl`: document id → abstract, in file order."""
    corpus: dict[str, Abstract] = {}
    with (data / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                doc_id = str(row["_id"])
                corpus[doc_id] = Abstract(doc_id, str(row["title"]), str(row["text"]))
    return corpus


def load_queries(data: Path) -> dict[str, str]:
    """`queries.jsonl`: query id → claim text."""
    queries: dict[str, str] = {}
    with (data / "queries.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = str(row["text"])
    return queries


def load_qrels(data: Path, split: str) -> dict[str, dict[str, int]]:
    """`qrels/<split>.tsv` (`query-id`, `corpus-id`, `score`, header line):
    query id → {document id: grade}."""
    qrels: dict[str, dict[str, int]] = {}
    with (data / "qrels" / f"{split}.tsv").open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            fields = line.rstrip("\n").split("\t")
            if (number == 0 and fields[0] == "query-id") or len(fields) < 3:
                continue
            qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    return qrels


def abstract_file_text(abstract: Abstract) -> str:
    """A source file as issue #11 measured it: the title on the first line, a
    blank line, then the abstract."""
    return f"{abstract.title}\n\n{abstract.text}\n"


def normalize_title(title: str) -> str:
    """Whitespace collapsed and trimmed (19 SciFact titles carry stray spaces)."""
    return " ".join(title.split())


def _write_if_changed(path: Path, content: bytes) -> bool:
    try:
        if path.read_bytes() == content:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def write_abstracts(corpus: Mapping[str, Abstract], folder: Path) -> int:
    """Write each abstract as `<folder>/<doc-id>.txt` (only files whose bytes
    differ, so the incremental build sees no change on a rerun); return how
    many were written."""
    return sum(
        _write_if_changed(folder / f"{doc_id}.txt", abstract_file_text(abstract).encode("utf-8"))
        for doc_id, abstract in corpus.items()
    )


def sync_folder(wanted: Mapping[str, bytes], folder: Path) -> tuple[int, int]:
    """Make `folder` hold exactly the files of `wanted` (relative POSIX path →
    bytes) among its `.txt`/`.md` files: write what differs, delete the other
    source files. Returns (written, deleted)."""
    written = sum(_write_if_changed(folder / name, content) for name, content in wanted.items())
    deleted = 0
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if path.is_file() and path.suffix in (".txt", ".md") and relative not in wanted:
                path.unlink()
                deleted += 1
    return written, deleted


# --- a cached index ---------------------------------------------------------------


def index_code_fingerprint() -> str:
    """SHA-256 over the code of the modules that may decide passages and vectors."""
    digest = hashlib.sha256()
    for path in _index_code():
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _stamp_of(index_dir: Path) -> Path:
    """Kept beside the index folder: the builder refuses foreign files inside it."""
    return index_dir.with_name(index_dir.name + ".code-sha256")


@dataclass(frozen=True)
class CachedBuild:
    report: BuildReport
    seconds: float
    forced_because: str | None
    code: str
    """Fingerprint of the indexing code this process loaded (and built with)."""
    code_note: str | None = None
    """Set when that code is uncertain, or no longer what is on disk."""


def _recently_changed(since: float) -> list[str]:
    return [path.name for path in _index_code() if path.stat().st_mtime >= since]


def _loaded_code() -> tuple[str, list[str]]:
    """The fingerprint of the code this process runs, and the modules that were
    being edited around its import (then the fingerprint may not be that code)."""
    if _ASSISTANT_LOADED:
        return _LOADED_FINGERPRINT, _LOADED_UNCERTAIN
    return index_code_fingerprint(), _recently_changed(_IMPORTED_AT - 10.0)


def build_cached(
    sources: Path, index_dir: Path, *, force: bool = False, seed_from: Path | None = None
) -> CachedBuild:
    """`build_index(sources, index_dir)`, incremental, but in full when asked or
    when the cached index was built by other indexing code than this process
    loaded (its fingerprint is kept beside the index folder).

    `seed_from`: another cached index built by the same code, copied in first
    when `index_dir` is missing or was built by other code (it is a cache:
    replaced, not repaired), so that the files both hold (same relative path,
    same bytes) are not embedded twice.
    """
    from assistant import build_index

    fingerprint, uncertain = _loaded_code()
    stamp = _stamp_of(index_dir)

    def recorded(index: Path) -> str | None:
        path = _stamp_of(index)
        return path.read_text().strip() if path.is_file() else None

    if (
        not uncertain
        and seed_from is not None
        and (seed_from / "CURRENT.json").is_file()
        and recorded(seed_from) == fingerprint
        and (not index_dir.exists() or (recorded(index_dir) != fingerprint and not force))
    ):
        # A missing or outdated cache: start from the seed rather than from nothing.
        if index_dir.exists():
            shutil.rmtree(index_dir)
        shutil.copytree(seed_from, index_dir, ignore=shutil.ignore_patterns(".build.lock"))
        stamp.write_text(fingerprint + "\n")
    reason = "--force" if force else None
    if reason is None and index_dir.exists() and recorded(index_dir) != fingerprint:
        reason = "the cached index was built by other indexing code"
    started = time.perf_counter()
    report = build_index(sources, index_dir, force=reason is not None)
    seconds = time.perf_counter() - started
    note = None
    if uncertain:
        note = (
            f"{', '.join(uncertain)} changed on disk while this run imported it: the index "
            "may not match any one version of the code (the next run rebuilds it in full)"
        )
        stamp.unlink(missing_ok=True)
    else:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint + "\n")
        later = _recently_changed(_IMPORTED_AT)
        if later:
            note = (
                f"{', '.join(later)} changed on disk after this run started: the figures are "
                "for the code as it was at the start (the next run rebuilds the index)"
            )
    return CachedBuild(report, seconds, reason, fingerprint[:12], note)


#: The indexing code as this process imported it (see `_loaded_code`).
_LOADED_FINGERPRINT = index_code_fingerprint()
_LOADED_UNCERTAIN = _recently_changed(_IMPORTED_AT - 10.0)


# --- metrics -----------------------------------------------------------------------


def doc_id_of(source: str) -> str:
    """A passage's document id: its source file's stem (`4983.txt` → `4983`)."""
    return PurePosixPath(source).stem


def doc_ranking(doc_ids: Iterable[str]) -> list[str]:
    """Document ids of a passage ranking (best first, one per passage) in order
    of first appearance: a document's rank is that of its best passage."""
    return list(dict.fromkeys(doc_ids))


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """BEIR/trec_eval nDCG@k: gain = the qrels grade, discount log2(rank + 1)."""
    dcg = sum(qrels.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], 1))
    ideal = sorted((grade for grade in qrels.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 100) -> float:
    """Share of the documents judged relevant (grade > 0) found in the top k."""
    relevant = {doc for doc, grade in qrels.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant document within the top k, else 0."""
    return next(
        (1.0 / rank for rank, doc in enumerate(ranking[:k], 1) if qrels.get(doc, 0) > 0), 0.0
    )


def mean(values: Iterable[float]) -> float:
    chosen = list(values)
    return sum(chosen) / len(chosen) if chosen else 0.0


def environment_note() -> str:
    """The `ASSISTANT_*` variables in effect (read, never changed), for the report."""
    names = sorted(name for name in os.environ if name.startswith("ASSISTANT_"))
    return ", ".join(f"{name}={os.environ[name]}" for name in names) or "none"


@functools.cache
def git_state() -> str:
    """The commit and whether `assistant/` differs from it, as first asked in
    this process (the benchmarks ask when they start: the code a process runs
    is the code it imported then, whatever is committed later)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
            )
        except OSError:
            return ""
        return done.stdout.strip()

    commit = git("log", "-1", "--format=%h") or "unknown"
    diff = git("diff", "--shortstat", "HEAD", "--", "assistant")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "assistant")
    if not diff and not untracked:
        return f"commit {commit}, assistant/ clean"
    extra = f", {len(untracked.splitlines())} untracked" if untracked else ""
    return f"commit {commit} + uncommitted changes in assistant/ ({diff or 'no diff'}{extra})"
