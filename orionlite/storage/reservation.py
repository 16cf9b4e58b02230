"""Every statement that changes who owns a trial. All locking lives here.

A trial is owned through its ``attempt`` (a fencing token): reserving increments it, and
heartbeats, results and releases only apply while the token still matches. A worker that
was presumed dead and comes back therefore finds zero rows to update and learns that it
lost the trial, instead of overwriting the new owner's result.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from orionlite.records import TrialStatus
from orionlite.storage.sqlfunctions import change_seq, db_now
from orionlite.storage.tables import experiments, trials

_RESERVABLE = (TrialStatus.NEW.value, TrialStatus.INTERRUPTED.value)


def _reservable_now() -> sa.ColumnElement[bool]:
    """New or interrupted trials, and reservations whose lease ran out (a dead worker's)."""
    return sa.or_(
        trials.c.status.in_(_RESERVABLE),
        sa.and_(
            trials.c.status == TrialStatus.RESERVED.value,
            trials.c.lease_expires_at < db_now(),
        ),
    )


def reserve_existing(
    connection: sa.Connection, experiment_id: int, worker_id: str, lease_s: float
) -> sa.Row[Any] | None:
    """Reserve the oldest reservable trial in one statement, or return None.

    On PostgreSQL the inner ``FOR UPDATE SKIP LOCKED`` lets concurrent workers pass over a
    row another worker is taking instead of queueing behind it. SQLAlchemy leaves the
    clause out on SQLite, where the surrounding ``BEGIN IMMEDIATE`` makes the statement
    atomic on its own.
    """
    candidate = (
        sa.select(trials.c.id)
        .where(trials.c.experiment_id == experiment_id, _reservable_now())
        .order_by(trials.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        trials.update()
        .where(trials.c.id == candidate, _reservable_now())
        .values(
            status=TrialStatus.RESERVED.value,
            attempt=trials.c.attempt + 1,
            reserved_by=worker_id,
            heartbeat_at=db_now(),
            lease_expires_at=db_now() + lease_s,
            started_at=db_now(),
            ended_at=None,
            change_seq=change_seq(),
        )
        .returning(*trials.c)
    )
    return connection.execute(statement).first()


def claim_budget(connection: sa.Connection, experiment_id: int) -> bool:
    """Count one more trial against max_trials, unless the budget is spent.

    The guarded increment is the only serialisation point of trial creation: on
    PostgreSQL the row lock it takes lasts until commit, so two workers can never both
    take the last slot.
    """
    statement = (
        experiments.update()
        .where(
            experiments.c.id == experiment_id,
            sa.or_(
                experiments.c.max_trials.is_(None),
                experiments.c.budget_used < experiments.c.max_trials,
            ),
        )
        .values(budget_used=experiments.c.budget_used + 1)
        .returning(experiments.c.id)
    )
    return connection.execute(statement).first() is not None


def insert_reserved(
    connection: sa.Connection,
    experiment_id: int,
    params: dict[str, Any],
    params_hash: str,
    worker_id: str,
    lease_s: float,
    parent_trial_id: int | None,
) -> sa.Row[Any] | None:
    """Insert a trial already reserved by its creator; None if these parameters exist.

    ``ON CONFLICT DO NOTHING`` on the unique (experiment, params hash) constraint turns a
    race between two workers proposing the same point into a quiet miss for one of them.
    """
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(trials)
        .values(
            experiment_id=experiment_id,
            params=params,
            params_hash=params_hash,
            status=TrialStatus.RESERVED.value,
            attempt=1,
            reserved_by=worker_id,
            heartbeat_at=db_now(),
            lease_expires_at=db_now() + lease_s,
            created_at=db_now(),
            started_at=db_now(),
            parent_trial_id=parent_trial_id,
            change_seq=change_seq(),
        )
        .on_conflict_do_nothing(index_elements=["experiment_id", "params_hash"])
        .returning(*trials.c)
    )
    return connection.execute(statement).first()


def _owned(trial_id: int, attempt: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        trials.c.id == trial_id,
        trials.c.attempt == attempt,
        trials.c.status == TrialStatus.RESERVED.value,
    )


def extend_lease(connection: sa.Connection, trial_id: int, attempt: int, lease_s: float) -> bool:
    """Heartbeat. Deliberately leaves ``change_seq`` alone: a heartbeat changes nothing
    readers of the history care about."""
    statement = (
        trials.update()
        .where(_owned(trial_id, attempt))
        .values(heartbeat_at=db_now(), lease_expires_at=db_now() + lease_s)
    )
    return connection.execute(statement).rowcount == 1


def finish(
    connection: sa.Connection,
    trial_id: int,
    attempt: int,
    status: TrialStatus,
    values: dict[str, Any],
) -> bool:
    """Record the end of a reservation; False if the token no longer matches."""
    statement = (
        trials.update()
        .where(_owned(trial_id, attempt))
        .values(
            status=status.value,
            lease_expires_at=None,
            ended_at=db_now(),
            change_seq=change_seq(),
            **values,
        )
        .returning(trials.c.experiment_id)
    )
    row = connection.execute(statement).first()
    if row is None:
        return False
    if status is TrialStatus.BROKEN:
        # A broken trial no longer counts against max_trials: a replacement may be made.
        connection.execute(
            experiments.update()
            .where(experiments.c.id == row.experiment_id)
            .values(budget_used=experiments.c.budget_used - 1)
        )
    return True
