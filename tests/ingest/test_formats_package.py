"""The formats subpackage: its public names, the worker's independence from the
rest of `assistant`, and the PDF layout step (lines → paragraphs → text layer)."""

from __future__ import annotations

import ast
from pathlib import Path

import assistant.ingest.formats as formats
from assistant.ingest.formats.limits import Deadline
from assistant.ingest.formats.pdf import _assemble_pdf
from assistant.ingest.formats.pdf_layout import lay_out
from assistant.ingest.formats.pdf_lines import Line

PACKAGE = Path(formats.__file__).parent


def test_the_package_keeps_the_names_other_modules_import() -> None:
    for name in (
        "CharRun",
        "ExtractLimits",
        "Extracted",
        "PageImage",
        "chars_in_range",
        "check_char_runs",
        "extract",
        "named_format",
        "page_of",
        "render_page",
        "sniff_kind",
        "_extract_checked",  # benchmarks/ingest.py
    ):
        assert hasattr(formats, name), name
    assert formats.extract.__module__ == "assistant.ingest.formats.api"


def test_the_worker_can_load_the_package_alone() -> None:
    # The worker boots the package from its path under another name: an import
    # of anything outside it (absolute `assistant…` or `from ..`) would fail there.
    outside = []
    for module in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (
                node.level > 1 or (node.level == 0 and (node.module or "").startswith("assistant"))
            ):
                outside.append(f"{module.name}: from {'.' * node.level}{node.module}")
            elif isinstance(node, ast.Import):
                outside += [
                    f"{module.name}: import {a.name}"
                    for a in node.names
                    if a.name.startswith("assistant")
                ]
    assert outside == []


def _line(
    text: str,
    bottom: float,
    *,
    size: float = 12,
    right: float = 540,
    hyphen: str = "",
    hyphen_char: int = -1,
) -> Line:
    return Line(
        text=text,
        left=72,
        right=right,
        bottom=bottom,
        top=bottom + size,
        size=size,
        hyphen=hyphen,
        runs=[(0, len(text), 0)],
        hyphen_char=hyphen_char,
    )


def _pages() -> list[tuple[list[Line], float]]:
    first = _line("The alliance adapts its com", 600, hyphen="-", hyphen_char=27)
    second = _line("mand structure.", 586, right=200)
    second.runs = [(0, 15, 28)]
    heading = _line("Outlook", 600, size=18, right=150)
    last = _line("Next paragraph starts here.", 570, right=300)
    return [([first, second], 792.0), ([], 792.0), ([heading, last], 792.0)]


def test_lay_out_joins_a_broken_word_and_marks_pages_and_headings() -> None:
    laid = lay_out(_pages(), Deadline(60))
    assert laid.texts == [
        "The alliance adapts its command structure.",
        "Outlook",
        "Next paragraph starts here.",
    ]
    assert laid.runs == [[(0, 27, 0, 0), (27, 15, 0, 28)], [(0, 7, 2, 0)], [(0, 27, 2, 0)]]
    assert laid.page_starts == [(0, 0), None, (1, 0)]
    assert laid.headings == [(1, "Outlook")]


def test_assembled_text_layer_offsets() -> None:
    extracted = _assemble_pdf(_pages(), {"Author": " A.  Writer "}, [], Deadline(60))
    assert extracted.text == (
        "The alliance adapts its command structure.\nOutlook\nNext paragraph starts here."
    )
    assert extracted.pages == [0, 43, 43]  # the empty page starts where the next one does
    assert extracted.sections == [(43, "Outlook")]
    assert extracted.title is None  # no /Title, and no heading on the first page
    assert extracted.author == "A. Writer"
    assert extracted.char_runs == [(0, 27, 0, 0), (27, 15, 0, 28), (43, 7, 2, 0), (51, 27, 2, 0)]
