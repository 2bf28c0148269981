"""Answer quality on an evaluation corpus: this project against plain baselines,
every row through the same answer layer.

Default corpus: `benchmarks/data/alliance` (28 documents, 105 questions of six
kinds, 24 dialogues, each split into dev and held-out); `--set alliance-b` runs
the second set (18 documents, 96 questions, 20 dialogues, written after the
method). Rows, all with the same embedding model, the same questions and the same k:

- this project: `ask()` with the default settings (BM25 + dense over passages
  embedded and indexed after their document's title and date, convex fusion with
  sentence evidence, near-duplicate removal, sentence highlights, abstention);
- the same pipeline with one ranking changed, passed as `ask(..., settings=)`
  with another `retrieval.fusion` (never through `os.environ`): dense only,
  BM25 only, RRF;
- plain baselines over fixed character chunks of the same documents: dense
  (exact cosine), BM25 (bm25s with Snowball stems and its English stopwords) and
  RRF of both (the project's `fuse_rrf`, k=60, over each ranking's top 100),
  all over 400-character windows overlapping by 80 (cut at whitespace); and the
  common RAG default, LangChain's `RecursiveCharacterTextSplitter` (1000
  characters, 200 overlap) with exact dense search (what `FAISS.from_documents`
  + `similarity_search` return: L2 on unit vectors ranks as cosine does).

The answer layer. Baseline rows turn their top-k chunks into `Citation`s and then
apply `ask()`'s own composition: the relevance signal (`_answer.relevance`: best
passage cosine + coverage weight × IDF-weighted share of the question's terms the
corpus knows) against the same `abstain_below`, then `ExtractiveGenerator` +
`verify`. The signals are computed over the baseline's own chunks (its vectors,
a `LexicalIndex` of its chunk texts), so abstention is measured for every row;
note that `abstain_below` was fitted on the project's ~96-token passages, and
longer chunks give other cosines. Baselines mark no sentence, so highlight@1 is
n/a for them (and their composed text is empty: there is no highlight to
extract; no figure here reads the text). Like `ask()`, an abstaining row keeps
only its top 3 excerpts, so a false abstention can also cost hit@5.

Dialogues are asked turn by turn, each turn resolved against the previous
turn's query with `resolve_followup`, as the chat UI does (the same for every row).

Run: `make bench` or `python -m benchmarks.quality [--set NAME] [--eval FILE
--sources DIR] [--dialogues FILE] [-k N] [--json OUT]`. Prints Markdown tables; nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant import ask, build_index
from assistant._settings import Settings
from assistant._types import Answer, Citation, Document
from assistant.answer.compose import ABSTAIN_MESSAGE, ExtractiveGenerator, relevance
from assistant.answer.followups import PreviousTurn, resolve_followup
from assistant.answer.verify import verify
from assistant.embedding.transformer import Embedder, load_embedder
from assistant.evaluation import (
    Answerer,
    DialogueReport,
    EvalReport,
    TableRow,
    dialogue_markdown_table,
    evaluate,
    evaluate_dialogues,
    load_dialogues,
    load_eval_items,
    markdown_table,
)
from assistant.indexing.generations import read_generation
from assistant.indexing.lexical import LexicalIndex, content_terms
from assistant.ingest.sources import load_documents
from assistant.search.fusion import fuse_rrf
from assistant.search.question import clean_question
from assistant.search.signals import Signals, abstention_signals, term_weights

from .common import ALLIANCE, add_set_argument

#: Candidates each ranking hands to RRF in the baselines (the project's default too).
POOL = 100

# --- plain baselines ----------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """A chunk of a baseline: `document.text[start:start + len(text)] == text`."""

    document: Document
    start: int
    text: str


def fixed_windows(text: str, size: int = 400, overlap: int = 80) -> list[tuple[int, int]]:
    """`(start, end)` windows of at most `size` characters, each starting about
    `overlap` characters before the previous one ended; both ends moved to
    whitespace so no word is cut (unless a word is longer than half a window)."""
    spans: list[tuple[int, int]] = []
    last = len(text.rstrip())
    start = _skip_space(text, 0)
    while start < last:
        end = min(start + size, len(text))
        if end < len(text) and not text[end].isspace():
            cut = end
            while cut > start + size // 2 and not text[cut - 1].isspace():
                cut -= 1
            if cut > start + size // 2:
                end = cut
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
        if end >= last:
            break
        following = max(end - overlap, start + 1)
        while following < end and not text[following - 1].isspace():
            following += 1
        start = _skip_space(text, following)
    return spans


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def fixed_pieces(documents: Sequence[Document], size: int, overlap: int) -> list[Piece]:
    return [
        Piece(d, start, d.text[start:end])
        for d in documents
        for start, end in fixed_windows(d.text, size, overlap)
    ]


def langchain_pieces(documents: Sequence[Document]) -> list[Piece]:
    """LangChain's default splitter: recursive on paragraphs, lines, words; 1000/200."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=1000, chunk_overlap=200, add_start_index=True
    )
    pieces = []
    for document in documents:
        for piece in splitter.create_documents([document.text]):
            start = int(piece.metadata["start_index"])
            assert document.text[start : start + len(piece.page_content)] == piece.page_content
            pieces.append(Piece(document, start, piece.page_content))
    return pieces


