"""Trials as plain records for export (JSON now; CSV shares the same rows)."""

from __future__ import annotations

import json
from typing import Any

from orionlite.experiment import Experiment
from orionlite.records import TrialRecord


def trial_record(trial: TrialRecord) -> dict[str, Any]:
    return {
        "id": trial.id,
        "status": trial.status.value,
        "params": trial.params,
        "objective": trial.objective,
        "results": trial.results,
        "worker": trial.reserved_by,
        "attempt": trial.attempt,
        "retries": trial.retries,
        "parent_trial_id": trial.parent_trial_id,
        "exit_code": trial.exit_code,
        "error": trial.error,
        "created_at": trial.created_at,
        "started_at": trial.started_at,
        "ended_at": trial.ended_at,
        "duration": trial.duration,
    }


def export_json(experiment: Experiment) -> str:
    trials = experiment.storage.trials(experiment.id)
    return json.dumps([trial_record(trial) for trial in trials], indent=2)
