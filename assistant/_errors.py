"""The project's exceptions: one base, a few kinds, each message says what to do.

AssistantError
├── QuestionError (also ValueError)   the question or k cannot be answered as given
├── SettingsError (also ValueError)   a setting or environment variable is invalid
├── SourcesError                      the sources folder is missing, empty or unreadable
├── ModelError                        the embedding model cannot be loaded offline
├── BuildInProgressError              another build holds the index lock
├── ClusterError                      the Ray cluster is unreachable, ray is not installed,
│                                     or a shard did not answer in time
├── IndexWriteError                   the new generation could not be written (disk full,
│                                     permissions); the previous one keeps serving
└── UnusableIndexError                the index cannot be used
    ├── IndexMissingError             nothing built yet
    ├── IndexMismatchError            built with another model, dimension or format
    ├── IndexCorruptError             a file is missing, truncated or altered
    └── ForeignIndexFolderError       the folder holds files the assistant did not create

Every error carries its message (`str(error)`, for the user) and, where they
apply, structured fields for programs: `path`, `generation`, `expected`, `found`.
"""

from __future__ import annotations

__all__ = [
    "REBUILD_HINT",
    "AssistantError",
    "BuildInProgressError",
    "ClusterError",
    "ForeignIndexFolderError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexWriteError",
    "ModelError",
    "QuestionError",
    "SettingsError",
    "SourcesError",
    "UnusableIndexError",
]


#: What a message about a damaged or incompatible index tells the user to run.
REBUILD_HINT = "run `assistant build --force`"


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose; the message is for the user.

    Attributes:
        path: The file or folder concerned, if any.
        generation: The index generation concerned, if any.
        expected: What was expected (a checksum, a version, a limit), if relevant.
        found: What was found instead, if relevant.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        generation: str | None = None,
        expected: object = None,
        found: object = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.generation = generation
        self.expected = expected
        self.found = found


class QuestionError(AssistantError, ValueError):
    """The question (or the number of excerpts asked for) is not usable."""


class SettingsError(AssistantError, ValueError):
    """A setting (argument or `ASSISTANT_*` variable) has an unusable value."""


class SourcesError(AssistantError):
    """The sources folder is missing, empty or holds no readable document."""


class ModelError(AssistantError):
    """The embedding model cannot be found or loaded without a network."""


class BuildInProgressError(AssistantError):
    """Another process is building the same index right now."""


class ClusterError(AssistantError):
    """The Ray cluster cannot be used: ray is not installed (the `cluster` extra),
    the address does not answer, or a shard did not answer within its bound."""


class IndexWriteError(AssistantError):
    """A build could not write its new generation; nothing live was touched."""


class UnusableIndexError(AssistantError):
    """The index folder cannot be used as it is."""


class IndexMissingError(UnusableIndexError):
    """No index has been built in the folder yet."""


class IndexMismatchError(UnusableIndexError):
    """The index was built with another model, dimension or file format."""


class IndexCorruptError(UnusableIndexError):
    """An index file is missing, truncated, altered or not what it claims to be."""


class ForeignIndexFolderError(UnusableIndexError):
    """The index folder holds entries the assistant did not create; it is not
    written to, so nothing of the user's can be deleted."""
