"""Errors a user can act on.

Every error the library raises on purpose derives from :class:`OrionliteError`. The CLI
prints ``message`` and, on a second line, ``hint`` (the next step), and shows a traceback
only with ``--verbose``. A failing user script is *not* an error here: it is data (a broken
trial).
"""

from __future__ import annotations


class OrionliteError(Exception):
    """Something went wrong."""

    hint: str | None = None

    def __init__(self, message: str | None = None, *, hint: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class PriorError(OrionliteError, ValueError):
    """A prior could not be parsed."""


class SpaceError(OrionliteError, ValueError):
    """The search space is invalid."""


class CommandError(OrionliteError):
    """The command to run for each trial is invalid."""


class ConfigError(OrionliteError, ValueError):
    """A configuration value is invalid."""


class ResultsError(OrionliteError, ValueError):
    """A trial's results are missing or invalid."""


class StorageError(OrionliteError):
    """The storage could not be used."""


class DatabaseUnreachableError(StorageError):
    """The database cannot be reached."""


class SchemaVersionError(StorageError):
    """The database schema is not the version this orionlite expects."""


class ExperimentNotFoundError(OrionliteError, LookupError):
    """No experiment has this name."""


class ExperimentConflictError(OrionliteError):
    """The experiment exists with a different configuration."""


class ReservationLostError(OrionliteError):
    """The trial was reclaimed by another worker after this worker's heartbeat expired."""


class TooManyBrokenTrialsError(OrionliteError):
    """Too many trials broke."""
