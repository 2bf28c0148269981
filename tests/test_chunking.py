import itertools
from pathlib import Path

import pytest

from assistant._chunking import chunk_document, split_paragraphs, split_sentences
from assistant._models import load_tokenizer
from assistant._settings import DEFAULT_MODEL, ChunkingSettings
from assistant._sources import load_documents, read_source

from .conftest import BRIEF, DATA, SOURCES

TOKENIZER = load_tokenizer(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def brief_chunks():
    documents, _ = load_documents(SOURCES)
    brief = next(d for d in documents if d.source == BRIEF)
    return brief, chunk_document(brief, TOKENIZER, ChunkingSettings())


def test_every_chunk_round_trips_through_the_file(brief_chunks) -> None:
    brief, chunks = brief_chunks
    text = Path(SOURCES, brief.source).read_text(encoding="utf-8")
    assert len(chunks) > 10
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        for sentence in chunk.sentences:
            assert chunk.start <= sentence.start < sentence.end <= chunk.end
            assert (
                text[sentence.start : sentence.end].strip() == text[sentence.start : sentence.end]
            )


def test_no_chunk_starts_inside_a_us_sentence(brief_chunks) -> None:
    _, chunks = brief_chunks
    sentence_starts = [text for c in chunks for text in (c.text,)]
    for tail in ("Forces Japan (USFJ)", "Indo-Pacific Command", "Defense Secretary Austin"):
        assert not any(t.startswith(tail) for t in sentence_starts), tail
    # and no sentence inside a chunk starts there either
    _, chunks = brief_chunks
    brief, _ = brief_chunks
    for chunk in chunks:
        for s in chunk.sentences:
            assert not brief.text[s.start :].startswith(("Forces Japan", "Indo-Pacific Command"))


def test_chunks_respect_the_token_bound_and_paragraphs(brief_chunks) -> None:
    brief, chunks = brief_chunks
    assert max(c.tokens for c in chunks) <= ChunkingSettings().max_tokens
    for chunk in chunks:
        assert chunk.tokens == TOKENIZER.count(chunk.text)
        assert "\n" not in chunk.text  # the brief has one paragraph per line
    # headings and header lines are not passages
    assert not any(c.text in ("INTELBRIEF", "Bottom Line Up Front") for c in chunks)
    # bullet marks are trimmed from excerpts
    assert chunks[0].text.startswith("During a so-called 2+2 dialogue")
    assert chunks[0].start == brief.text.index("During a so-called")


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Gen. Okafor met No. 5 officials. Dr. J. R. Hale saw a 3.5 percent rise in the U.K. "
            "and the U.S. Navy agreed.",
            [
                "Gen. Okafor met No. 5 officials.",
                "Dr. J. R. Hale saw a 3.5 percent rise in the U.K. and the U.S. Navy agreed.",
            ],
        ),
        (
            "U.S. Forces Japan will become a JFHQ. It reports to U.S. Indo-Pacific Command.",
            ["U.S. Forces Japan will become a JFHQ.", "It reports to U.S. Indo-Pacific Command."],
        ),
    ],
)
def test_abbreviations_do_not_end_sentences(text: str, sentences: list[str]) -> None:
    spans = split_sentences(text, 0, len(text))
    assert [text[s.start : s.end] for s in spans] == sentences


def test_markdown_paragraphs_headings_and_bullets() -> None:
    document = read_source(DATA / "2023-11-02-quad-foreign-ministers.md", "quad.md")
    paragraphs = split_paragraphs(document.text)
    texts = [(document.text[p.start : p.end], p.is_heading) for p in paragraphs]
    assert texts[0] == ("# Quad Foreign Ministers Meet in Jakarta", True)
    assert texts[2] == ("## Outcomes", True)
    assert texts[3][0].startswith("The ministers agreed")  # bullet mark trimmed
    assert texts[1][0].startswith("The foreign ministers")
    assert texts[1][0].endswith("dark shipping.")
    chunks = chunk_document(document, TOKENIZER, ChunkingSettings())
    assert all(document.text[c.start : c.end] == c.text for c in chunks)
    assert not any(c.text.startswith("#") for c in chunks)


def test_wrapped_lines_stay_one_paragraph() -> None:
    text = (
        "Title\n\nThe first line of a paragraph\nwraps onto a second line.\n\n"
        "Next paragraph here.\n"
    )
    paragraphs = [text[p.start : p.end] for p in split_paragraphs(text)]
    assert paragraphs == [
        "Title",
        "The first line of a paragraph\nwraps onto a second line.",
        "Next paragraph here.",
    ]


def test_overlong_sentence_is_cut_into_bounded_windows(tmp_path: Path) -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    (tmp_path / "long.txt").write_text(f"Long Line\n{words}\n")
    document = read_source(tmp_path / "long.txt", "long.txt")
    settings = ChunkingSettings(max_tokens=64)
    chunks = chunk_document(document, TOKENIZER, settings)
    assert len(chunks) > 20
    assert all(c.tokens <= 64 for c in chunks)
    assert all(document.text[c.start : c.end] == c.text for c in chunks)
    # windows tile the line without losing a word
    assert " ".join(c.text for c in chunks) == words


def test_sentence_overlap(brief_chunks) -> None:
    brief, _ = brief_chunks
    chunks = chunk_document(brief, TOKENIZER, ChunkingSettings(max_tokens=128, overlap_sentences=1))
    shared = [a for a, b in itertools.pairwise(chunks) if b.start < a.end]
    assert shared, "consecutive passages of a paragraph repeat one sentence"
    assert all(brief.text[c.start : c.end] == c.text for c in chunks)
