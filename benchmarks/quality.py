"""Answer quality on an evaluation set: this project against the usual stacks.

Rows, all with the same embedding model and the same questions:
- this project: BM25 + dense, convex fusion plus phrase and answer-type bonuses,
  near-duplicate removal, sentence highlights, abstention (`ask()`);
- RRF, dense only, BM25 only: the same pipeline with another ranking;
- the common RAG default: LangChain's `RecursiveCharacterTextSplitter` (1000
  characters, 200 overlap) embedded into a FAISS `IndexFlatL2`, top-k chunks
  returned as they are (what `FAISS.from_documents` + `similarity_search` give);
  it has no highlight and never abstains.

Run: `make bench` or `python -m benchmarks.quality [--eval FILE] [--sources DIR] [-k N]`.
Prints a Markdown table; nothing here is timed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant import ask, build_index
from assistant._embedding import load_embedder
from assistant._evaluation import Answerer, EvalReport, evaluate, load_eval_items
from assistant._settings import Settings
from assistant._sources import load_documents
from assistant._types import Answer, Citation

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev_qa.jsonl"


@contextmanager
def _fusion(name: str) -> Iterator[None]:
    """Run `ask()` with `ASSISTANT_FUSION=name` (restored afterwards)."""
    before = os.environ.get("ASSISTANT_FUSION")
    os.environ["ASSISTANT_FUSION"] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ASSISTANT_FUSION", None)
        else:
            os.environ["ASSISTANT_FUSION"] = before


class LangChainDefault:
    """Fixed 1000/200 character chunks, same model, exact L2 search, no extras."""

    def __init__(self, sources_dir: Path, model: str) -> None:
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=1000, chunk_overlap=200, add_start_index=True
        )
        self.chunks: list[tuple[str, str, int]] = []
        documents, _skipped = load_documents(sources_dir)
        for document in documents:
            for piece in splitter.create_documents([document.text]):
                self.chunks.append(
                    (document.source, piece.page_content, int(piece.metadata["start_index"]))
                )
        self.embedder = load_embedder(model)
        vectors = self.embedder.encode_passages([text for _, text, _ in self.chunks])
        self.index = faiss.IndexFlatL2(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def __call__(self, question: str, k: int) -> Answer:
        query = self.embedder.encode_query(question).reshape(1, -1).astype(np.float32)
        distances, ids = self.index.search(query, min(k, len(self.chunks)))
        citations = [
            Citation(
                rank=rank,
                score=-float(distance),
                source=self.chunks[i][0],
                title=self.chunks[i][0],
                text=self.chunks[i][1],
                start=self.chunks[i][2],
                end=self.chunks[i][2] + len(self.chunks[i][1]),
                chunk_id=int(i),
                generation="langchain-default",
            )
            for rank, (i, distance) in enumerate(zip(ids[0], distances[0], strict=True), 1)
            if i >= 0
        ]
        return Answer(
            question=question, text="", citations=citations, abstained=False, relevance=1.0
        )


def _row(name: str, report: EvalReport) -> str:
    abstention = f"{report.off_topic_abstained}/{report.off_topic} off-topic, "
    abstention += f"{report.false_abstentions}/{report.answerable} false"
    return (
        f"| {name} | {report.hit_at[1]:.3f} | {report.hit_at.get(3, 0.0):.3f} | "
        f"{report.mrr:.3f} | {report.mean_top3_chars:.0f} | {report.highlight_at_1:.3f} | "
        f"{abstention} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="JSONL questions")
    parser.add_argument("--sources", type=Path, default=Path("sources"), help="documents")
    parser.add_argument("-k", type=int, default=5, help="excerpts per question")
    args = parser.parse_args(argv)
    items = load_eval_items(args.eval)
    model = Settings.from_env().model

    with tempfile.TemporaryDirectory(prefix="quality-") as scratch:
        index_dir = Path(scratch) / "index"
        build_index(args.sources, index_dir)

        def ours(question: str, k: int) -> Answer:
            return ask(question, k, index_dir=index_dir)

        rows: list[tuple[str, str, Answerer]] = [
            ("this project (hybrid: convex + phrase + answer type)", "convex", ours),
            ("same pipeline, RRF fusion", "rrf", ours),
            ("same pipeline, dense only", "dense", ours),
            ("same pipeline, BM25 only", "lexical", ours),
        ]
        lines = [
            f"{len(items)} questions from {args.eval.name}, k={args.k}, model {model}",
            "",
            "| system | hit@1 | hit@3 | MRR | mean top-3 excerpt (chars) | highlight@1 "
            "| abstention |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, fusion, answerer in rows:
            with _fusion(fusion):
                lines.append(_row(name, evaluate(items, k=args.k, answerer=answerer)))
        baseline = LangChainDefault(args.sources, model)
        lines.append(
            _row(
                "LangChain default: 1000/200 char chunks, FAISS IndexFlatL2",
                evaluate(items, k=args.k, answerer=baseline),
            )
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
