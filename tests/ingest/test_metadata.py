"""What a text's header lines say about it (assistant.ingest.metadata)."""

from __future__ import annotations

import datetime as dt

from assistant.ingest import metadata, sources
from assistant.ingest.metadata import read_header, text_sections


def test_header_lines_give_title_date_series_and_body_start() -> None:
    text = "INTELBRIEF\n\nQuad ministers meet in Tokyo\n\nAugust 16, 2024\n\nThe ministers met."
    header = read_header(text, "briefs/quad.txt")
    assert (header.title, header.date, header.series) == (
        "Quad ministers meet in Tokyo",
        dt.date(2024, 8, 16),
        "INTELBRIEF",
    )
    assert text[header.body_start :] == "\n\nThe ministers met."


def test_a_byline_and_a_labelled_dateline_belong_to_the_header() -> None:
    text = (
        "Japan and the U.S. Sign a Pact\nBy Jane Doe\n"
        "Published: Friday, August 16, 2024\n\nThe ministers met."
    )
    header = read_header(text, "pact.txt")
    assert (header.title, header.date) == ("Japan and the U.S. Sign a Pact", dt.date(2024, 8, 16))
    assert text[header.body_start :] == "\n\nThe ministers met."


def test_a_sentence_opening_with_by_is_no_byline() -> None:
    text = "Alliance notes\nBy then, Tokyo had agreed.\n\nBody."
    header = read_header(text, "notes.txt")
    assert text[header.body_start :].startswith("\nBy then")
    # the wrapped first line of a paragraph, though it reads like names
    wrapped = (
        "Japan and Korea resume talks\nAugust 16, 2024\n\nBy Monday Prime Minister Kishida\n"
        "had spoken to President Biden twice.\n\nThe second paragraph."
    )
    header = read_header(wrapped, "talks.txt")
    assert wrapped[header.body_start :].startswith("\n\nBy Monday Prime Minister Kishida\n")


def test_without_header_lines_the_file_name_gives_title_and_date() -> None:
    text = "- a list item.\n- another item."
    header = read_header(text, "notes/2024-03-05_typhoon-relief.md")
    assert (header.title, header.date, header.series, header.body_start) == (
        "2024 03 05 typhoon relief",
        dt.date(2024, 3, 5),
        None,
        0,
    )


def test_sections_after_the_header_drop_markdown_marks() -> None:
    text = "# Title\n\nIntro text here.\n\n## Background ##\n\nThe body goes on."
    header = read_header(text, "a.md")
    assert header.title == "Title"
    assert text_sections(text, header.body_start) == [(27, "Background")]


def test_sources_still_exports_the_moved_names() -> None:
    assert sources.extract_metadata is metadata.extract_metadata
    assert sources.parse_date_line is metadata.parse_date_line
    assert sources.read_header is metadata.read_header
