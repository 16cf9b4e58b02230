"""Reads, and the writes that do not touch reservations (experiments)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from orionlite.objectives import feasible
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.storage.engine import Prepared
from orionlite.storage.sqlfunctions import change_seq, db_now, read_horizon, read_in_progress
from orionlite.storage.tables import experiments, trials

_UNFINISHED = (
    TrialStatus.NEW.value,
    TrialStatus.RESERVED.value,
    TrialStatus.INTERRUPTED.value,
)


# The stored fields of a TrialRecord, in its field order: the statements of the worker's
# hot path return exactly these columns, as plain tuples (see engine.Prepared).
RECORD_FIELDS = (
    "id",
    "experiment_id",
    "params",
    "params_hash",
    "status",
    "attempt",
    "reserved_by",
    "objective",
    "results",
    "exit_code",
    "error",
    "parent_trial_id",
    "retries",
    "created_at",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "number",
)
RECORD_COLUMNS = tuple(trials.c[name] for name in RECORD_FIELDS)


_STATUS_INDEX = RECORD_FIELDS.index("status")
_PARAMS_INDEX = RECORD_FIELDS.index("params")
_RESULTS_INDEX = RECORD_FIELDS.index("results")
_STATUSES = {status.value: status for status in TrialStatus}
assert RECORD_FIELDS == tuple(f.name for f in dataclasses.fields(TrialRecord))

# RECORD_COLUMNS with the JSON ones as their text, for the history's reads: every worker
# reads every changed row, and decoding all of a read's JSON in one json.loads costs a
# third of decoding each value on its own (psycopg's loader, or SQLite's per row).
_HISTORY_COLUMNS = tuple(
    sa.cast(column, sa.Text).label(column.name) if isinstance(column.type, sa.JSON) else column
    for column in RECORD_COLUMNS
)


def record_from_values(values: Sequence[Any]) -> TrialRecord:
    """A TrialRecord from the RECORD_COLUMNS of a row (what a reservation or creation
    returns), in that order: TrialRecord's field order, so positionally."""
    row = list(values)
    row[_STATUS_INDEX] = _STATUSES[row[_STATUS_INDEX]]
    return TrialRecord(*row)


def _records_from_text_rows(rows: list[Sequence[Any]]) -> list[TrialRecord]:
    """TrialRecords from rows of _HISTORY_COLUMNS: the JSON texts of all rows decoded
    together (a SQL NULL ``results`` as JSON null: None either way)."""
    if not rows:
        return []
    texts = [row[_PARAMS_INDEX] for row in rows]
    texts += [row[_RESULTS_INDEX] or "null" for row in rows]
    decoded = json.loads("[" + ",".join(texts) + "]")
    records = []
    for i, values in enumerate(rows):
        row = list(values)
        row[_PARAMS_INDEX] = decoded[i]
        row[_RESULTS_INDEX] = decoded[len(rows) + i]
        records.append(record_from_values(row))
    return records


def trial_from_row(row: sa.Row[Any]) -> TrialRecord:
    m = row._mapping
    return TrialRecord(
        id=m["id"],
        experiment_id=m["experiment_id"],
        params=m["params"],
        params_hash=m["params_hash"],
        status=TrialStatus(m["status"]),
        attempt=m["attempt"],
        reserved_by=m["reserved_by"],
        objective=m["objective"],
        results=m["results"],
        exit_code=m["exit_code"],
        error=m["error"],
        parent_trial_id=m["parent_trial_id"],
        retries=m["retries"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        heartbeat_at=m["heartbeat_at"],
        number=m["number"],
    )


def experiment_from_row(row: sa.Row[Any]) -> ExperimentRecord:
    m = row._mapping
    return ExperimentRecord(
        id=m["id"],
        name=m["name"],
        version=m["version"],
        space=m["space"],
        algorithm=m["algorithm"],
        command=m["command"],
        max_trials=m["max_trials"],
        max_broken=m["max_broken"],
        working_dir=m["working_dir"],
        parent_id=m["parent_id"],
        metadata=m["metadata"] or {},
        created_at=m["created_at"],
        broken_baseline=m.get("broken_baseline", 0),
        objectives=m["objectives"],
    )


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The id of the row an INSERT of one row made (no RETURNING: MySQL has none)."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def insert_experiment(
    connection: sa.Connection,
    values: dict[str, Any],
    insert_unless_taken: Callable[[sa.Table, dict[str, Any], list[str]], sa.Insert],
    used: int = 0,
) -> sa.Row[Any] | None:
    """The experiment, with ``used`` slots of its budget already taken (a branch's
    inherited trials); None if another worker created (name, version) first.

    Workers that start together all try to create it: where the backend can, a taken name
    is "do nothing", not a unique violation, which the server would log as an error.
    """
    statement = insert_unless_taken(
        experiments, {"created_at": db_now(), **values, "budget_used": used}, ["name", "version"]
    )
    inserted = connection.execute(statement)
    # No RETURNING: MySQL has none (MariaDB has it for INSERT only).
    key = inserted.inserted_primary_key
    if inserted.rowcount == 0 or key is None or key[0] is None:
        return None
    experiment_id = int(key[0])
    return connection.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).one()


