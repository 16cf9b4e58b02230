"""Reads, and the writes that do not touch reservations (experiments)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.storage.sqlfunctions import db_now, read_horizon
from orionlite.storage.tables import experiments, trials

_UNFINISHED = (
    TrialStatus.NEW.value,
    TrialStatus.RESERVED.value,
    TrialStatus.INTERRUPTED.value,
)


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
    )


def insert_experiment(connection: sa.Connection, values: dict[str, Any]) -> sa.Row[Any]:
    statement = experiments.insert().values(created_at=db_now(), **values).returning(*experiments.c)
    return connection.execute(statement).one()


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
    connection.execute(
        experiments.update().where(experiments.c.id == experiment_id).values(**values)
    )


def select_changed_trials(
    connection: sa.Connection, experiment_id: int, since: int
) -> tuple[list[sa.Row[Any]], int]:
    """Trials whose ``change_seq`` is at or above ``since``, and the next watermark.

    The watermark is read before the rows: whatever finished before it is visible to the
    row query, and whatever did not will carry a marker at or above it.
    """
    horizon = connection.execute(sa.select(read_horizon())).scalar_one()
    rows = connection.execute(
        sa.select(trials).where(
            trials.c.experiment_id == experiment_id, trials.c.change_seq >= since
        )
    ).all()
    return list(rows), int(horizon)


def select_trial(connection: sa.Connection, trial_id: int) -> sa.Row[Any] | None:
    return connection.execute(sa.select(trials).where(trials.c.id == trial_id)).first()


def count_by_status(connection: sa.Connection, experiment_id: int) -> dict[str, int]:
    query = (
        sa.select(trials.c.status, sa.func.count())
        .where(trials.c.experiment_id == experiment_id)
        .group_by(trials.c.status)
    )
    return {status: count for status, count in connection.execute(query)}


def count_status(connection: sa.Connection, experiment_id: int, status: TrialStatus) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(trials)
        .where(trials.c.experiment_id == experiment_id, trials.c.status == status.value)
    )
    return int(connection.execute(query).scalar_one())


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


def select_best_trial(connection: sa.Connection, experiment_id: int) -> sa.Row[Any] | None:
    query = (
        sa.select(trials)
        .where(
            trials.c.experiment_id == experiment_id,
            trials.c.status == TrialStatus.COMPLETED.value,
        )
        .order_by(trials.c.objective.asc(), trials.c.id.asc())
        .limit(1)
    )
    return connection.execute(query).first()


def select_trials(
    connection: sa.Connection, experiment_id: int, statuses: tuple[str, ...] | None = None
) -> list[sa.Row[Any]]:
    query = sa.select(trials).where(trials.c.experiment_id == experiment_id)
    if statuses:
        query = query.where(trials.c.status.in_(statuses))
    return list(connection.execute(query.order_by(trials.c.id)))
