"""Pydantic models that cross module boundaries (and the files of an index).

Every offset is a character offset into the source file's text as decoded from
UTF-8, so that `source_text[start:end] == text` holds for chunks, citations and
highlights alike.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ._files import is_safe_relative
from ._settings import AbstentionRule, ChunkingSettings
from .ingest.formats import CharRun, check_char_runs, page_of

__all__ = [
    "FORMAT_VERSION",
    "PARTED_FORMAT_VERSION",
    "PARTS_FOLDER",
    "READABLE_FORMATS",
    "SHARDED_FORMAT_VERSION",
    "Answer",
    "BuildReport",
    "Chunk",
    "Citation",
    "Copy",
    "Document",
    "DocumentRecord",
    "IndexShard",
    "Manifest",
    "Pointer",
    "SkippedSource",
    "SourceKind",
    "Span",
    "VectorPart",
    "document_context",
    "page_at",
    "page_span",
    "section_at",
]

#: Bumped whenever the files of a generation change shape (4: the manifest records
#: the abstention rule).
FORMAT_VERSION = 4
#: The format of a generation whose vectors are stored as parts (`Manifest.parts`,
#: written by cluster builds).
PARTED_FORMAT_VERSION = 5
#: The format of a generation whose vector index is stored as shards, one per range
#: of rows (`Manifest.index_shards`, written by cluster builds above the exact limit,
#: whose vectors are parts too).
SHARDED_FORMAT_VERSION = 6
#: Formats this version reads: 3 is 4 without the abstention rule.
READABLE_FORMATS = (3, FORMAT_VERSION, PARTED_FORMAT_VERSION, SHARDED_FORMAT_VERSION)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Names read back from index files are opened as paths: one that could lead out
# of its folder marks the file as corrupt (or hostile), and is never opened.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


# Every passage names its source: loading a generation checks the same few
# thousand names millions of times (half of parsing chunks.jsonl at 1M passages).
_is_safe_source = functools.lru_cache(maxsize=65_536)(is_safe_relative)


def _relative_source(name: str) -> str:
    if not _is_safe_source(name):
        raise ValueError(f"source path {name!r} is not a relative path inside the sources folder")
    return name


def _file_name(name: str) -> str:
    if not _FILE_NAME.match(name) or ".." in name:
        raise ValueError(f"{name[:120]!r} is not a plain file name")
    return name


#: The folders a generation has inside it: text layers of extracted documents,
#: and the stored BM25 indexes.
TEXT_FOLDER = "text"
LEXICAL_FOLDER = "lexical"
PARTS_FOLDER = "parts"


def _generation_file(name: str) -> str:
    folder, _, rest = name.rpartition("/")
    if folder not in ("", TEXT_FOLDER, LEXICAL_FOLDER, PARTS_FOLDER):
        raise ValueError(f"{name[:120]!r} is not a file of a generation")
    _file_name(rest)
    return name


#: A path relative to the sources folder that cannot lead outside it.
SourcePath = Annotated[str, AfterValidator(_relative_source)]
#: One path component, no separator, no `..`, at most 100 characters.
FileName = Annotated[str, AfterValidator(_file_name)]
#: A file name, or `text/`, `lexical/` or `parts/` and a file name: the paths a
#: generation's files may have.
GenerationFile = Annotated[str, AfterValidator(_generation_file)]
#: How a source's text layer was made: "text" is the file itself (.txt, .md).
SourceKind = Literal["text", "pdf", "html", "docx"]


class Span(_Model):
    """A half-open character range `[start, end)` in a source file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=0, description="First character, inclusive.")
    end: int = Field(ge=0, description="Last character, exclusive.")

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} precedes start {self.start}")
        return self


def document_context(title: str, date: dt.date | None) -> str:
    """ "Title (May 25, 2024)\n": the words a reader (or a question) uses to name a
    document, put before its passages where they are embedded or indexed."""
    when = f" ({date:%B} {date.day}, {date.year})" if date else ""
    return f"{title}{when}\n"


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


