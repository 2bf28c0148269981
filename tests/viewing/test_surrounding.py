"""The text around a cited excerpt, for the chat's "show surrounding text"."""

from pathlib import Path

from assistant import context_of, retrieve

from ..conftest import BRIEF, SOURCES, brief_sources

QUESTION = "Who is Japan's defense minister?"


def test_context_is_the_text_either_side_cut_at_word_boundaries(brief_index: Path) -> None:
    citation = retrieve(QUESTION, k=1, index_dir=brief_index)[0]
    text = (SOURCES / BRIEF).read_text(encoding="utf-8")
    context = context_of(citation, SOURCES, chars=120, index_dir=brief_index)
    assert context is not None
    assert text[: citation.start].endswith(context.before)
    assert text[citation.end :].startswith(context.after)
    assert 100 <= len(context.before) <= 120
    assert 100 <= len(context.after) <= 120
    # whole words only: a space just outside either end
    assert text[citation.start - len(context.before) - 1] == " "
    assert text[citation.end + len(context.after)] == " "


def test_no_context_once_the_source_changed(brief_index: Path, tmp_path: Path) -> None:
    citation = retrieve(QUESTION, k=1, index_dir=brief_index)[0]
    sources = brief_sources(tmp_path)
    brief = sources / BRIEF
    brief.write_text("Edited.\n" + brief.read_text(encoding="utf-8"), encoding="utf-8")
    assert context_of(citation, sources, index_dir=brief_index) is None
    # the unchanged copy still gives it
    assert context_of(citation, SOURCES, index_dir=brief_index) is not None
