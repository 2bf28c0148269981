import itertools
import random
from pathlib import Path

import pytest

from assistant._settings import DEFAULT_MODEL, ChunkingSettings
from assistant._types import Chunk, Document, Span
from assistant.ingest.chunking import (
    _WINDOW_CHARS,
    _WINDOW_PERIODS,
    chunk_document,
    pysbd_segments,
    split_paragraphs,
    split_sentences,
)
from assistant.ingest.sources import load_documents, read_source
from assistant.ingest.tokenizer import load_tokenizer

from ..conftest import BRIEF, DATA, SOURCES

TOKENIZER = load_tokenizer(DEFAULT_MODEL)
BRIEF_CHUNK_TOKENS = [
    65, 34, 43, 37, 75, 76, 69, 47, 68, 52, 90, 75, 78, 73, 75, 47, 57, 63, 81, 32, 68, 87, 37
]  # fmt: skip


@pytest.fixture(scope="module")
def brief_chunks():
    documents, _ = load_documents(SOURCES)
    brief = next(d for d in documents if d.source == BRIEF)
    return brief, chunk_document(brief, TOKENIZER, ChunkingSettings())


def test_every_chunk_round_trips_through_the_file(brief_chunks) -> None:
    brief, chunks = brief_chunks
    text = Path(SOURCES, brief.source).read_text(encoding="utf-8")
    assert len(chunks) == 23
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
    assert ChunkingSettings().max_tokens == 96
    # the model's word pieces of each passage, [CLS] and [SEP] included
    assert [c.tokens for c in chunks] == BRIEF_CHUNK_TOKENS
    for chunk in chunks:
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
    document = read_source(DATA, "2023-11-02-quad-foreign-ministers.md")
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
    document = read_source(tmp_path, "long.txt")
    settings = ChunkingSettings(max_tokens=64)
    chunks = chunk_document(document, TOKENIZER, settings)
    assert len(chunks) == 166
    assert all(c.tokens <= 64 for c in chunks)
    assert all(document.text[c.start : c.end] == c.text for c in chunks)
    # windows tile the line without losing a word
    assert " ".join(c.text for c in chunks) == words


def test_sentence_overlap(brief_chunks) -> None:
    brief, _ = brief_chunks
    chunks = chunk_document(brief, TOKENIZER, ChunkingSettings(max_tokens=128, overlap_sentences=1))
    overlapping = [(a, b) for a, b in itertools.pairwise(chunks) if b.start < a.end]
    # 9 of the 19 neighbouring pairs split a paragraph: each repeats one sentence
    assert len(chunks) == 20
    assert len(overlapping) == 9
    assert all(b.start == a.sentences[-1].start for a, b in overlapping)
    assert all(brief.text[c.start : c.end] == c.text for c in chunks)


# Passages of the brief at the default settings, recorded before sentence splitting
# was windowed and token counts summed: ordinary documents must cut the same way.
BRIEF_PASSAGES = [
    (117, 358), (361, 510), (513, 704), (707, 904), (905, 1313), (1314, 1576),
    (1577, 1908), (1909, 2115), (2116, 2457), (2458, 2707), (2708, 3126), (3127, 3497),
    (3498, 3872), (3873, 4221), (4222, 4563), (4564, 4761), (4762, 5015), (5016, 5315),
    (5316, 5744), (5745, 5912), (5913, 6228), (6229, 6671), (6672, 6869),
]  # fmt: skip


def test_brief_passages_are_unchanged(brief_chunks) -> None:
    brief, chunks = brief_chunks
    assert [(c.start, c.end) for c in chunks] == BRIEF_PASSAGES
    small = chunk_document(brief, TOKENIZER, ChunkingSettings(max_tokens=16))
    assert len(small) == 127
    assert (small[0].start, small[0].end, small[-1].start, small[-1].end) == (117, 158, 6796, 6869)


def _prose(brief_text: str, size: int) -> str:
    """About `size` characters of the brief's sentences, shuffled, as one line."""
    sentences = [
        brief_text[s.start : s.end]
        for p in split_paragraphs(brief_text)
        if not p.is_heading
        for s in split_sentences(brief_text, p.start, p.end)
    ]
    rng = random.Random(15)
    picked: list[str] = []
    while sum(map(len, picked)) + len(picked) < size:
        picked.append(rng.choice(sentences))
    return " ".join(picked)


def _document(text: str) -> Document:
    return Document(source="long.txt", text=text, sha256="0" * 64, title="long")


def _assert_passages_tile(text: str, chunks: list[Chunk], budget: int) -> None:
    """Within budget, exact offsets, and every non-blank character once, in order."""
    assert all(TOKENIZER.count(c.text) <= budget for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
    assert "".join("".join(c.text.split()) for c in chunks) == "".join(text.split())


def test_a_200_kb_line_of_abbreviations_is_chunked_within_budget() -> None:
    text = "U.S. " * 40_000
    chunks = chunk_document(_document(text), TOKENIZER, ChunkingSettings())
    _assert_passages_tile(text, chunks, ChunkingSettings().max_tokens)


@pytest.mark.slow
def test_a_1_mb_paragraph_is_chunked_within_budget(brief_text: str) -> None:
    text = _prose(brief_text, 1_000_000)
    assert "\n" not in text
    chunks = chunk_document(_document(text), TOKENIZER, ChunkingSettings())
    _assert_passages_tile(text, chunks, ChunkingSettings().max_tokens)
    assert len(chunks) > 1_000


class RecordingSegmenter:
    """pysbd, remembering every text it was handed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> list[str]:
        self.texts.append(text)
        return pysbd_segments(text)


def test_pysbd_only_sees_bounded_windows(brief_text: str) -> None:
    prose = _prose(brief_text, 20_000)
    text = f"{prose} {'U.S. ' * 4_000} {'x' * 5_000} {prose}"
    segmenter = RecordingSegmenter()
    spans = split_sentences(text, 0, len(text), segmenter)
    assert max(map(len, segmenter.texts)) <= _WINDOW_CHARS
    assert max(t.count(".") for t in segmenter.texts) <= _WINDOW_PERIODS
    assert all(text[s.start : s.end] == text[s.start : s.end].strip() for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert "".join("".join(text[s.start : s.end].split()) for s in spans) == "".join(text.split())


def test_an_ordinary_paragraph_reaches_pysbd_whole(brief_text: str) -> None:
    paragraph = max(split_paragraphs(brief_text), key=lambda p: p.end - p.start)
    segmenter = RecordingSegmenter()
    split_sentences(brief_text, paragraph.start, paragraph.end, segmenter)
    assert segmenter.texts == [brief_text[paragraph.start : paragraph.end]]


def test_windows_find_the_sentences_pysbd_finds_whole(brief_text: str) -> None:
    text = _prose(brief_text, 6 * _WINDOW_CHARS)
    windowed = [text[s.start : s.end] for s in split_sentences(text, 0, len(text))]
    assert windowed == [s.strip() for s in pysbd_segments(text) if s.strip()]


def test_a_run_on_line_stays_one_sentence() -> None:
    text = "U.S. " * 2_000
    assert split_sentences(text, 0, len(text)) == [Span(start=0, end=len(text) - 1)]
