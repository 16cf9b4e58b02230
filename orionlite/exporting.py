"""Trials as plain records for export: nested JSON, or flat CSV rows.

CSV has one row per trial and one column per parameter, named ``params.<dimension>``
(``params.lr``, ``params./model/layers/1``), so a parameter can never collide with a fixed
column such as ``status``. Other results (statistics, constraints) get one column each,
``results.<name>``; the objective's value is the ``objective`` column, and with several
declared objectives each has its own column ``objective.<name>`` (``objective`` then holds
the first one's). Times are the
database's epoch seconds, written in full so that reading them back gives the same
floats. Empty cells are missing values (NULL in the database).

JSON keeps the database's shape: ``params`` is an object and ``results`` the list the
trial reported.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Any

from orionlite.experiment import Experiment
from orionlite.records import TrialRecord

PARAM_PREFIX = "params."
RESULT_PREFIX = "results."
OBJECTIVE_PREFIX = "objective."

#: The fixed CSV columns, in order (parameters and results go between objective and worker).
LEADING_COLUMNS = ("id", "number", "status", "objective")
TRAILING_COLUMNS = (
    "worker",
    "host",
    "attempt",
    "retries",
    "parent_trial_id",
    "exit_code",
    "error",
    "created_at",
    "started_at",
    "ended_at",
    "duration",
)
FORMATS = ("csv", "json")


def worker_host(worker_id: str | None) -> str | None:
    """The host part of a worker id (``host:pid:token``, see worker.new_worker_id)."""
    if not worker_id:
        return None
    return worker_id.split(":", 1)[0]


def trial_record(trial: TrialRecord) -> dict[str, Any]:
    return {
        "id": trial.id,
        "number": trial.number,
        "status": trial.status.value,
        "params": trial.params,
        "objective": trial.objective,
        "results": trial.results,
        "worker": trial.reserved_by,
        "host": worker_host(trial.reserved_by),
        "attempt": trial.attempt,
        "retries": trial.retries,
        "parent_trial_id": trial.parent_trial_id,
        "exit_code": trial.exit_code,
        "error": trial.error,
        "created_at": iso_time(trial.created_at),
        "started_at": iso_time(trial.started_at),
        "ended_at": iso_time(trial.ended_at),
        "duration": trial.duration,
    }


def iso_time(seconds: float | None) -> str | None:
    """A stored time (seconds since the epoch, the database's clock) as ISO 8601 in UTC
    with its offset, e.g. ``2026-05-04T12:00:00.250000+00:00``, as spreadsheets and
    pandas read it."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def _other_results(trial: TrialRecord) -> dict[str, Any]:
    """Statistics and constraints by name (the objective has its own column)."""
    return {
        item["name"]: item["value"]
        for item in trial.results or []
        if item.get("type") != "objective"
    }


def csv_columns(experiment: Experiment, trials: list[TrialRecord]) -> list[str]:
    """Parameter columns in the space's order, then result names in first-seen order."""
    names = list(experiment.space)
    for trial in trials:
        names += [name for name in trial.params if name not in names]
    results: list[str] = []
    for trial in trials:
        results += [name for name in _other_results(trial) if name not in results]
    return [
        *LEADING_COLUMNS,
        *(OBJECTIVE_PREFIX + name for name in _objective_names(experiment)),
        *(PARAM_PREFIX + name for name in names),
        *(RESULT_PREFIX + name for name in results),
        *TRAILING_COLUMNS,
    ]


def _objective_names(experiment: Experiment) -> list[str]:
    """The declared objectives' names when there are several (one has its column)."""
    return experiment.objectives.names if experiment.objectives.several else []


def csv_row(trial: TrialRecord, objective_names: list[str] | None = None) -> dict[str, Any]:
    record = trial_record(trial)
    row = {key: record[key] for key in (*LEADING_COLUMNS, *TRAILING_COLUMNS)}
    reported = {
        item["name"]: item["value"]
        for item in trial.results or []
        if item.get("type") == "objective"
    }
    row.update({OBJECTIVE_PREFIX + name: reported.get(name) for name in objective_names or []})
    row.update({PARAM_PREFIX + name: value for name, value in trial.params.items()})
    row.update({RESULT_PREFIX + name: value for name, value in _other_results(trial).items()})
    return row


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # every digit, so the CSV reads back to the same float
    return value


def export_csv(experiment: Experiment) -> str:
    trials = experiment.storage.trials(experiment.id)
    output = io.StringIO()
    writer = csv.DictWriter(output, fieldnames=csv_columns(experiment, trials), lineterminator="\n")
    writer.writeheader()
    names = _objective_names(experiment)
    for trial in trials:
        writer.writerow({key: _cell(value) for key, value in csv_row(trial, names).items()})
    return output.getvalue()


def export_json(experiment: Experiment) -> str:
    """Each trial also has ``progress``: the values it reported, as [step, value] pairs."""
    trials = experiment.storage.trials(experiment.id)
    curves = experiment.storage.progress(experiment.id)
    records = [
        {**trial_record(trial), "progress": [list(p) for p in curves.get(trial.id, [])]}
        for trial in trials
    ]
    return json.dumps(records, indent=2)


def export(experiment: Experiment, fmt: str) -> str:
    return export_csv(experiment) if fmt == "csv" else export_json(experiment)
