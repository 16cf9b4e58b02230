"""Helpers for the user-facing tests: experiments with known trials, made through the
same storage calls the workers use (no subprocess needed where none is tested)."""

from __future__ import annotations

from typing import Any

from orionlite.creation import build_experiment
from orionlite.experiment import Experiment, ExperimentSettings
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params


def make_experiment(
    storage: Any,
    name: str,
    space: dict[str, str],
    *,
    command: list[str] | None = None,
    max_trials: int | None = None,
) -> Experiment:
    return build_experiment(
        storage,
        ExperimentSettings(
            name=name, space=Space.from_priors(space), command=command, max_trials=max_trials
        ),
    )


def add_trial(
    experiment: Experiment,
    params: dict[str, Any],
    objective: float | None,
    *,
    status: TrialStatus = TrialStatus.COMPLETED,
    extra_results: list[dict[str, Any]] | None = None,
    worker: str = "node-a:123:abcd",
) -> TrialRecord:
    """Create a trial as a worker would (reserved), then finish it with ``status``."""
    storage = experiment.storage
    created = storage.acquire_trial(experiment.id, params, hash_params(params), worker, 60.0)
    assert isinstance(created, TrialRecord), created
    if status is TrialStatus.RESERVED:
        return created
    results = None
    if objective is not None:
        results = [{"name": "loss", "type": "objective", "value": objective}]
        results += extra_results or []
    storage.finish_trial(
        created,
        status,
        objective=objective if status is TrialStatus.COMPLETED else None,
        results=results if status is TrialStatus.COMPLETED else None,
        exit_code=0 if status is TrialStatus.COMPLETED else 1,
        error=None if status is TrialStatus.COMPLETED else "boom\nlast line",
    )
    finished = storage.get_trial(created.id)
    assert finished is not None
    return finished
