"""A worker's view of an experiment's trials, kept current by incremental reads."""

from __future__ import annotations

import bisect
import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

from orionlite.records import TrialStatus

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.storage import Storage
    from orionlite.storage.queries import Watermark


# Fields of a TrialRecord that a finishing worker writes (see Worker._record).
_RECORDED = ("objective", "results", "exit_code", "error", "retries")


class TrialHistory:
    """Every trial of one experiment, refreshed by fetching only the rows that changed.

    Suggesting runs on every trial, so re-reading the whole table each time would make a
    long experiment slower and slower; here a refresh costs what changed since the last.
    The bookkeeping is incremental too: trials are kept in creation (id) order and counted
    by status as they change, so neither sorting nor counting grows with the history.
    """

    def __init__(self, storage: Storage, experiment_id: int) -> None:
        self._storage = storage
        self._experiment_id = experiment_id
        self._watermark: Watermark = 0
        # Parallel lists sorted by trial id. New trials nearly always arrive in id order
        # (an append); PostgreSQL can commit two creations out of id order, which costs
        # one insertion into the middle.
        self._ids: list[int] = []
        self._trials: list[TrialRecord] = []
        self._counts: Counter[TrialStatus] = Counter()
        self._read_at_finish = False

    def refresh(self, reuse_finish_read: bool = False) -> list[TrialRecord]:
        """Read what changed. With ``reuse_finish_read``, a read made by :meth:`finish`
        just before (and nothing else since) stands in for it: the worker loop records a
        result and reads the history at once, then starts its next trial."""
        fresh, self._read_at_finish = self._read_at_finish, False
        if not (reuse_finish_read and fresh):
            changed, self._watermark = self._storage.fetch_changed_trials(
                self._experiment_id, self._watermark
            )
            self.merge(changed)
        return self.trials

    def finish(self, trial: TrialRecord, status: TrialStatus, values: dict[str, Any]) -> None:
        """Record ``trial``'s end and, for a completed trial, take in what changed.

        A completed trial is recorded with ``Storage.finish_and_read``; its new state is
        merged from what was written, as the read may not include it (the row itself
        comes with a later read). Any other end is recorded alone and the next refresh
        reads as usual, after the commit: when two workers' trials break at the same
        moment, the later of the two then sees both, which --max-broken relies on.
        Raises ReservationLostError.
        """
        self._read_at_finish = False
        known = {name: values[name] for name in _RECORDED if name in values}
        mine = dataclasses.replace(trial, status=status, **known)
        if status is not TrialStatus.COMPLETED:
            self._storage.finish_trial(trial, status, **values)
            self.merge([mine])
            return
        changed, self._watermark = self._storage.finish_and_read(
            trial, status, self._watermark, **values
        )
        self.merge([mine, *changed])
        self._read_at_finish = True

    def merge(self, changed: list[TrialRecord]) -> None:
        """Take in new versions of trials (and new trials), keeping id order and counts."""
        for trial in changed:
            self._store(trial)

    def _store(self, trial: TrialRecord) -> None:
        ids = self._ids
        if not ids or trial.id > ids[-1]:
            ids.append(trial.id)
            self._trials.append(trial)
        else:
            index = bisect.bisect_left(ids, trial.id)
            if index < len(ids) and ids[index] == trial.id:
                self._counts[self._trials[index].status] -= 1
                self._trials[index] = trial
            else:
                ids.insert(index, trial.id)
                self._trials.insert(index, trial)
        self._counts[trial.status] += 1

    @property
    def trials(self) -> list[TrialRecord]:
        """Trials in creation order, as of the last refresh (a copy the caller may keep)."""
        return list(self._trials)

    def count(self, status: TrialStatus) -> int:
        """How many trials had ``status`` at the last refresh."""
        return self._counts[status]

    def __len__(self) -> int:
        return len(self._trials)
