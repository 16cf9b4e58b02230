"""Summaries of experiments for ``status``, ``list``, ``info`` and the API's ``stats``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from orionlite.objectives import Objectives, pareto_front
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
    #: Declared objectives, e.g. ["loss (min)", "accuracy (max)"].
    objectives: list[str] = field(default_factory=lambda: ["objective (min)"])
    #: With several objectives: the Pareto front, [{"trial", "values", "params"}] (the
    #: best_* fields then describe its first trial, best by the first objective).
    pareto_front: list[dict[str, Any]] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["total"] = self.total
        return data


def summarize(storage: Storage, record: ExperimentRecord) -> ExperimentSummary:
    counts = storage.count_by_status(record.id)
    objectives = Objectives.from_json(record.objectives)
    front: list[dict[str, Any]] | None = None
    if objectives.several:
        trials = pareto_front(storage.trials(record.id, (TrialStatus.COMPLETED,)), objectives)
        front = [
            {"trial": t.id, "values": objectives.values(t), "params": t.params} for t in trials
        ]
        best: TrialRecord | None = trials[0] if trials else None
    else:
        best = storage.best_trial(record.id, objectives)
    return ExperimentSummary(
        name=record.name,
        version=record.version,
        max_trials=record.max_trials,
        counts={status.value: counts.get(status, 0) for status in TrialStatus},
        best_trial_id=best.id if best else None,
        best_objective=best.objective if best else None,
        best_params=best.params if best else None,
        best_trial_number=best.number if best else None,
        objectives=[item.label() for item in objectives.items],
        pareto_front=front,
    )


def best_cell(summary: ExperimentSummary) -> Any:
    """The "best objective" cell of status and list: the value (marked "(max)" when
    maximised), or the Pareto front's size and trials for several objectives."""
    if summary.pareto_front is not None:
        ids = [str(point["trial"]) for point in summary.pareto_front]
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        return f"front: {len(ids)} ({shown})" if ids else None
    if summary.best_objective is not None and summary.objectives[0].endswith("(max)"):
        return f"{summary.best_objective:.6g} (max)"
    return summary.best_objective