Method = Literal["dense", "bm25", "rrf"]


@dataclass
class ChunkCorpus:
    """One chunking of the documents: vectors, a plain bm25s index and, for the
    answer layer's coverage signal only, the project's `LexicalIndex`."""

    name: str
    pieces: list[Piece]
    embedder: Embedder
    vectors: npt.NDArray[np.float32] = field(init=False)
    bm25: bm25s.BM25 = field(init=False)
    lexical: LexicalIndex = field(init=False)

    def __post_init__(self) -> None:
        texts = [p.text for p in self.pieces]
        self.vectors = self.embedder.encode_passages(texts)
        self._stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokens, show_progress=False)
        self.lexical = LexicalIndex(texts)

    def dense(self, query: npt.NDArray[np.float32]) -> list[tuple[int, float]]:
        scores = self.vectors @ query
        order = np.argsort(-scores, kind="stable")[:POOL]
        return [(int(i), float(scores[i])) for i in order]

    def bm25_ranking(self, question: str) -> list[tuple[int, float]]:
        tokens = bm25s.tokenize(
            question, stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        known = [t for t in tokens if t in self.bm25.vocab_dict]
        if not known:
            return []
        scores = np.asarray(self.bm25.get_scores(known), dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[:POOL]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]


class ChunkBaseline:
    """A plain retriever over a `ChunkCorpus`, answered through `ask()`'s answer
    layer (an `Answerer`)."""

    def __init__(self, corpus: ChunkCorpus, method: Method, settings: Settings) -> None:
        self.corpus, self.method, self.settings = corpus, method, settings

    def __call__(self, question: str, k: int, previous: PreviousTurn | None) -> Answer:
        # A follow-up is retrieved with its context, as the chat resolves it.
        question = resolve_followup(question, previous)
        text = clean_question(question, self.settings.max_question_chars)
        query = self.corpus.embedder.encode_query(text)
        dense = self.corpus.dense(query)
        if self.method == "dense":
            ranked = dense
        elif self.method == "bm25":
            ranked = self.corpus.bm25_ranking(text)
        else:
            bm25 = self.corpus.bm25_ranking(text)
            ranked = fuse_rrf([[i for i, _ in dense], [i for i, _ in bm25]])
        citations = [self._cite(rank, i, score) for rank, (i, score) in enumerate(ranked[:k], 1)]
        terms = content_terms(text)
        signals = abstention_signals(
            dense[0][1] if dense else 0.0,
            term_weights(terms, self.corpus.lexical),
            self.corpus.lexical.known_terms(terms),
            [f"{c.title}\n{c.text}" for c in citations],
        )
        return answer_layer(text, citations, signals, self.settings)

    def _cite(self, rank: int, i: int, score: float) -> Citation:
        piece = self.corpus.pieces[i]
        return Citation(
            rank=rank,
            score=score,
            source=piece.document.source,
            title=piece.document.title,
            date=piece.document.date,
            series=piece.document.series,
            text=piece.text,
            start=piece.start,
            end=piece.start + len(piece.text),
            chunk_id=i,
            generation=self.corpus.name,
        )


def answer_layer(
    question: str, citations: list[Citation], signals: Signals, settings: Settings
) -> Answer:
    """`ask()`'s composition after `search()`, step for step."""
    score = relevance(signals, settings.answer)
    if score < settings.answer.abstain_below or not citations:
        return Answer(
            question=question,
            text=ABSTAIN_MESSAGE,
            citations=citations[:3],
            abstained=True,
            relevance=score,
        )
    writer = ExtractiveGenerator(settings.answer)
    text = verify(writer.generate(question, citations), citations)
    if not text:
        text = verify(writer.generate(question, citations[:1]), citations)
    return Answer(
        question=question, text=text, citations=citations, abstained=False, relevance=score
    )


# --- the run ------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    answerer: Answerer
    highlights: bool = True
    questions: EvalReport | None = None
    dialogues: DialogueReport | None = None


def _with(settings: Settings, section: str, **changes: object) -> Settings:
    """`settings` with fields of one section (`retrieval`, `chunking`…) changed."""
    part = getattr(settings, section).model_copy(update=changes)
    return settings.model_copy(update={section: part})


def _project(settings: Settings) -> Answerer:
    return lambda question, k, previous: ask(question, k, settings=settings, previous=previous)


#: Held-out targets of issue #11, checked on the project row.
TARGETS = "hit@1 ≥ 0.85, hit@3 ≥ 0.95, doc@1 ≥ 0.95, off-topic all abstained, near-topic ≥ 2/3"


def _targets(report: EvalReport, split: str) -> str:
    m = report.group(split=split)
    if m is None or not m.answerable:
        return ""
    checks = [
        ("hit@1", f"{m.hit_at.get(1, 0.0):.3f}", m.hit_at.get(1, 0.0) >= 0.85),
        ("hit@3", f"{m.hit_at.get(3, 0.0):.3f}", m.hit_at.get(3, 0.0) >= 0.95),
        ("doc@1", f"{m.doc_at_1:.3f}", m.doc_at_1 >= 0.95),
        (
            "off-topic abstained",
            f"{m.off_topic_abstained}/{m.off_topic}",
            m.off_topic_abstained == m.off_topic,
        ),
        (
            "near-topic abstained",
            f"{m.near_topic_abstained}/{m.near_topic}",
            3 * m.near_topic_abstained >= 2 * m.near_topic,
        ),
        (
            "false abstentions",
            f"{m.false_abstentions}/{m.answerable}",
            m.false_abstentions <= 0.02 * m.answerable,
        ),
    ]
    cells = ", ".join(f"{name} {value} {'met' if ok else 'NOT met'}" for name, value, ok in checks)
    return f"Targets ({split}, this project): {cells}."


def render(rows: Sequence[Row], header: str) -> str:
    first = rows[0].questions
    assert first is not None
    splits: list[str | None] = [*first.by_split] or [None]
    kinds = [kind for kind in first.by_kind if kind not in ("off_topic", "near_topic")]
    answerable_columns = ("n", "hit@1", "hit@3", "mrr", "doc@1", "chars", "highlight@1", "false")
    out = [header]
    for split in splits:
        title = f"{split} split" if split else "all questions"
        out += ["", f"## {title}", "", "### every question (abstention columns: off/near-topic)"]
        out += ["", markdown_table(_rows(rows, split, None))]
        for kind in kinds:
            out += ["", f"### {kind}", ""]
            out.append(markdown_table(_rows(rows, split, kind), columns=answerable_columns))
        if split == "heldout":
            out += ["", _targets(first, split)]
    if any(row.dialogues is not None for row in rows):
        dialogue_splits: list[str | None] = [None]
        dialogue_splits += [*(rows[0].dialogues.by_split if rows[0].dialogues else {})]
        for part in dialogue_splits:
            title = f"{part} split" if part else "both splits"
            table = [
                (row.name, row.dialogues.by_split.get(part) if part else row.dialogues)
                for row in rows
                if row.dialogues is not None
            ]
            out += ["", f"## dialogues, {title} (evidence in the top 3)", ""]
            out.append(dialogue_markdown_table(table))
    return "\n".join(out)


def _rows(rows: Sequence[Row], split: str | None, kind: str | None) -> list[TableRow]:
    missing = frozenset({"highlight@1"})
    return [
        TableRow(
            row.name,
            row.questions.group(split=split, kind=kind) if row.questions else None,
            frozenset() if row.highlights else missing,
        )
        for row in rows
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_set_argument(parser, "; --eval, --sources and --dialogues override its parts")
    parser.add_argument(
        "--eval", type=Path, help="JSONL questions (default: the set's questions.jsonl)"
    )
    parser.add_argument("--sources", type=Path, help="documents (default: the set's sources/)")
    parser.add_argument(
        "--dialogues",
        type=Path,
        help="JSONL dialogues (default: the set's, unless --eval is given)",
    )
    parser.add_argument("-k", type=int, default=5, help="excerpts per question")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every figure here")
    args = parser.parse_args(argv)
    data = ALLIANCE.parent / args.set
    questions_file = args.eval or data / "questions.jsonl"
    sources = args.sources or data / "sources"
    dialogues_file = args.dialogues or (None if args.eval else data / "dialogues.jsonl")
    items = load_eval_items(questions_file)
    dialogues = load_dialogues(dialogues_file) if dialogues_file else []

    with tempfile.TemporaryDirectory(prefix="quality-") as scratch:
        index_dir = Path(scratch) / "index"
        # Folders and model as the build saw them; the ranking is set per row.
        base = Settings.from_env(sources, index_dir)
        build_index(settings=base)
        # The same corpus with passages embedded alone, for the ablation row.
        plain = _with(base, "chunking", context_prefix=False)
        plain = plain.model_copy(update={"index_dir": Path(scratch) / "index-plain"})
        build_index(settings=plain)
        passages = read_generation(index_dir).manifest.chunk_count
        documents, _skipped = load_documents(sources, limits=base.ingest)
        embedder = load_embedder(base.model)
        windows = ChunkCorpus("fixed-400-80", fixed_pieces(documents, 400, 80), embedder)
        langchain = ChunkCorpus("langchain-1000-200", langchain_pieces(documents), embedder)
        rows = [
            Row("this project", _project(base)),
            Row(
                "− title/date embedded with passages",
                _project(_with(plain, "retrieval", lexical_context=False)),
            ),
            Row("− title/date in BM25", _project(_with(base, "retrieval", lexical_context=False))),
            Row(
                "fixed scales instead of per-query min-max",
                _project(_with(base, "retrieval", normalization="fixed")),
            ),
            Row("− sentence evidence", _project(_with(base, "retrieval", sentence_weight=0.0))),
            Row("+ document evidence 0.2", _project(_with(base, "retrieval", document_weight=0.2))),
            Row(
                "+ one passage per document first, from the first excerpt on",
                _project(_with(base, "retrieval", per_document=1, spread_after=0)),
            ),
            Row(
                "earlier ranking (min-max, α 0.5, passages alone)",
                _project(
                    _with(
                        plain,
                        "retrieval",
                        normalization="min_max",
                        lexical_context=False,
                        sentence_weight=0.0,
                        alpha=0.5,
                    )
                ),
            ),
            Row("project, dense only", _project(_with(base, "retrieval", fusion="dense"))),
            Row("project, BM25 only", _project(_with(base, "retrieval", fusion="lexical"))),
            Row("project, RRF", _project(_with(base, "retrieval", fusion="rrf"))),
            Row("plain dense, 400/80 chars", ChunkBaseline(windows, "dense", base), False),
            Row("plain BM25, 400/80 chars", ChunkBaseline(windows, "bm25", base), False),
            Row("plain RRF, 400/80 chars", ChunkBaseline(windows, "rrf", base), False),
            Row(
                "LangChain default, 1000/200 dense", ChunkBaseline(langchain, "dense", base), False
            ),
        ]
        for row in rows:
            row.questions = evaluate(items, k=args.k, answerer=row.answerer)
            if dialogues:
                row.dialogues = evaluate_dialogues(dialogues, k=args.k, answerer=row.answerer)

    header = (
        f"# Quality: {len(items)} questions from {questions_file.name}"
        + (f", {len(dialogues)} dialogues" if dialogues else "")
        + f"; {len(documents)} documents in {sources}; k={args.k}; model {base.model}\n\n"
        f"Chunks: project {passages} passages; 400/80 windows {len(windows.pieces)}; "
        f"LangChain 1000/200 {len(langchain.pieces)}. Rates are over answerable questions; "
        "doc@1 = top excerpt from the question's source; top-3 chars = mean excerpt length; "
        "abst. = abstained x/n. Held-out targets: " + TARGETS + ", false abstentions ≤ 2%."
    )
    print(render(rows, header))
    if args.json:
        figures = {
            "questions_file": str(questions_file),
            "dialogues_file": str(dialogues_file) if dialogues_file else None,
            "sources": str(sources),
            "k": args.k,
            "model": base.model,
            "methods": {
                row.name: {
                    "highlights": row.highlights,
                    "questions": row.questions.model_dump(mode="json") if row.questions else None,
                    "dialogues": row.dialogues.model_dump(mode="json") if row.dialogues else None,
                }
                for row in rows
            },
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