def select_experiment(
    connection: sa.Connection, name: str, version: int | None
) -> sa.Row[Any] | None:
    query = sa.select(experiments).where(experiments.c.name == name)
    if version is not None:
        query = query.where(experiments.c.version == version)
    return connection.execute(query.order_by(experiments.c.version.desc()).limit(1)).first()


def select_experiment_by_id(connection: sa.Connection, experiment_id: int) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(experiments).where(experiments.c.id == experiment_id)
    ).first()


def select_experiments(connection: sa.Connection) -> list[sa.Row[Any]]:
    query = sa.select(experiments).order_by(experiments.c.name, experiments.c.version)
    return list(connection.execute(query))


def update_experiment(
    connection: sa.Connection, experiment_id: int, values: dict[str, Any]
) -> None:
    """Change an experiment's settings (a new max_trials applies to the next creation)."""
    connection.execute(
        experiments.update().where(experiments.c.id == experiment_id).values(**values)
    )


Watermark = int | tuple[int, tuple[int, ...]]
"""Where a reader of the history stopped: ``0`` before the first read; then on SQLite the
next change_seq, on MySQL the experiment's, on PostgreSQL (xmax, in-progress transactions)
of the reading snapshot (see ``sqlfunctions.change_seq``). Its form and the statement's
differences are the backend's (``backends.base.Backend``); opaque to everything else."""


class ReaderWatermarks(Protocol):
    """What a database's readers' watermark is: ``backends.base.Backend``'s methods."""

    def __hash__(self) -> int: ...

    def reader_watermark(self, horizon: Any, in_progress: Any) -> Watermark: ...

    def watermark_clause(self) -> sa.ColumnElement[bool]: ...

    def watermark_parameters(self, since: Watermark) -> dict[str, Any]: ...


def changed_trials_statement(
    watermarks: ReaderWatermarks, *leading: sa.ColumnElement[Any]
) -> sa.Select[Any]:
    """The watermark and the changed rows in one statement, so one snapshot and one round
    trip: ``(SELECT watermark) LEFT JOIN trials``, which yields one row of nulls when
    nothing changed. ``leading`` columns come first (PostgreSQL's finish-and-read).
    """
    experiment_id = sa.bindparam("experiment_id", type_=sa.Integer)
    watermark = sa.select(
        read_horizon(experiment_id).label("horizon"), read_in_progress().label("in_progress")
    ).subquery("h")
    since = watermarks.watermark_clause()
    changed = sa.and_(trials.c.experiment_id == experiment_id, since)
    columns = (*leading, watermark.c.horizon, watermark.c.in_progress, *_HISTORY_COLUMNS)
    return sa.select(*columns).select_from(watermark.outerjoin(trials, changed))


def changed_trials_parameters(
    watermarks: ReaderWatermarks, experiment_id: int, since: Watermark
) -> dict[str, Any]:
    return {"experiment_id": experiment_id, **watermarks.watermark_parameters(since)}


def changes_from_rows(
    watermarks: ReaderWatermarks, rows: list[tuple[Any, ...]], skip: int = 0
) -> tuple[list[TrialRecord], Watermark]:
    """The records and next watermark in the rows of a ``changed_trials_statement``
    (after ``skip`` leading columns)."""
    changed = _records_from_text_rows(
        [row[skip + 2 :] for row in rows if row[skip + 2] is not None]
    )
    horizon, in_progress = rows[0][skip], rows[0][skip + 1]
    return changed, watermarks.reader_watermark(horizon, in_progress)


@functools.cache
def changed_trials(watermarks: ReaderWatermarks) -> Prepared:
    """The read of changed trials for one backend's watermarks. Planned per call:
    "change_seq >= :since" is a short range only if since is recent."""
    return Prepared(changed_trials_statement(watermarks), plan_per_call=True)


