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
from assistant.evaluation import (
    SPLITS,
    EvalItem,
    TableRow,
    evaluate,
    load_eval_items,
    markdown_table,
)

from .common import ALLIANCE, add_set_argument
from .ingest import chromium_page, read_article, write_article

FORMATS = ("txt", "html", "docx", "pdf")
COLUMNS = ("hit@1", "hit@3", "mrr", "doc@1", "highlight@1", "off_topic", "near_topic", "false")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_set_argument(parser)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("-k", type=int, default=5, help="excerpts per question")
    args = parser.parse_args(argv)
    data = ALLIANCE.parent / args.set
    items = load_eval_items(data / "questions.jsonl")
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="formats-") as scratch,
        _pdf_printer(args.formats) as page,
    ):
        for fmt in args.formats:
            root = Path(scratch) / fmt
            names = write_as(data / "sources", fmt, root / "sources", page)
            settings = Settings.from_env(root / "sources", root / "index")
            build_index(settings=settings)
            report = evaluate(renamed(items, names), k=args.k, settings=settings)
            rows += [TableRow(f"{fmt}, {split}", report.group(split=split)) for split in SPLITS]
    title = f"# Quality by format: {args.set}, {len(items)} questions, k={args.k}"
    print(title + "\n\n" + markdown_table(rows, columns=COLUMNS, label="format, split"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
