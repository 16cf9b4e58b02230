"""``orionlite export``: CSV and JSON, one row per trial, read back equal to the database."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from orionlite.cli import run
from orionlite.cli.export import export_command
from orionlite.experiment import Experiment
from orionlite.exporting import iso_time, worker_host
from orionlite.records import TrialRecord

_TIMES = ("created_at", "started_at", "ended_at")


def _parse(text: str, column: str) -> Any:
    """Read one CSV cell back into the type the database holds."""
    if text == "":
        return None
    if column in (
        "id",
        "number",
        "attempt",
        "retries",
        "exit_code",
        "parent_trial_id",
        "params.layers",
    ):
        return int(text)
    if column in ("status", "worker", "host", "error", "params.opt", *_TIMES):
        return text
    return float(text)


def _expected_row(trial: TrialRecord) -> dict[str, Any]:
    others = {r["name"]: r["value"] for r in trial.results or [] if r["type"] != "objective"}
    return {
        "id": trial.id,
        "number": trial.number,
        "status": trial.status.value,
        "objective": trial.objective,
        **{f"params.{name}": value for name, value in trial.params.items()},
        **{f"results.{name}": value for name, value in others.items()},
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


def test_csv_round_trip_equals_the_database(
    quadratic_experiment: Experiment, tmp_path: Any, db_url: str
) -> None:
    out = tmp_path / "trials.csv"
    code = run(export_command, ["-n", "quad", "--storage", db_url, "-o", str(out)])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    header = out.read_text().splitlines()[0].split(",")
    assert header[:7] == [
        "id",
        "number",
        "status",
        "objective",
        "params.lr",
        "params.layers",
        "params.opt",
    ]
    assert "results.accuracy" in header and "results.loss" not in header
    trials = quadratic_experiment.storage.trials(quadratic_experiment.id)
    assert len(rows) == len(trials) == 21
    for row, trial in zip(rows, trials, strict=True):
        parsed = {column: _parse(value, column) for column, value in row.items()}
        expected = _expected_row(trial)
        for column in header:
            expected.setdefault(column, None)  # e.g. the broken trial has no accuracy
        assert parsed == expected
    broken = [row for row in rows if row["status"] == "broken"]
    assert len(broken) == 1 and broken[0]["error"] == "boom\nlast line"
    assert broken[0]["objective"] == "" and broken[0]["host"] == "node-a"


def test_json_keeps_nested_params_and_results(sqlite_quadratic: Experiment, capsys: Any) -> None:
    quadratic_experiment = sqlite_quadratic
    db_url = quadratic_experiment.storage.url
    code = run(export_command, ["-n", "quad", "--storage", db_url, "--format", "json"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    trials = quadratic_experiment.storage.trials(quadratic_experiment.id)
    assert [r["id"] for r in records] == [t.id for t in trials]
    first, trial = records[0], trials[0]
    assert first["params"] == trial.params and first["results"] == trial.results
    assert first["host"] == "node-a" and first["objective"] == trial.objective


def test_csv_to_stdout_with_format_option(sqlite_quadratic: Experiment, capsys: Any) -> None:
    db_url = sqlite_quadratic.storage.url
    code = run(export_command, ["-n", "quad", "--storage", db_url, "--format", "csv"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("id,number,status,objective,params.lr,")
    assert len(list(csv.DictReader(io.StringIO(out)))) == 21


def test_times_are_iso_8601_with_a_timezone(sqlite_quadratic: Experiment, capsys: Any) -> None:
    from datetime import datetime

    db_url = sqlite_quadratic.storage.url
    assert run(export_command, ["-n", "quad", "--storage", db_url, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    trial = sqlite_quadratic.storage.trials(sqlite_quadratic.id)[0]
    for column in _TIMES:
        parsed = datetime.fromisoformat(record[column])
        assert parsed.utcoffset() is not None and record[column].endswith("+00:00")
        assert abs(parsed.timestamp() - getattr(trial, column)) < 1e-5
