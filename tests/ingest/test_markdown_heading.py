"""`markdown_heading`, the one rule for Markdown headings (paragraphs, titles, sections)."""

import pytest

from assistant.ingest.chunking import markdown_heading


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("# Background", "Background"),
        ("###### Six marks", "Six marks"),
        ("## Closed ##", "Closed"),
        ("## Spaced out  #  ", "Spaced out"),
        ("# 2+2 #hash inside", "2+2 #hash inside"),
        ("# ##", "#"),
        ("#  ", ""),
        ("#Title", None),
        ("####### Seven marks", None),
        ("# ", None),
        ("Plain line", None),
        ("", None),
    ],
)
def test_markdown_heading(line: str, text: str | None) -> None:
    assert markdown_heading(line) == text


def test_a_long_spaced_line_keeps_its_inner_spaces() -> None:
    # The regex this replaced backtracked for minutes on this line; no timing is
    # asserted here (timings are noisy), but a quadratic rule would stall this test.
    line = "# a" + " " * 100_000 + "b"
    assert markdown_heading(line) == "a" + " " * 100_000 + "b"
    assert markdown_heading(line + " ###") == "a" + " " * 100_000 + "b"
