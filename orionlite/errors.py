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

    @classmethod
    def result_refused(
        cls, trial_id: int, *, process_stopped: bool = False
    ) -> ReservationLostError:
        """The one wording of a lost trial; ``process_stopped`` when this worker stopped
        the trial's process on learning it (rather than finding out from its result)."""
        what = (
            "its process was stopped and its result discarded"
            if process_stopped
            else "its result from this worker was discarded"
        )
        return cls(
            f"Trial {trial_id} was reclaimed by another worker after this worker's "
            f"heartbeat expired; {what}."
        )


class TooManyBrokenTrialsError(OrionliteError):
    """Too many trials broke."""


# -- Python API (orionlite.client) ------------------------------------------------------


class CompletedExperimentError(OrionliteError):
    """The experiment is done: max_trials completed, or the search space is exhausted."""


class WaitingForTrialsError(OrionliteError):
    """No trial can be reserved now: the remaining ones are held by workers still running."""


class ReadOnlyExperimentError(OrionliteError):
    """The experiment was opened read-only (get_experiment): it cannot run trials."""


class TrialNotHeldError(OrionliteError, ValueError):
    """The trial is not reserved by this client (already observed, released or lost)."""


class TrialFailedError(OrionliteError):
    """The function raised while running a trial (workon with on_error="raise").

    ``trial`` is the broken trial, ``traceback`` the formatted traceback stored in its
    ``error``, ``original`` the exception itself when it could be carried back from the
    worker (it is also the ``__cause__``).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        hint: str | None = None,
        trial: object = None,
        traceback: str | None = None,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.trial = trial
        self.traceback = traceback
        self.original = original


class MissingExtraError(OrionliteError, ImportError):
    """An optional dependency is not installed."""


class WorkerCrashedError(OrionliteError):
    """A worker process ended without reporting (killed, out of memory, or a bug)."""


# -- operating experiments (orionlite requeue / insert / rm) ----------------------------


class BudgetSpentError(OrionliteError):
    """max_trials leaves no room for the trials asked for."""


class DuplicateTrialError(OrionliteError):
    """A trial with these parameters exists already."""


class TrialsNotRequeueableError(BadInputError):
    """Some of the trials named cannot go back to the queue."""


class LiveTrialsError(OrionliteError):
    """Workers are running trials of the experiment."""
