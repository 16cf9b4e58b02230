"""An experiment: its stored configuration, its search space and algorithm, and the one
place where a worker obtains its next trial."""

from __future__ import annotations

import enum
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.algorithms import make_algorithm
from orionlite.errors import ExperimentConflictError, ExperimentNotFoundError
from orionlite.experiment_settings import (
    ExperimentSettings,
    find_differences,
    format_differences,
    limit_notices,
    stored_early_stop,
)
from orionlite.history import TrialHistory
from orionlite.objectives import Objectives
from orionlite.records import ExperimentRecord, PendingResult, TrialRecord, TrialStatus
from orionlite.space import Space
from orionlite.storage import CreateRefusal, Storage

if TYPE_CHECKING:
    from orionlite.algorithms.base import Algorithm

log = logging.getLogger(__name__)

# A suggestion can collide with a point another worker created a moment earlier; after
# this many collisions in a row the worker waits instead of spinning.
_MAX_COLLISIONS = 20


class Wait(enum.Enum):
    """Why no trial was handed out."""

    BUSY = "busy"  # others hold the remaining trials, or the algorithm waits for results
    FINISHING = "finishing"  # the budget is spent and others' trials still run
    DONE = "done"  # max_trials completed
    EXHAUSTED = "exhausted"  # the algorithm has nothing left to try


class Experiment:
    """A stored experiment opened by one process."""

    def __init__(self, storage: Storage, record: ExperimentRecord) -> None:
        self.storage = storage
        self.record = record
        self.space = Space.from_json(record.space)
        self.objectives = Objectives.from_json(record.objectives)
        self.algorithm: Algorithm = make_algorithm(record.algorithm, self.space)
        self.algorithm.objectives = self.objectives
        self._history = TrialHistory(storage, record.id)

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def max_trials(self) -> int | None:
        return self.record.max_trials

    @property
    def working_dir(self) -> Path:
        """Where trial folders go; relative paths are taken from each worker's cwd."""
        default = f"orionlite-runs/{self.name}-v{self.version}"
        return Path(self.record.working_dir or default).absolute()

    def history(self, reuse_finish_read: bool = False, max_age_s: float = 0.0) -> list[TrialRecord]:
        """Every trial, refreshed with the rows changed since the last call (or, with
        ``reuse_finish_read``, as read by the :meth:`finish` just before, if any; or as
        read less than ``max_age_s`` ago). The list is the history's own: it changes with
        the next call."""
        return self._history.refresh(reuse_finish_read, max_age_s)

    def finish(self, trial: TrialRecord, status: TrialStatus, **values: Any) -> None:
        """Record a trial's end (``Storage.finish_trial``) and read the history's changes
        in the same round trip where the database allows; the worker's next
        ``history(reuse_finish_read=True)`` then needs no read of its own."""
        self._history.finish(trial, status, values)

    def count(self, status: TrialStatus) -> int:
        """How many trials had ``status`` at the last :meth:`history` refresh (no query)."""
        return self._history.count(status)

    def acquire(
        self,
        worker_id: str,
        lease_s: float,
        history: list[TrialRecord] | None = None,
        pending: PendingResult | None = None,
    ) -> TrialRecord | Wait:
        """Reserve a trial for ``worker_id``: a waiting one first, else a new suggestion.

        There is no lock around suggesting: workers suggest concurrently and the database
        arbitrates (the budget row, unique parameters), so a dead worker can block nobody.
        ``history`` is the caller's fresh :meth:`history`, if it just read it (the worker
        loop does, for --max-broken), so that it is not read twice.

        The common case costs one read (the history) and one write that both reserves and
        creates (``Storage.acquire_trial``): an explicit reservation is tried first only
        when the history shows trials waiting (new or interrupted), so that no suggestion
        is computed for nothing, and whenever the algorithm has nothing to propose, so that
        a dead worker's trial is still taken over once its lease runs out.

        ``pending``, a result taken in with :meth:`remember`, is recorded in that write
        where the storage allows, else first; it is always recorded when this returns.
        """
        try:
            return self._acquire(worker_id, lease_s, history, pending)
        finally:
            if pending is not None:
                self.storage.record_pending(pending)

    def _acquire(
        self,
        worker_id: str,
        lease_s: float,
        history: list[TrialRecord] | None,
        pending: PendingResult | None,
    ) -> TrialRecord | Wait:
        if history is None:
            history = self.history()
        waiting = self.count(TrialStatus.NEW) + self.count(TrialStatus.INTERRUPTED)
        if waiting:
            trial = self.storage.reserve_trial(self.id, worker_id, lease_s)
            if trial is not None:
                return trial
        self.algorithm.salt = 0
        for attempt in range(_MAX_COLLISIONS):
            if attempt:
                history = self.history()
            proposals = self.algorithm.suggest(history, 1)
            if not proposals:
                trial = self.storage.reserve_trial(self.id, worker_id, lease_s)
                if trial is not None:
                    return trial
                return Wait.EXHAUSTED if self.algorithm.is_done(history) else Wait.BUSY
            proposal = proposals[0]
            acquired = self.storage.acquire_trial(
                self.id,
                proposal.params,
                proposal.params_hash,
                worker_id,
                lease_s,
                proposal.parent_trial_id,
                pending,
            )
            pending = None  # recorded by that call: not again after a collision
            if isinstance(acquired, TrialRecord):
                return acquired
            if acquired is CreateRefusal.BUDGET_SPENT:
                return Wait.FINISHING if self.storage.has_unfinished(self.id) else Wait.DONE
            self.algorithm.salt = secrets.randbits(32)
        return Wait.BUSY

    def remember(self, pending: PendingResult) -> None:
        """Take in a result that :meth:`acquire` will record with the next reservation."""
        self._history.remember(pending.trial, pending.status, pending.values)


def open_experiment(storage: Storage, name: str, version: int | None = None) -> Experiment:
    """An existing experiment (newest version unless one is given)."""
    record = storage.get_experiment(name, version)
    if record is None:
        which = f"{name!r} version {version}" if version is not None else repr(name)
        raise ExperimentNotFoundError(
            f"No experiment {which} in {storage.display_url}.",
            hint="List experiments with: orionlite list"
            + (f" --storage {storage.display_url}" if storage.display_url else ""),
        )
    return Experiment(storage, record)


def join_experiment(
    storage: Storage, record: ExperimentRecord, settings: ExperimentSettings
) -> Experiment:
    differences = find_differences(record, settings)
    if differences:
        raise ExperimentConflictError(
            f"Experiment {record.name!r} version {record.version} exists with a different "
            "configuration:\n" + format_differences(differences, record.version),
            hint="Start a child experiment that keeps the compatible trials with "
            f"--branch NEW_NAME (--branch {record.name} makes version {record.version + 1}), "
            f"join another version with --version N, or choose another name than "
            f"{record.name!r}.",
        )
    updates: dict[str, Any] = {}
    if settings.max_trials is not None and settings.max_trials != record.max_trials:
        updates["max_trials"] = settings.max_trials
    if settings.max_broken is not None and settings.max_broken != record.max_broken:
        updates["max_broken"] = settings.max_broken
    if updates:
        for notice in limit_notices(record, settings.max_trials, settings.max_broken):
            log.warning("%s", notice, extra={"action": "limit_changed"})
        storage.update_experiment(record.id, **updates)
        record = storage.get_experiment_by_id(record.id) or record
    return Experiment(storage, record)


__all__ = [
    "Experiment",
    "ExperimentSettings",
    "TrialStatus",
    "Wait",
    "join_experiment",
    "open_experiment",
    "stored_early_stop",
]
