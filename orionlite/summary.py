"""Summaries of experiments for ``status``, ``list``, ``info`` and the API's ``stats``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.storage import Storage


@dataclass(frozen=True)
class ExperimentSummary:
    name: str
    version: int
    max_trials: int | None
    counts: dict[str, int]
    best_trial_id: int | None
    best_objective: float | None
    best_params: dict[str, Any] | None
    #: The best trial's number in the experiment ("trial 7 of 'mnist'").
    best_trial_number: int | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["total"] = self.total
        return data


def summarize(storage: Storage, record: ExperimentRecord) -> ExperimentSummary:
    counts = storage.count_by_status(record.id)
    best: TrialRecord | None = storage.best_trial(record.id)
    return ExperimentSummary(
        name=record.name,
        version=record.version,
        max_trials=record.max_trials,
        counts={status.value: counts.get(status, 0) for status in TrialStatus},
        best_trial_id=best.id if best else None,
        best_objective=best.objective if best else None,
        best_params=best.params if best else None,
        best_trial_number=best.number if best else None,
    )
