import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant import SourcesError
from assistant._settings import IngestSettings
from assistant._types import SkippedSource
from assistant.ingest.formats import Extracted
from assistant.ingest.sources import (
    ExtractionJob,
    extract_metadata,
    extract_source,
    load_documents,
    parse_date_line,
)

from ..conftest import BRIEF, DATA, SOURCES
from ..formats_fixtures import brief_docx, brief_web_page, load_brief


def test_brief_metadata() -> None:
    documents, skipped = load_documents(SOURCES)
    assert skipped == []
    brief = next(d for d in documents if d.source == BRIEF)
    assert brief.title == "U.S. and Japan Announce Plans to Accelerate Alliance Modernization"
    assert brief.date == dt.date(2024, 8, 16)
    assert brief.series == "INTELBRIEF"
    assert brief.text == (SOURCES / BRIEF).read_text(encoding="utf-8")


def test_markdown_heading_title_and_date_from_file_name() -> None:
    name = "2023-11-02-quad-foreign-ministers.md"
    title, date, series = extract_metadata((DATA / name).read_text(encoding="utf-8"), name)
    assert (title, date, series) == (
        "Quad Foreign Ministers Meet in Jakarta",
        dt.date(2023, 11, 2),
        None,
    )


def test_plain_text_without_date() -> None:
    title, date, _ = extract_metadata(
        (DATA / "typhoon-relief.txt").read_text(), "typhoon-relief.txt"
    )
    assert title == "Typhoon Relief Cooperation"
    assert date is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("August 16, 2024", dt.date(2024, 8, 16)),
        ("16 August 2024", dt.date(2024, 8, 16)),
        ("Aug. 16, 2024", dt.date(2024, 8, 16)),
        ("2024-08-16", dt.date(2024, 8, 16)),
        ("February 30, 2024", None),
        ("In August 2024 the ministers met", None),
        ("Published: August 16, 2024", dt.date(2024, 8, 16)),
        ("Friday, August 16, 2024", dt.date(2024, 8, 16)),
        ("Posted on Aug. 16, 2024", dt.date(2024, 8, 16)),
        ("Last updated: Sept. 3, 2024", dt.date(2024, 9, 3)),
        ("Date: 2024-08-16", dt.date(2024, 8, 16)),
        ("Published in August 2024", None),
        ("08/06/2024", None),
    ],
)
def test_parse_date_line(line: str, expected: dt.date | None) -> None:
    assert parse_date_line(line) == expected


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Alliance Notes\nJapan and the U.S. met in Tokyo.\n")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 au lait in Tokyo.".encode("latin-1"))
    (tmp_path / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "noise.md").write_bytes(bytes(range(256)))
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / "slides.key").write_bytes(b"PK\x03\x04 a keynote deck")
    (tmp_path / ".hidden.txt").write_text("ignored entirely")
    documents, skipped = load_documents(tmp_path)
    assert [d.source for d in documents] == ["good.txt"]
    reasons = {s.source: s.reason for s in skipped}
    assert reasons == {
        # the content's magic numbers name what it is
        "binary.md": "extension says .md but content is a PNG image",
        "noise.md": "looks binary (contains NUL bytes)",
        "empty.txt": "empty file",
        "latin1.txt": "not valid UTF-8 (byte 3)",
        "slides.pdf": "truncated PDF: no %%EOF marker at the end",
        "slides.key": "unsupported file type .key; supported: .docx, .htm, .html, .md, .pdf, .txt",
    }


def test_crlf_text_matches_read_text(tmp_path: Path) -> None:
    (tmp_path / "crlf.txt").write_bytes(b"Title Line\r\nFirst sentence here.\r\nSecond one.\r\n")
    (document,), _ = load_documents(tmp_path)
    assert document.text == (tmp_path / "crlf.txt").read_text(encoding="utf-8")


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="does not exist"):
        load_documents(tmp_path / "nope")
    with pytest.raises(SourcesError, match="is empty"):
        load_documents(tmp_path)


class _RecordingExtractor:
    """An `ExtractMany` that extracts in this process, as a cluster task would
    (`extract_source`: the file read again, its hash checked), and records the jobs."""

    def __init__(self, root: Path, limits: IngestSettings, *, refuse: str = "") -> None:
        self.root, self.limits, self.refuse = root, limits, refuse
        self.jobs: list[ExtractionJob] = []

    def __call__(self, jobs: Sequence[ExtractionJob]) -> list[Extracted | str]:
        self.jobs.extend(jobs)
        return [
            "refused by the test" if job.source == self.refuse else self._one(job) for job in jobs
        ]

    def _one(self, job: ExtractionJob) -> Extracted | str:
        try:
            return extract_source(self.root, job, self.limits)
        except ValueError as exc:
            return str(exc)


def _rich_sources(folder: Path) -> Path:
    folder.mkdir()
    brief = load_brief()
    (folder / "brief.html").write_text(brief_web_page(brief), encoding="utf-8")
    (folder / "brief.docx").write_bytes(brief_docx(brief))
    (folder / "notes.txt").write_text("Notes\n\nA plain note on the alliance.\n", encoding="utf-8")
    return folder


def test_extraction_handed_over_gives_the_same_documents(tmp_path: Path) -> None:
    folder = _rich_sources(tmp_path / "sources")
    limits = IngestSettings()
    extractor = _RecordingExtractor(folder, limits)
    handed, skipped = load_documents(folder, limits=limits, extract_many=extractor)
    here, skipped_here = load_documents(folder, limits=limits)
    assert skipped == skipped_here == []
    # only the files that need extracting are handed over, in listing order
    assert [(job.source, job.suffix) for job in extractor.jobs] == [
        ("brief.docx", ".docx"),
        ("brief.html", ".html"),
    ]
    assert [d.model_dump() for d in handed] == [d.model_dump() for d in here]


def test_a_file_the_extractor_refuses_or_that_changed_is_skipped(tmp_path: Path) -> None:
    folder = _rich_sources(tmp_path / "sources")
    limits = IngestSettings()
    refusing = _RecordingExtractor(folder, limits, refuse="brief.html")
    documents, skipped = load_documents(folder, limits=limits, extract_many=refusing)
    assert [d.source for d in documents] == ["brief.docx", "notes.txt"]
    assert skipped == [SkippedSource(source="brief.html", reason="refused by the test")]
    job = next(j for j in refusing.jobs if j.source == "brief.docx")
    (folder / "brief.docx").write_bytes(brief_docx(load_brief()) + b"\0")
    with pytest.raises(ValueError, match="changed while the build read it"):
        extract_source(folder, job, limits)
