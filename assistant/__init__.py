"""A local, cited question-answering assistant over a folder of briefing documents.

>>> from assistant import build_index, retrieve
>>> build_index()                                  # doctest: +SKIP
>>> retrieve("Who attended the 2+2 in Tokyo?", k=5)  # doctest: +SKIP
"""

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
from ._settings import ChunkingSettings, IngestSettings, Settings
from ._types import Answer, BuildReport, Citation, SkippedSource, Span
from .answer.compose import ABSTAIN_MESSAGE, ExtractiveGenerator, Generator, ask
from .answer.followups import PreviousTurn, resolve_followup
from .answer.probes import ProbeCheck, check_abstention
from .indexing.build import build_index
from .indexing.watch import WatchEvent, watch_sources
from .search.pipeline import retrieve
from .search.status import IndexedDocument, IndexStatus, index_status
from .viewing.pages import SourceView, view_source
from .viewing.source_text import source_text
from .viewing.surrounding import ExcerptContext, context_of

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
    "ProbeCheck",
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
    "check_abstention",
    "context_of",
    "index_status",
    "resolve_followup",
    "retrieve",
    "source_text",
    "view_source",
    "watch_sources",
]

# Public names report `assistant` as their module (as httpx does), so reprs, error
# messages and documentation show the import path users write, not a private one.
for _name in __all__:
    _public = globals()[_name]
    if isinstance(_public, type) or callable(_public):
        _public.__module__ = __name__
del _name, _public
