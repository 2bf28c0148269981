"""Answer quality when the same documents come as web pages, Word files or PDFs.

Each document of an evaluation set (`benchmarks/data/<set>/sources/`) is written
again as a saved web page, a .docx (python-docx) and a PDF printed by headless
Chromium, the same way `benchmarks.ingest` writes them; each folder is indexed
with the defaults and asked the set's questions, split by split. The first row
is the set's own .txt / .md files, so every other row is read against it: a
drop there is text or metadata lost in extraction (a title or date not found,
words run together, a page break inside a sentence).

Needs /usr/bin/chromium for the PDF row (`--formats txt html docx` skips it).
Run: `python -m benchmarks.formats [--set alliance] [--formats txt html docx pdf]`.
Prints a Markdown table; nothing is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant import Settings, build_index
from assistant.evaluation import EvalItem, EvalReport, evaluate, load_eval_items

from .common import ALLIANCE
from .ingest import chromium_page, read_article, write_article

FORMATS = ("txt", "html", "docx", "pdf")
SPLITS = ("dev", "heldout")


@contextlib.contextmanager
def _pdf_printer(formats: Sequence[str]) -> Iterator[Any]:
    """A Chromium page when a PDF is to be printed, else None."""
    if "pdf" in formats:
        with chromium_page() as page:
            yield page
    else:
        yield None


def write_as(sources: Path, fmt: str, folder: Path, page: Any) -> dict[str, str]:
    """Every .txt and .md document under `sources` written into `folder` as `fmt`
    ("txt": copied unchanged), at the same relative path.

    Returns:
        Original path → the new file's path, both relative and POSIX style.

    Raises:
        SystemExit: Two documents would become one file ("a.txt" and "a.md").
    """
    names: dict[str, str] = {}
    for path in sorted(
        p for p in sources.rglob("*") if p.is_file() and p.suffix in (".txt", ".md")
    ):
        relative = path.relative_to(sources)
        target = relative if fmt == "txt" else relative.with_suffix(f".{fmt}")
        if target.as_posix() in names.values():
            raise SystemExit(f"{relative} and another document would both be {target}")
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        if fmt == "txt":
            shutil.copyfile(path, folder / target)
        else:
            write_article(read_article(path), folder / target, page)
        names[relative.as_posix()] = target.as_posix()
    return names


def renamed(items: Sequence[EvalItem], names: dict[str, str]) -> list[EvalItem]:
    """`items` with each answer's source named as in the converted folder."""
    return [
        item.model_copy(update={"source": names.get(item.source, item.source)})
        if item.source
        else item
        for item in items
    ]


def _row(fmt: str, split: str, report: EvalReport) -> str:
    cells = [
        fmt,
        split,
        f"{report.hit_at[1]:.3f}",
        f"{report.hit_at[3]:.3f}",
        f"{report.mrr:.3f}",
        f"{report.doc_at_1:.3f}",
        f"{report.highlight_at_1:.3f}",
        f"{report.off_topic_abstained}/{report.off_topic}",
        f"{report.near_topic_abstained}/{report.near_topic}",
        f"{report.false_abstentions}/{report.answerable}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--set",
        choices=sorted(p.name for p in ALLIANCE.parent.iterdir() if p.is_dir()),
        default=ALLIANCE.name,
        help="which evaluation set of benchmarks/data/ (default: alliance)",
    )
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("-k", type=int, default=5, help="excerpts per question")
    args = parser.parse_args(argv)
    data = ALLIANCE.parent / args.set
    items = load_eval_items(data / "questions.jsonl")
    lines = [
        f"# Quality by format: {args.set}, {len(items)} questions, k={args.k}",
        "",
        "| format | split | hit@1 | hit@3 | MRR | doc@1 | highlight@1 | off-topic abst. "
        "| near-topic abst. | false abst. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="formats-") as scratch,
        _pdf_printer(args.formats) as page,
    ):
        for fmt in args.formats:
            root = Path(scratch) / fmt
            names = write_as(data / "sources", fmt, root / "sources", page)
            settings = Settings.from_env(root / "sources", root / "index")
            build_index(settings=settings)
            for split in SPLITS:
                asked = renamed([i for i in items if i.split == split], names)
                report = evaluate(asked, k=args.k, settings=settings)
                lines.append(_row(fmt, split, report))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
