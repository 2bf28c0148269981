"""The project's exceptions: one base, a few kinds, each message says what to do.

AssistantError
├── QuestionError (also ValueError)   the question or k cannot be answered as given
├── SourcesError                      the sources folder is missing, empty or unreadable
├── ModelError                        the embedding model cannot be loaded offline
├── BuildInProgressError              another build holds the index lock
└── UnusableIndexError                the index cannot be used
    ├── IndexMissingError             nothing built yet
    ├── IndexMismatchError            built with another model, dimension or format
    └── IndexCorruptError             a file is missing, truncated or altered
"""

from __future__ import annotations

__all__ = [
    "AssistantError",
    "BuildInProgressError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "ModelError",
    "QuestionError",
    "SourcesError",
    "UnusableIndexError",
]


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose; the message is for the user."""


class QuestionError(AssistantError, ValueError):
    """The question (or the number of excerpts asked for) is not usable."""


class SourcesError(AssistantError):
    """The sources folder is missing, empty or holds no readable document."""


class ModelError(AssistantError):
    """The embedding model cannot be found or loaded without a network."""


class BuildInProgressError(AssistantError):
    """Another process is building the same index right now."""


class UnusableIndexError(AssistantError):
    """The index folder cannot be used as it is."""


class IndexMissingError(UnusableIndexError):
    """No index has been built in the folder yet."""


class IndexMismatchError(UnusableIndexError):
    """The index was built with another model, dimension or file format."""


class IndexCorruptError(UnusableIndexError):
    """An index file is missing, truncated, altered or not what it claims to be."""
