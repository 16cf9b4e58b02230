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
    #: What the CLI exits with (SPEC §1): 1 for errors the user must act on.
    exit_code: int = 1

    def __init__(self, message: str | None = None, *, hint: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class BadInputError(OrionliteError, ValueError):
    """What the user typed or configured cannot be used; nothing was run or stored.

    Exits with 2, like click's own usage errors.
    """

    exit_code = 2


class PriorError(BadInputError):
    """A prior could not be parsed."""


class SpaceError(BadInputError):
    """The search space is invalid."""


class CommandError(BadInputError):
    """The command to run for each trial is invalid."""


class ConfigError(BadInputError):
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
