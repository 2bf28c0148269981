"""A cluster build's extraction task, in this process (no Ray): plain text in
and out, the text layer or the reason a file is skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path

from assistant._settings import IngestSettings
from assistant.cluster.extract import extract_task
from assistant.ingest.formats import Extracted
from assistant.ingest.sources import ExtractionJob, extract_source

from ..formats_fixtures import brief_docx, brief_web_page, load_brief


def test_the_task_returns_the_extraction_or_the_reason(tmp_path: Path) -> None:
    brief = load_brief()
    (tmp_path / "brief.html").write_text(brief_web_page(brief), encoding="utf-8")
    docx = brief_docx(brief)
    (tmp_path / "broken.docx").write_bytes(docx[: len(docx) // 2])
    limits = IngestSettings()
    page = ExtractionJob(
        source="brief.html", sha256=_sha256(tmp_path / "brief.html"), suffix=".html"
    )
    ok, out = extract_task(str(tmp_path), page.model_dump_json(), limits.model_dump_json())
    assert ok
    assert Extracted.model_validate_json(out) == extract_source(tmp_path, page, limits)
    assert brief.title in Extracted.model_validate_json(out).text

    broken = ExtractionJob(
        source="broken.docx", sha256=_sha256(tmp_path / "broken.docx"), suffix=".docx"
    )
    ok, out = extract_task(str(tmp_path), broken.model_dump_json(), limits.model_dump_json())
    assert not ok
    assert out.startswith("corrupt DOCX: not a readable ZIP archive")

    gone = page.model_copy(update={"source": "gone.html"})
    ok, out = extract_task(str(tmp_path), gone.model_dump_json(), limits.model_dump_json())
    assert (ok, out) == (False, "removed while the build read it: build again")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
