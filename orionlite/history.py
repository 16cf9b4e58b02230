"""A worker's view of an experiment's trials, kept current by incremental reads."""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections import Counter
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from orionlite.records import TrialStatus

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.storage import Storage
    from orionlite.storage.queries import Watermark


# Fields of a TrialRecord that a finishing worker writes (see Worker._record).
_RECORDED = ("objective", "results", "exit_code", "error", "retries")


class TrialList(list["TrialRecord"]):
    """Trials in creation order, with ``params_hashes``: the hash of every trial's
    parameters, kept as trials arrive, for algorithms to read right away."""

    __slots__ = ("params_hashes",)

    def __init__(self, trials: list[TrialRecord], params_hashes: AbstractSet[str]) -> None:
        super().__init__(trials)
        self.params_hashes = params_hashes


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
        self._params_hashes: set[str] = set()
        self._trials = TrialList([], self._params_hashes)
        self._counts: Counter[TrialStatus] = Counter()
        # Trials whose end this worker took in (remember) but has not read back yet, by id,
        # with their attempt: a read may still bring their reservation, which is older.
        self._own_ends: dict[int, int] = {}
        self._read_at_finish = False
        self._read_at = -float("inf")  # time.monotonic() of the last read

    def refresh(self, reuse_finish_read: bool = False, max_age_s: float = 0.0) -> TrialList:
        """Read what changed. With ``reuse_finish_read``, a read made by :meth:`finish`
        just before (and nothing else since) stands in for it: the worker loop records a
        result and reads the history at once, then starts its next trial. A read less
        than ``max_age_s`` old stands in for a new one too."""
        fresh, self._read_at_finish = self._read_at_finish, False
        now = time.monotonic()
        if not (reuse_finish_read and fresh) and now - self._read_at >= max_age_s:
            changed, self._watermark = self._storage.fetch_changed_trials(
                self._experiment_id, self._watermark
            )
            self._read_at = now
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
        if status is not TrialStatus.COMPLETED:
            self._storage.finish_trial(trial, status, **values)
            self.remember(trial, status, values)
            return
        self._read_at = time.monotonic()
        changed, self._watermark = self._storage.finish_and_read(
            trial, status, self._watermark, **values
        )
        self.remember(trial, status, values)
        self.merge(changed)  # may hold this trial's reservation, which stays behind
        self._read_at_finish = True

    def remember(self, trial: TrialRecord, status: TrialStatus, values: dict[str, Any]) -> None:
        """Take in this worker's own end of ``trial``, written or about to be (a
        ``PendingResult``): the next suggestion must know it either way."""
        known = {name: values[name] for name in _RECORDED if name in values}
        self._own_ends[trial.id] = trial.attempt
        self._store(dataclasses.replace(trial, status=status, **known), own=True)

    def merge(self, changed: list[TrialRecord]) -> None:
        """Take in new versions of trials (and new trials), keeping id order and counts."""
        for trial in changed:
            self._store(trial)

    def _store(self, trial: TrialRecord, own: bool = False) -> None:
        if not own and trial.id in self._own_ends:
            if trial.attempt == self._own_ends[trial.id] and trial.status is TrialStatus.RESERVED:
                return  # our own reservation, older than the end we know
            del self._own_ends[trial.id]
        ids = self._ids
        if not ids or trial.id > ids[-1]:
            ids.append(trial.id)
            self._trials.append(trial)
            self._params_hashes.add(trial.params_hash)
        else:
            index = bisect.bisect_left(ids, trial.id)
            if index < len(ids) and ids[index] == trial.id:
                self._counts[self._trials[index].status] -= 1
                self._trials[index] = trial
            else:
                ids.insert(index, trial.id)
                self._trials.insert(index, trial)
                self._params_hashes.add(trial.params_hash)
        self._counts[trial.status] += 1

    @property
    def trials(self) -> TrialList:
        """Trials in creation order, as of the last refresh: the history's own list, not a
        copy (copying it for every suggestion would grow with the history), so callers
        only read it, and it changes with the next refresh."""
        return self._trials

    def count(self, status: TrialStatus) -> int:
        """How many trials had ``status`` at the last refresh."""
        return self._counts[status]

    def __len__(self) -> int:
        return len(self._trials)
