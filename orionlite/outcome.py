"""How a trial ended, as decided by a runner (a command or a Python function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from orionlite.records import TrialRecord, TrialStatus


@dataclass(frozen=True)
class TrialOutcome:
    """``LOST`` is not a status: the trial was taken over by another worker."""

    status: TrialStatus | None
    objective: float | None = None
    results: list[dict[str, Any]] | None = None
    exit_code: int | None = None
    error: str | None = None
    #: For a lost trial: whether the runner stopped it (its process, its function call).
    stopped: bool = False

    @property
    def lost(self) -> bool:
        return self.status is None


LOST = TrialOutcome(status=None)
LOST_AND_STOPPED = TrialOutcome(status=None, stopped=True)


class TrialRunner(Protocol):
    """Runs one reserved trial to its end. Must return promptly once ``should_stop()``
    is true (the user interrupted, or the reservation was lost)."""

    def run(self, trial: TrialRecord, controls: RunControls) -> TrialOutcome: ...


class RunControls(Protocol):
    """What a runner watches while the trial runs."""

    def interrupted(self) -> bool: ...

    def forced(self) -> bool: ...

    def lost(self) -> bool: ...
