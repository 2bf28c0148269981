"""Abstention at scale (issue #11): the alliance questions over the alliance
briefs alone, and over the same briefs with all 5,183 SciFact abstracts mixed
in as distractors (more than 10,000 passages in all).

Targets, per split (dev, held-out) and with the distractors: every off-topic
question abstained, at least 2/3 of the near-topic (unanswerable) ones
abstained, at most 2 % false abstentions on answerable questions.

Indexes (cached under `benchmarks/.cache/distractors/`, incremental):

- `alliance-index`: `benchmarks/data/alliance/sources` as they are;
- `index`: a copy of those 28 files plus every SciFact abstract as
  `<doc-id>.txt` (title line, blank line, abstract: as `benchmarks/scifact.py`
  writes them) side by side in `sources/`. No file is duplicated to pad the
  count. A first build copies `benchmarks/.cache/scifact/index` when that index
  was built by the same code, so the abstracts are not embedded twice.

Each question goes through `assistant.evaluation.evaluate` with the answerer
`ask(q, k, index_dir=..., settings=..., previous=...)` (k=5 as the quality gate).

Plain science questions are reported apart: the SciFact abstracts make
biomedical questions in-corpus. Each carries a pattern of what an answer must
state; when a SciFact abstract holds it, the question counts as "in-corpus
science" (answering it is right), otherwise as off-topic science (it should be
abstained). The top excerpt is printed so the call can be checked.

Run: `python -m benchmarks.distractors [-k 5] [--data DIR] [--json OUT]`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import ProbeCheck, Settings, ask, check_abstention
from assistant.evaluation import (
    Answerer,
    EvalItem,
    EvalReport,
    GroupMetrics,
    evaluate,
    load_eval_items,
)
from benchmarks.common import (
    ALLIANCE,
    CACHE,
    SCIFACT_DATA,
    Abstract,
    CachedBuild,
    abstract_file_text,
    build_cached,
    environment_note,
    git_state,
    load_corpus,
    sync_folder,
)

SPLITS = ("dev", "heldout")
MIN_PASSAGES = 10_000


@dataclass(frozen=True)
class ScienceQuestion:
    question: str
    answer: str
    """A regular expression (case-insensitive) for a sentence that answers it."""


SCIENCE: tuple[ScienceQuestion, ...] = (
    ScienceQuestion("What is the speed of light?", r"299[,. ]?792|speed of light (is|of)"),
    ScienceQuestion(
        "How do vaccines train the immune system?",
        r"vaccin\w*[^.]{0,120}\b(train|teach|educat)\w*[^.]{0,120}\bimmune system"
        r"|immunological memory[^.]{0,120}vaccin",
    ),
    ScienceQuestion(
        "What is the boiling point of water at sea level?", r"water boils|boiling point"
    ),
    ScienceQuestion("Why is the sky blue?", r"Rayleigh scattering|sky (is|appears) blue"),
    ScienceQuestion("What is the half-life of carbon-14?", r"half-life of (carbon-14|14C)|5,?730"),
    ScienceQuestion("What causes the seasons on Earth?", r"axial tilt|tilt of the Earth"),
    ScienceQuestion("How do antibiotics kill bacteria?", r"antibiotics kill"),
    ScienceQuestion(
        "What do mitochondria do in a cell?",
        r"mitochondria (are|have)[^.]{0,60}\b(energy|ATP)",
    ),
    ScienceQuestion(
        "How does insulin lower blood sugar?",
        r"insulin[^.]{0,60}\b(stimulat|induc|mediat)\w*[^.]{0,20}"
        r"glucose (uptake|disposal|transport)",
    ),
)


@dataclass
class Corpus:
    label: str
    index_dir: Path
    build: CachedBuild
    report: EvalReport | None = None
    seconds: float = 0.0

    @property
    def passages(self) -> int:
        return self.build.report.chunks_total


def _sentence_matching(pattern: str, corpus: Mapping[str, Abstract]) -> tuple[str, str] | None:
    """The first SciFact abstract (doc id, matched text) stating the answer."""
    compiled = re.compile(pattern, re.IGNORECASE)
    for doc_id, abstract in corpus.items():
        found = compiled.search(f"{abstract.title} {abstract.text}")
        if found:
            return doc_id, found.group(0)
    return None


def _combined_files(corpus: Mapping[str, Abstract], alliance: Path) -> dict[str, bytes]:
    files = {
        path.relative_to(alliance).as_posix(): path.read_bytes()
        for path in sorted(alliance.rglob("*"))
        if path.is_file() and path.suffix in (".txt", ".md")
    }
    for doc_id, abstract in corpus.items():
        name = f"{doc_id}.txt"
        if name in files:
            raise SystemExit(f"error: {name} is both an alliance source and a SciFact abstract")
        files[name] = abstract_file_text(abstract).encode("utf-8")
    return files


def _answerer(index_dir: Path, settings: Settings) -> Answerer:
    return lambda q, k, previous: ask(
        q, k, index_dir=index_dir, settings=settings, previous=previous
    )


def _run(corpus: Corpus, items: Sequence[EvalItem], k: int, settings: Settings) -> None:
    started = time.perf_counter()
    corpus.report = evaluate(items, k=k, answerer=_answerer(corpus.index_dir, settings))
    corpus.seconds = time.perf_counter() - started


# --- report ------------------------------------------------------------------------


def _count(done: int, total: int) -> str:
    return f"{done}/{total}" if total else "–"


def _meets(m: GroupMetrics) -> str:
    checks = [
        m.off_topic_abstained == m.off_topic,
        3 * m.near_topic_abstained >= 2 * m.near_topic,
        m.false_abstentions <= 0.02 * m.answerable,
    ]
    return "yes" if all(checks) else "**no**"


def _relevance_margins(report: EvalReport, split: str) -> str:
    rows = [r for r in report.items if r.split == split]

    def extreme(kinds: set[str] | None, pick: Any) -> str:
        values = [r.relevance for r in rows if (r.answerable if kinds is None else r.kind in kinds)]
        return f"{pick(values):.3f}" if values else "–"

    return (
        f"answerable min {extreme(None, min)}, off-topic max {extreme({'off_topic'}, max)}, "
        f"near-topic max {extreme({'near_topic'}, max)}"
    )


def markdown(corpora: Sequence[Corpus], settings: Settings, k: int, git: str) -> str:
    lines = [
        f"## Abstention with SciFact distractors ({git}, k={k}, "
        f"abstain below {settings.answer.abstain_below})",
        "",
        "| split | corpus | passages | hit@1 | hit@3 | doc@1 | off-topic abstained "
        "| near-topic abstained | false abstentions | targets met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for split in SPLITS:
        for corpus in corpora:
            assert corpus.report is not None
            m = corpus.report.by_split.get(split)
            if m is None:
                continue
            lines.append(
                f"| {split} | {corpus.label} | {corpus.passages:,} "
                f"| {m.hit_at.get(1, 0.0):.3f} | {m.hit_at.get(3, 0.0):.3f} | {m.doc_at_1:.3f} "
                f"| {_count(m.off_topic_abstained, m.off_topic)} "
                f"| {_count(m.near_topic_abstained, m.near_topic)} "
                f"| {_count(m.false_abstentions, m.answerable)} | {_meets(m)} |"
            )
    lines.append("")
    lines.append(
        "Targets: off-topic all abstained, near-topic ≥ 2/3 abstained, false abstentions ≤ 2 %."
    )
    big = corpora[-1]
    if big.passages < MIN_PASSAGES:
        lines.append(
            f"**The distractor index holds {big.passages:,} passages, under the "
            f"{MIN_PASSAGES:,} the issue asks for** (no file was duplicated to pad it)."
        )
    lines.append("")
    lines.append("Relevance (the abstention signal) per split and corpus:")
    for split in SPLITS:
        for corpus in corpora:
            assert corpus.report is not None
            lines.append(f"- {split}, {corpus.label}: {_relevance_margins(corpus.report, split)}")
    changed = _changes(corpora[0].report, corpora[-1].report)
    if changed:
        lines += ["", "Questions whose outcome changed with the distractors:", *changed]
    lines += ["", *_timing(corpora)]
    return "\n".join(lines)


def _changes(small: EvalReport | None, big: EvalReport | None) -> list[str]:
    if small is None or big is None:
        return []
    before = {r.id: r for r in small.items}
    lines = []
    for after in big.items:
        was = before.get(after.id)
        if was is None:
            continue
        notes = []
        if was.abstained != after.abstained:
            notes.append(f"abstained {was.abstained} → {after.abstained}")
        if was.hit_rank != after.hit_rank:
            notes.append(f"hit rank {was.hit_rank} → {after.hit_rank}")
        if was.right_document != after.right_document:
            notes.append(f"right document first {was.right_document} → {after.right_document}")
        if notes:
            lines.append(
                f"- {after.id} ({after.split}, {after.kind}): {'; '.join(notes)} "
                f"(relevance {was.relevance:.3f} → {after.relevance:.3f}, top source "
                f"{after.top_source})"
            )
    return lines


def _timing(corpora: Sequence[Corpus]) -> list[str]:
    lines = []
    for corpus in corpora:
        build = corpus.build
        note = f" (full rebuild: {build.forced_because})" if build.forced_because else ""
        lines.append(
            f"- {corpus.label}: build {build.seconds:.1f} s, {build.report.chunks_embedded:,} "
            f"passages embedded{note}; questions {corpus.seconds:.1f} s"
        )
        if build.code_note:
            lines.append(f"  - note: {build.code_note}")
    return lines


@dataclass
class ScienceResult:
    question: str
    in_corpus: str | None
    abstained: dict[str, bool]
    relevance: dict[str, float]
    top_source: dict[str, str | None]
    answer_in_top3: dict[str, bool]
    top_excerpt: str


def run_science(
    corpora: Sequence[Corpus], corpus: Mapping[str, Abstract], k: int, settings: Settings
) -> list[ScienceResult]:
    results = []
    for item in SCIENCE:
        found = _sentence_matching(item.answer, corpus)
        pattern = re.compile(item.answer, re.IGNORECASE)
        result = ScienceResult(
            question=item.question,
            in_corpus=f"{found[0]} ({found[1]!r})" if found else None,
            abstained={},
            relevance={},
            top_source={},
            answer_in_top3={},
            top_excerpt="",
        )
        for index in corpora:
            answer = ask(item.question, k, index_dir=index.index_dir, settings=settings)
            top = answer.citations[0] if answer.citations else None
            result.abstained[index.label] = answer.abstained
            result.relevance[index.label] = answer.relevance
            result.top_source[index.label] = top.source if top else None
            result.answer_in_top3[index.label] = any(
                pattern.search(c.text) for c in answer.citations[:3]
            )
            if top is not None:
                result.top_excerpt = " ".join(top.text.split())[:160]
        results.append(result)
    return results


def science_markdown(results: Sequence[ScienceResult], corpora: Sequence[Corpus]) -> str:
    small, big = corpora[0].label, corpora[-1].label
    lines = [
        "## Plain science questions (reported apart from the alliance off-topic set)",
        "",
        "SciFact is biomedical: a science question it answers is **in-corpus science** once "
        "the abstracts are mixed in (answering it is right); the others are off-topic science "
        "and should be abstained. The class comes from a pattern of what an answer must state, "
        "searched in every abstract.",
        "",
        f"| question | class | {small}: abstained (relevance) "
        f"| {big}: abstained (relevance) | {big}: top source | answer in top 3 "
        f"| {big}: top excerpt |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        kind = f"in-corpus science: {r.in_corpus}" if r.in_corpus else "off-topic science"
        lines.append(
            f"| {r.question} | {kind} "
            f"| {r.abstained[small]} ({r.relevance[small]:.3f}) "
            f"| {r.abstained[big]} ({r.relevance[big]:.3f}) "
            f"| {r.top_source[big]} | {r.answer_in_top3[big]} "
            f"| {r.top_excerpt.replace('|', '/')} |"
        )
    off = [r for r in results if r.in_corpus is None]
    inside = [r for r in results if r.in_corpus is not None]
    lines += [
        "",
        f"Off-topic science abstained: {small} "
        f"{sum(r.abstained[small] for r in off)}/{len(off)}, {big} "
        f"{sum(r.abstained[big] for r in off)}/{len(off)}. In-corpus science answered "
        f"(not abstained) with the distractors: {sum(not r.abstained[big] for r in inside)}"
        f"/{len(inside)}, the answer in the top 3 for "
        f"{sum(r.answer_in_top3[big] for r in inside)}/{len(inside)}.",
    ]
    return "\n".join(lines)


def probes_markdown(probes: Mapping[str, ProbeCheck]) -> str:
    """What `assistant build`'s off-domain probe check says of each index."""
    lines = [
        "| index | off-domain probes answered | highest relevance | e.g. |",
        "|---|---|---|---|",
    ]
    for label, check in probes.items():
        worst = max(check.answered, key=lambda item: item[1], default=None)
        lines.append(
            f"| {label} | {len(check.answered)}/{check.probes} | {worst[1]:.2f} | {worst[0]} |"
            if worst
            else f"| {label} | 0/{check.probes} | – | – |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=SCIFACT_DATA, help="BEIR SciFact folder")
    parser.add_argument("--alliance", type=Path, default=ALLIANCE, help="alliance data set")
    parser.add_argument("-k", type=int, default=5, help="excerpts per question")
    parser.add_argument("--cache", type=Path, default=CACHE / "distractors")
    parser.add_argument(
        "--seed-index", type=Path, default=CACHE / "scifact" / "index",
        help="a SciFact-only index to copy before the first build",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="rebuild both indexes in full")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    args = parser.parse_args(argv)

    git = git_state()
    data, alliance, cache = Path(args.data), Path(args.alliance), Path(args.cache)
    if not (data / "corpus.jsonl").is_file():
        print(f"error: no SciFact corpus.jsonl in {data} (use --data DIR)", file=sys.stderr)
        return 2
    corpus = load_corpus(data)
    items = load_eval_items(alliance / "questions.jsonl")

    written, deleted = sync_folder(_combined_files(corpus, alliance / "sources"), cache / "sources")
    print(f"sources: {written} written, {deleted} removed", file=sys.stderr)
    small_build = build_cached(alliance / "sources", cache / "alliance-index", force=args.force)
    print(small_build.report.summary(), file=sys.stderr)
    big_build = build_cached(
        cache / "sources", cache / "index", force=args.force, seed_from=args.seed_index
    )
    print(big_build.report.summary(), file=sys.stderr)
    corpora = [
        Corpus("alliance only", cache / "alliance-index", small_build),
        Corpus(f"+ {len(corpus):,} SciFact abstracts", cache / "index", big_build),
    ]

    settings = Settings.from_env()
    for index in corpora:
        print(f"asking {len(items)} questions over {index.label} …", file=sys.stderr)
        _run(index, items, args.k, settings)
    science = run_science(corpora, corpus, args.k, settings)
    probes = {c.label: check_abstention(c.index_dir, settings=settings) for c in corpora}

    print(markdown(corpora, settings, args.k, git))
    print()
    print(science_markdown(science, corpora))
    print()
    print(probes_markdown(probes))
    print(f"\nASSISTANT_* variables: {environment_note()}.")
    if args.json is not None:
        out = {
            "git": git,
            "k": args.k,
            "corpora": [
                {
                    "label": c.label,
                    "passages": c.passages,
                    "build_seconds": c.build.seconds,
                    "forced_because": c.build.forced_because,
                    "code": c.build.code,
                    "code_note": c.build.code_note,
                    "questions_seconds": c.seconds,
                    "report": c.report.model_dump(mode="json") if c.report else None,
                }
                for c in corpora
            ],
            "science": [r.__dict__ for r in science],
            "probes": {label: check.model_dump() for label, check in probes.items()},
        }
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
