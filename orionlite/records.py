"""Plain records shared by storage, algorithms, worker, client and CLI.

Storage returns these instead of SQLAlchemy rows so nothing outside ``orionlite.storage``
needs to know SQLAlchemy exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TrialStatus(str, enum.Enum):
    """Lifecycle of a trial: new -> reserved -> completed | broken | interrupted | pruned.

    ``pruned``: stopped early by the experiment's stop rule; its objective is its last
    reported value, and it counts toward max_trials like a completed trial.

        Values are plain strings so the database stays readable with ``psql``/``sqlite3``.
    """

    NEW = "new"
    RESERVED = "reserved"
    COMPLETED = "completed"
    BROKEN = "broken"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """Terminal trials never change again, so readers may cache them forever."""
        return self in (TrialStatus.COMPLETED, TrialStatus.BROKEN, TrialStatus.PRUNED)


RESERVABLE_STATUSES = (TrialStatus.NEW, TrialStatus.INTERRUPTED)

#: The order in which tables, the status command and the docs list statuses: the
#: lifecycle, then the finished ones, useful results first.
STATUS_ORDER = (
    TrialStatus.NEW,
    TrialStatus.RESERVED,
    TrialStatus.COMPLETED,
    TrialStatus.PRUNED,
    TrialStatus.BROKEN,
    TrialStatus.INTERRUPTED,
)


@dataclass(frozen=True)
class ExperimentRecord:
    """One (name, version) experiment as stored."""

    id: int
    name: str
    version: int
    space: dict[str, Any]
    algorithm: dict[str, Any]
    command: list[str] | None
    max_trials: int | None
    max_broken: int
    working_dir: str | None
    parent_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float | None = None
    #: Broken trials left by the last requeue, which --max-broken no longer counts.
    broken_baseline: int = 0
    #: Declared objectives as stored (see orionlite.objectives); None: one, minimised.
    objectives: list[dict[str, str]] | None = None

    def broken_counted(self, broken: int) -> int:
        """How many of ``broken`` trials count toward max_broken."""
        return max(0, broken - self.broken_baseline)


@dataclass(frozen=True)
class TrialRecord:
    """One trial as stored. ``attempt`` is the fencing token of the current reservation."""

    id: int
    experiment_id: int
    params: dict[str, Any]
    params_hash: str
    status: TrialStatus
    attempt: int = 0
    reserved_by: str | None = None
    objective: float | None = None
    results: list[dict[str, Any]] | None = None
    exit_code: int | None = None
    error: str | None = None
    parent_trial_id: int | None = None
    retries: int = 0
    created_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    #: 1, 2, 3, ... within the experiment, in creation order ("trial 7 of 'mnist'").
    number: int | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@dataclass
class PendingResult:
    """A completed trial's result that a worker records in the same transaction as its
    next reservation (see ``Worker``). ``lost`` is None until written, then whether the
    trial turned out to belong to another worker (its result refused)."""

    trial: TrialRecord
    status: TrialStatus
    values: dict[str, Any]
    lost: bool | None = None