_PAGES_DESCRIPTION = "PDF only: the offset where each page starts; pages[0] == 0."
_SECTIONS_DESCRIPTION = "(offset where a section starts, its heading), ascending."


def page_at(pages: list[int] | None, offset: int) -> int | None:
    """The 1-based page holding the character at `offset`, or None without pages."""
    return page_of(pages, max(offset, 0)) if pages else None


def page_span(pages: list[int] | None, start: int, end: int) -> tuple[int | None, int | None]:
    """The pages of the excerpt `[start, end)`: its first page, and its last page when
    that differs (the excerpt runs over a page break), else None; (None, None)
    without pages."""
    first = page_at(pages, start)
    last = page_at(pages, max(end - 1, start))
    return first, last if last != first else None


def section_at(sections: list[tuple[int, str]], offset: int) -> str | None:
    """The heading of the section the character at `offset` sits in, if any."""
    index = bisect.bisect_right([start for start, _ in sections], offset) - 1
    return sections[index][1] if index >= 0 else None


class Document(_Model):
    """One source file, its text layer, and the metadata read from it."""

    source: str = Field(description="Path relative to the sources folder, POSIX style.")
    text: str = Field(
        description="The text layer: a .txt or .md file decoded as UTF-8, unaltered; "
        "what `_formats.extract` read from a PDF, HTML page or .docx."
    )
    sha256: Sha256 = Field(description="SHA-256 of the file's bytes.")
    title: str = Field(description="First heading or title-like line, else the file stem.")
    date: dt.date | None = Field(default=None, description="Publication date, if found.")
    series: str | None = Field(default=None, description="Publication or series line.")
    body_start: int = Field(
        default=0,
        ge=0,
        description="Where the text after the header lines (title, date, series) starts.",
    )
    kind: SourceKind = "text"
    author: str | None = Field(default=None, description="From the file's metadata.")
    char_runs: list[CharRun] | None = Field(
        default=None,
        description="PDF just extracted: where each text-layer character was read "
        "(see `_formats.Extracted.char_runs`).",
    )
    stored_layer: bool = Field(
        default=False,
        description="The text layer was read back from the previous generation (the file "
        "is unchanged), not extracted again.",
    )
    pages: list[int] | None = Field(default=None, description=_PAGES_DESCRIPTION)
    sections: list[tuple[int, str]] = Field(default_factory=list, description=_SECTIONS_DESCRIPTION)

    @model_validator(mode="after")
    def _runs_inside(self) -> Document:
        if self.char_runs is not None:
            check_char_runs(self.char_runs, len(self.text))
        return self


class DocumentRecord(_Model):
    """What the manifest remembers of a document (everything but its text).

    Fields after `chunks` came with PDF, HTML and Word sources; their defaults
    describe a .txt or .md file, so a manifest written before them still reads."""

    sha256: Sha256
    title: str
    date: dt.date | None = None
    series: str | None = None
    chunks: int = Field(ge=0, description="Number of passages cut from it.")
    kind: SourceKind = Field(
        default="text",
        description="text: the file is its own text layer; pdf, html, docx: the text "
        "layer was extracted and is stored in the generation (see `text_layer_files`).",
    )
    author: str | None = Field(default=None, description="From the file's metadata.")
    pages: list[int] | None = Field(default=None, description=_PAGES_DESCRIPTION)
    sections: list[tuple[int, str]] = Field(default_factory=list, description=_SECTIONS_DESCRIPTION)


class Chunk(_Model):
    """A passage: neighbouring sentences of one paragraph, bounded in tokens."""

    id: int = Field(ge=0, description="Row of the passage's vector in the index.")
    source: SourcePath = Field(description="Path relative to the sources folder, POSIX style.")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str = Field(description="Exactly source_text[start:end].")
    sentences: list[Span] = Field(description="Sentence spans inside [start, end).")
    tokens: int = Field(ge=0, description="Model tokens, special tokens included.")

    @model_validator(mode="after")
    def _consistent(self) -> Chunk:
        if self.end - self.start != len(self.text):
            raise ValueError(f"chunk {self.id}: text length does not match its offsets")
        return self


