"""A local, cited question-answering assistant over a folder of briefing documents.

>>> from assistant import build_index, retrieve
>>> build_index()                                  # doctest: +SKIP
>>> retrieve("Who attended the 2+2 in Tokyo?", k=5)  # doctest: +SKIP
"""

from ._answer import ABSTAIN_MESSAGE, ExtractiveGenerator, Generator, ask
from ._context import (
    ExcerptContext,
    IndexedDocument,
    IndexStatus,
    PreviousTurn,
    context_of,
    index_status,
    resolve_followup,
)
from ._errors import (
    AssistantError,
    BuildInProgressError,
    ForeignIndexFolderError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    ModelError,
    QuestionError,
    SettingsError,
    SourcesError,
    UnusableIndexError,
)
from ._indexing import build_index
from ._retrieval import retrieve
from ._settings import ChunkingSettings, IngestSettings, Settings
from ._text_layers import source_text
from ._types import Answer, BuildReport, Citation, SkippedSource, Span
from ._viewer import SourceView, view_source
from ._watch import WatchEvent, watch_sources

__all__ = [
    "ABSTAIN_MESSAGE",
    "Answer",
    "AssistantError",
    "BuildInProgressError",
    "BuildReport",
    "ChunkingSettings",
    "Citation",
    "ExcerptContext",
    "ExtractiveGenerator",
    "ForeignIndexFolderError",
    "Generator",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexStatus",
    "IndexWriteError",
    "IndexedDocument",
    "IngestSettings",
    "ModelError",
    "PreviousTurn",
    "QuestionError",
    "Settings",
    "SettingsError",
    "SkippedSource",
    "SourceView",
    "SourcesError",
    "Span",
    "UnusableIndexError",
    "WatchEvent",
    "ask",
    "build_index",
    "context_of",
    "index_status",
    "resolve_followup",
    "retrieve",
    "source_text",
    "view_source",
    "watch_sources",
]