def select_changed_trials(
    connection: sa.Connection,
    watermarks: ReaderWatermarks,
    experiment_id: int,
    since: Watermark,
) -> tuple[list[TrialRecord], Watermark]:
    """Trials changed since the ``since`` watermark, and the next watermark."""
    parameters = changed_trials_parameters(watermarks, experiment_id, since)
    return changes_from_rows(watermarks, changed_trials(watermarks).run(connection, parameters))


_SELECT_TRIAL = sa.select(trials).where(trials.c.id == sa.bindparam("trial_id", type_=sa.Integer))


def select_trial(connection: sa.Connection, trial_id: int) -> sa.Row[Any] | None:
    return connection.execute(_SELECT_TRIAL, {"trial_id": trial_id}).first()


def count_by_status(connection: sa.Connection, experiment_id: int) -> dict[str, int]:
    query = (
        sa.select(trials.c.status, sa.func.count())
        .where(trials.c.experiment_id == experiment_id)
        .group_by(trials.c.status)
    )
    return {status: count for status, count in connection.execute(query)}


_COUNT_STATUS = (
    sa.select(sa.func.count())
    .select_from(trials)
    .where(
        trials.c.experiment_id == sa.bindparam("experiment_id", type_=sa.Integer),
        trials.c.status == sa.bindparam("status", type_=sa.String),
    )
)


def count_status(connection: sa.Connection, experiment_id: int, status: TrialStatus) -> int:
    parameters = {"experiment_id": experiment_id, "status": status.value}
    return int(connection.execute(_COUNT_STATUS, parameters).scalar_one())


def has_unfinished(connection: sa.Connection, experiment_id: int) -> bool:
    query = (
        sa.select(trials.c.id)
        .where(trials.c.experiment_id == experiment_id, trials.c.status.in_(_UNFINISHED))
        .limit(1)
    )
    return connection.execute(query).first() is not None


def select_last_broken(connection: sa.Connection, experiment_id: int) -> sa.Row[Any] | None:
    query = (
        sa.select(trials)
        .where(
            trials.c.experiment_id == experiment_id,
            trials.c.status == TrialStatus.BROKEN.value,
        )
        .order_by(trials.c.ended_at.desc(), trials.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def select_best_trials(
    connection: sa.Connection, experiment_id: int, maximize: bool, offset: int, limit: int
) -> list[sa.Row[Any]]:
    """Completed trials from the best objective on (by direction), a page at a time."""
    order = trials.c.objective.desc() if maximize else trials.c.objective.asc()
    query = (
        sa.select(trials)
        .where(
            trials.c.experiment_id == experiment_id,
            trials.c.status == TrialStatus.COMPLETED.value,
            trials.c.objective.is_not(None),
        )
        .order_by(order, trials.c.id.asc())
        .offset(offset)
        .limit(limit)
    )
    return list(connection.execute(query))


def select_best_feasible(
    connection: sa.Connection, experiment_id: int, maximize: bool, page: int = 50
) -> TrialRecord | None:
    """The completed trial with the best objective (by direction) that satisfies its
    constraints. Nearly always the first row: infeasible ones are passed over a page at a
    time."""
    offset = 0
    while True:
        rows = select_best_trials(connection, experiment_id, maximize, offset, page)
        for row in rows:
            trial = trial_from_row(row)
            if feasible(trial):
                return trial
        if len(rows) < page:
            return None
        offset += page


def select_trials(
    connection: sa.Connection, experiment_id: int, statuses: tuple[str, ...] | None = None
) -> list[sa.Row[Any]]:
    query = sa.select(trials).where(trials.c.experiment_id == experiment_id)
    if statuses:
        query = query.where(trials.c.status.in_(statuses))
    return list(connection.execute(query.order_by(trials.c.id)))


def insert_copied_trials(
    connection: sa.Connection, experiment_id: int, rows: list[dict[str, Any]]
) -> int:
    """Insert finished trials copied from a parent experiment (``hunt --branch``).

    They count against the child's ``max_trials`` like its own trials: the child is
    created with their slots taken (``insert_experiment``'s ``used``), so the invariant
    "reserved + completed never exceed max_trials" keeps holding.
    """
    if not rows:
        return 0
    # Numbered 1..n in the parent's order: the child is new, and its counter starts at n.
    statement = trials.insert().values(experiment_id=experiment_id, change_seq=change_seq())
    connection.execute(statement, [dict(row, number=i) for i, row in enumerate(rows, 1)])
    return len(rows)