class Copy(_Model):
    """Where else a cited passage stands, word for word or nearly."""

    source: str = Field(description="Path relative to the sources folder, POSIX style.")
    title: str
    kind: SourceKind = "text"
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    page: int | None = Field(default=None, ge=1, description="PDF only: its first page.")


class Citation(_Model):
    """One cited excerpt returned for a question."""

    rank: int = Field(ge=1, description="1 for the most relevant excerpt.")
    score: float = Field(description="Relevance score; higher is better.")
    source: str = Field(description="Path relative to the sources folder, POSIX style.")
    title: str
    date: dt.date | None = None
    series: str | None = None
    text: str = Field(description="The excerpt, exactly source_text[start:end].")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    highlights: list[Span] = Field(
        default_factory=list,
        description="Best-matching sentence(s) of the excerpt, absolute offsets.",
    )
    chunk_id: int = Field(ge=0, description="Passage id inside its index generation.")
    generation: str = Field(description="The index generation the excerpt came from.")
    kind: SourceKind = Field(default="text", description="The source's format.")
    page: int | None = Field(
        default=None, ge=1, description="PDF only: the 1-based page the excerpt starts on."
    )
    page_end: int | None = Field(
        default=None,
        ge=1,
        description="PDF only: the page it ends on, when that is not `page` (the excerpt "
        "runs over a page break); None when it stays on one page.",
    )
    section: str | None = Field(
        default=None, description="The heading of the section the excerpt sits in, if any."
    )
    also_in: list[Copy] = Field(
        default_factory=list,
        description="The same passage in other documents (the brief as PDF and as a web "
        "page beside its text): listed here instead of as excerpts of their own.",
    )

    def highlight_texts(self) -> list[str]:
        """The highlighted sentence(s), verbatim, in the order of `highlights`.

        Returns:
            `text` cut at each highlight's offsets (absolute, so shifted by `start`).
        """
        return [self.text[h.start - self.start : h.end - self.start] for h in self.highlights]


class Answer(_Model):
    """A composed answer: verbatim source sentences with `[n]` markers."""

    question: str
    text: str = Field(description="The answer, or a plain message when abstaining.")
    citations: list[Citation] = Field(description="Excerpts the markers [n] refer to.")
    abstained: bool = Field(description="True when the sources do not cover the question.")
    relevance: float = Field(description="The abstention signal; higher means better covered.")
    abstain_below: float | None = Field(
        default=None, description="The threshold `relevance` was held against."
    )


class SkippedSource(_Model):
    """A file in the sources folder that could not be indexed."""

    source: str
    reason: str


class QueryEncoderRecord(_Model):
    """The generation's torch-free copy of the embedding model, for queries."""

    file: FileName = Field(description="ONNX graph (pooling and normalization inside).")
    weights: FileName = Field(description="The graph's external weights, memory-mapped at load.")
    tokenizer: FileName = Field(description="The model's tokenizer.json, copied beside it.")
    max_length: int = Field(gt=0, description="Tokens per text; longer input is truncated.")
    exported_with: dict[str, str] = Field(description="Library versions that exported it.")
    probe_min_cosine: float = Field(
        description="Lowest cosine between its vectors and sentence-transformers' on the "
        "probe texts at build time (accepted at ≥ 0.9999)."
    )


class IndexParameters(_Model):
    """How the vector index was built and how well it finds exact neighbours."""

    kind: str = Field(description="flat-ip (exact) or hnsw-ip (approximate).")
    hnsw_m: int | None = Field(default=None, description="HNSW links per node.")
    ef_construction: int | None = None
    ef_search: int | None = Field(default=None, description="HNSW candidates per search.")
    recall_at_10: float | None = Field(
        default=None, description="Share of exact top-10 neighbours found, measured at build."
    )


class VectorPart(_Model):
    """A run of consecutive passages whose vectors are stored in their own files
    (see `assistant.indexing.parts`)."""

    vectors: GenerationFile = Field(description="`(rows, dimension)` float32 passage vectors.")
    sentences: GenerationFile = Field(
        description="`(sentence_rows, dimension)` float16 sentence vectors."
    )
    rows: int = Field(ge=1, description="Passages in the part.")
    sentence_rows: int = Field(ge=1, description="Sentences of those passages.")
    sources: list[SourcePath] = Field(description="The documents whose passages it holds.")


