"""The trials of an experiment as a pandas DataFrame (``ExperimentClient.to_pandas``):
one row per trial, its parameters and extra results as columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orionlite.errors import MissingExtraError

if TYPE_CHECKING:
    import pandas

    from orionlite.storage import Storage

# Columns of to_pandas() besides the parameters; a parameter with one of these names
# becomes "params.<name>".
FIXED_COLUMNS = (
    "id",
    "status",
    "objective",
    "worker",
    "attempt",
    "retries",
    "parent_trial_id",
    "error",
    "created_at",
    "started_at",
    "ended_at",
    "duration",
    "progress",
)


def trials_frame(storage: Storage, experiment_id: int, dimensions: list[str]) -> pandas.DataFrame:
    """One row per trial: id, status, objective, each parameter (and each extra result)
    as a column, then worker, attempts, error and UTC timestamps."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise MissingExtraError(
            "to_pandas() needs pandas, which is not installed.",
            hint="Install it with: pip install 'orionlite[pandas]'",
        ) from exc
    param_columns = {
        name: f"params.{name}" if name in FIXED_COLUMNS else name for name in dimensions
    }
    rows: list[dict[str, Any]] = []
    extra_columns: list[str] = []
    curves = storage.progress(experiment_id)
    for record in storage.trials(experiment_id):
        row: dict[str, Any] = {
            "id": record.id,
            "status": record.status.value,
            "objective": record.objective,
        }
        for name, value in record.params.items():
            row[param_columns.get(name, name)] = value
        for result in record.results or []:
            if result.get("type") == "objective":
                continue
            column = result["name"]
            if column in row or column in FIXED_COLUMNS or column in param_columns:
                column = f"{result['type']}.{column}"
            row[column] = result["value"]
            if column not in extra_columns:
                extra_columns.append(column)
        row.update(
            worker=record.reserved_by,
            attempt=record.attempt,
            retries=record.retries,
            parent_trial_id=record.parent_trial_id,
            error=record.error,
            created_at=record.created_at,
            started_at=record.started_at,
            ended_at=record.ended_at,
            duration=record.duration,
            progress=curves.get(record.id, []),
        )
        rows.append(row)
    columns = [
        "id",
        "status",
        "objective",
        *param_columns.values(),
        *extra_columns,
        *FIXED_COLUMNS[3:],
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("created_at", "started_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame
