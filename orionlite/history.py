"""A worker's view of an experiment's trials, kept current by incremental reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.storage import Storage


class TrialHistory:
    """Every trial of one experiment, refreshed by fetching only the rows that changed.

    Suggesting runs on every trial, so re-reading the whole table each time would make a
    long experiment slower and slower; here a refresh costs what changed since the last.
    """

    def __init__(self, storage: Storage, experiment_id: int) -> None:
        self._storage = storage
        self._experiment_id = experiment_id
        self._trials: dict[int, TrialRecord] = {}
        self._watermark = 0

    def refresh(self) -> list[TrialRecord]:
        changed, self._watermark = self._storage.fetch_changed_trials(
            self._experiment_id, self._watermark
        )
        for trial in changed:
            self._trials[trial.id] = trial
        return self.trials

    @property
    def trials(self) -> list[TrialRecord]:
        """Trials in creation order, as of the last refresh."""
        return [self._trials[key] for key in sorted(self._trials)]