class IndexShard(_Model):
    """The vector index over a run of consecutive passages, in its own file: a
    reader searches every shard and merges, a shard actor serving that run loads
    its shard, so both find the same passages."""

    file: GenerationFile = Field(description="The FAISS index of the run's vectors.")
    first: int = Field(ge=0, description="The run's first passage.")
    rows: int = Field(ge=1, description="Passages in the run.")
    parameters: IndexParameters | None = None


class Manifest(_Model):
    """Describes one complete index generation; loading checks it first."""

    format_version: int = Field(description="Shape of the files in this generation.")
    generation: FileName
    built_at: dt.datetime
    model: str = Field(description="Embedding model identity.")
    dimension: int = Field(gt=0)
    index_type: str = Field(description="FAISS index kind, chosen in one place (_store).")
    chunking: ChunkingSettings
    chunk_count: int = Field(ge=0)
    documents: dict[SourcePath, DocumentRecord] = Field(
        description="Per source, its hash and metadata."
    )
    files: dict[GenerationFile, str] = Field(
        description="SHA-256 of every other file in the generation, text layers included."
    )
    index_parameters: IndexParameters | None = None
    query_encoder: QueryEncoderRecord | None = Field(
        default=None, description="Verified ONNX query encoder; None means queries use torch."
    )
    query_encoder_refused: str | None = Field(
        default=None, description="Why no ONNX query encoder was kept, if none was."
    )
    abstention: AbstentionRule | None = Field(
        default=None,
        description="The abstention rule the generation was built with; queries keep it "
        "unless the caller sets its fields (None: built before it was recorded).",
    )
    lexical_terms: int | None = Field(
        default=None,
        description="How the BM25 terms were cut (`indexing.lexical.TERMS_VERSION`); a "
        "build rewrites a generation cut otherwise (None: before it was recorded).",
    )
    parts: list[VectorPart] = Field(
        default_factory=list,
        description="The vector parts in row order (format 5); empty: one part, stored "
        "as vectors.npy and sentences.npy.",
    )
    index_shards: list[IndexShard] = Field(
        default_factory=list,
        description="The vector index as shards in row order (format 6); empty: one "
        "index, vectors.faiss.",
    )


class Pointer(_Model):
    """Content of `CURRENT.json`: which generation is live."""

    generation: FileName


class BuildReport(_Model):
    """What a build did."""

    index_dir: str
    generation: str
    up_to_date: bool = Field(description="True when nothing changed and nothing was written.")
    full_rebuild_reason: str | None = None
    added: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: list[SkippedSource] = Field(default_factory=list)
    chunks_total: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    vector_index: IndexParameters | None = Field(
        default=None, description="The new generation's vector index and its measured recall."
    )
    query_encoder: str | None = Field(
        default=None, description="'onnx', or 'torch (why not)' for the query path."
    )

    def summary(self) -> str:
        """One human-readable paragraph for the CLI."""
        state = "up to date" if self.up_to_date else f"generation {self.generation}"
        lines = [
            f"index {self.index_dir}: {state}",
            f"documents: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped",
            f"chunks: {self.chunks_total} in index, {self.chunks_embedded} embedded "
            f"in {self.seconds:.1f} s",
        ]
        if self.vector_index is not None:
            line = f"vector index: {self.vector_index.kind}"
            if self.vector_index.recall_at_10 is not None:
                line += (
                    f", recall@10 {self.vector_index.recall_at_10:.3f} vs exact "
                    f"(efSearch {self.vector_index.ef_search})"
                )
            lines.append(
                line + (f"; query encoder: {self.query_encoder}" if self.query_encoder else "")
            )
        if self.full_rebuild_reason:
            lines.append(f"full rebuild: {self.full_rebuild_reason}")
        lines.extend(f"skipped {s.source}: {s.reason}" for s in self.skipped)
        return "\n".join(lines)
