"""The statements of the worker's hot path that every backend shares: what a reservable
trial is, what reserving sets, a new trial's values, the token-guarded end of a
reservation, the heartbeat. Each backend module (``storage.backends``) builds its own
units of work from them; the budget's statements are in ``budget``.

A trial is owned through its ``attempt`` (a fencing token): reserving increments it, and
heartbeats, results and releases only apply while the token still matches. A worker that
was presumed dead and comes back therefore finds zero rows to update and learns that it
lost the trial, instead of overwriting the new owner's result.

The statements are built once, with bind parameters, and the ones a worker runs for
every trial are compiled once per dialect and run on the driver (``engine.Prepared``; what
that buys: docs/design.md). They return the columns of a TrialRecord
(``queries.RECORD_COLUMNS``) as tuples.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from orionlite.records import TrialStatus
from orionlite.storage import budget
from orionlite.storage.engine import Prepared
from orionlite.storage.queries import RECORD_COLUMNS
from orionlite.storage.sqlfunctions import change_seq, db_now
from orionlite.storage.tables import UNFINISHED_STATUS_SQL, trials

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)
_WORKER_ID = sa.bindparam("p_worker_id", type_=sa.String)
_LEASE_S = sa.bindparam("p_lease_s", type_=sa.Float)
_TRIAL_ID = sa.bindparam("p_trial_id", type_=sa.Integer)
_ATTEMPT = sa.bindparam("p_attempt", type_=sa.Integer)


def reservable_now() -> sa.ColumnElement[bool]:
    """New or interrupted trials, and reservations whose lease ran out (a dead worker's).

    "Unfinished" AND "not a live reservation": the first term is the WHERE clause of the
    partial index ix_trials_unfinished, word for word, so both databases find candidates
    there in id order, among unfinished trials only; the cost of reserving does not grow
    with the number of finished trials.
    """
    return sa.and_(
        sa.text(UNFINISHED_STATUS_SQL),
        sa.or_(
            trials.c.status != TrialStatus.RESERVED.value,
            trials.c.lease_expires_at < db_now(),
        ),
    )


def oldest_reservable(reservable: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The id of the experiment's oldest trial meeting ``reservable``, locked; a row
    another transaction holds is passed over (``SKIP LOCKED``) rather than waited for."""
    return (
        sa.select(trials.c.id)
        .where(trials.c.experiment_id == _EXPERIMENT_ID, reservable)
        .order_by(trials.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def reserved_values() -> dict[str, Any]:
    """What reserving a trial sets, for the worker ``p_worker_id`` under a lease of
    ``p_lease_s`` seconds: a new attempt (the fencing token)."""
    return {
        "status": TrialStatus.RESERVED.value,
        "attempt": trials.c.attempt + 1,
        "reserved_by": _WORKER_ID,
        "heartbeat_at": db_now(),
        "lease_expires_at": db_now() + _LEASE_S,
        "started_at": db_now(),
        "ended_at": None,
        "change_seq": change_seq(),
    }


def reserve_statement(excluded: sa.ColumnElement[bool] | None = None) -> sa.Update:
    """Reserve the oldest reservable trial in one statement.

    On PostgreSQL the inner ``FOR UPDATE SKIP LOCKED`` lets concurrent workers pass over a
    row another worker is taking instead of queueing behind it. SQLAlchemy leaves the
    clause out on SQLite, where the statement's write lock makes it atomic on its own.
    ``excluded`` keeps a row out of the candidates: the one a statement also finishes.
    """
    reservable = reservable_now() if excluded is None else sa.and_(reservable_now(), excluded)
    candidate = oldest_reservable(reservable).scalar_subquery()
    return trials.update().where(trials.c.id == candidate, reservable).values(**reserved_values())


# The reservation of the oldest reservable trial, returning it (SQLite, PostgreSQL).
RESERVE = Prepared(reserve_statement().returning(*RECORD_COLUMNS))

# The values of a new trial, reserved by its creator.
NEW_TRIAL: dict[str, Any] = {
    "experiment_id": _EXPERIMENT_ID,
    "params": sa.bindparam("p_params", type_=trials.c.params.type),
    "params_hash": sa.bindparam("p_params_hash", type_=sa.String),
    "status": TrialStatus.RESERVED.value,
    "attempt": 1,
    "reserved_by": _WORKER_ID,
    "heartbeat_at": db_now(),
    "lease_expires_at": db_now() + _LEASE_S,
    "created_at": db_now(),
    "started_at": db_now(),
    "parent_trial_id": sa.bindparam("p_parent_trial_id", type_=sa.Integer),
    "change_seq": change_seq(),
}


def owned() -> sa.ColumnElement[bool]:
    return sa.and_(
        trials.c.id == _TRIAL_ID,
        trials.c.attempt == _ATTEMPT,
        trials.c.status == TrialStatus.RESERVED.value,
    )


_EXTEND_LEASE = (
    trials.update()
    .where(owned())
    .values(heartbeat_at=db_now(), lease_expires_at=db_now() + _LEASE_S)
)


def _only_live_reservations() -> sa.Select[Any]:
    """True while a worker holds a trial of the experiment under a live lease, and there
    is nothing another worker could take or create: no reservable trial, no budget slot."""
    unfinished = sa.select(trials.c.id).where(
        trials.c.experiment_id == _EXPERIMENT_ID, sa.text(UNFINISHED_STATUS_SQL)
    )
    return sa.select(
        sa.and_(
            sa.exists(unfinished.where(trials.c.status == TrialStatus.RESERVED.value)),
            ~sa.exists(unfinished.where(reservable_now())),
            ~budget.has_room(_EXPERIMENT_ID),
        )
    )


_ONLY_LIVE_RESERVATIONS = Prepared(_only_live_reservations())


def only_live_reservations(connection: sa.Connection, experiment_id: int) -> bool:
    """Whether the experiment is waiting only for other workers' running trials: one read,
    where an acquisition would be a write (see ``Worker``'s wait while others finish)."""
    rows = _ONLY_LIVE_RESERVATIONS.run(connection, {"p_experiment_id": experiment_id})
    return bool(rows[0][0])


def reserve_existing(
    connection: sa.Connection, experiment_id: int, worker_id: str, lease_s: float
) -> tuple[Any, ...] | None:
    """Reserve the oldest reservable trial in one statement, or return None."""
    parameters = {"p_experiment_id": experiment_id, "p_worker_id": worker_id, "p_lease_s": lease_s}
    rows = RESERVE.run(connection, parameters)
    return rows[0] if rows else None


def new_trial_parameters(
    experiment_id: int,
    params: dict[str, Any],
    params_hash: str,
    worker_id: str,
    lease_s: float,
    parent_trial_id: int | None,
) -> dict[str, Any]:
    """The bind parameters of a trial to create, reserved by its creator: what
    :func:`acquire_postgresql` and :func:`acquire_sqlite` take."""
    return {
        "p_experiment_id": experiment_id,
        "p_params": params,
        "p_params_hash": params_hash,
        "p_worker_id": worker_id,
        "p_lease_s": lease_s,
        "p_parent_trial_id": parent_trial_id,
    }


def extend_lease(connection: sa.Connection, trial_id: int, attempt: int, lease_s: float) -> bool:
    """Heartbeat. Deliberately leaves ``change_seq`` alone: a heartbeat changes nothing
    readers of the history care about."""
    parameters = {"p_trial_id": trial_id, "p_attempt": attempt, "p_lease_s": lease_s}
    return connection.execute(_EXTEND_LEASE, parameters).rowcount == 1


def finish_update(columns: tuple[str, ...]) -> sa.Update:
    """The token-guarded end of a reservation, for one set of recorded columns."""
    return (
        trials.update()
        .where(owned())
        .values(
            status=sa.bindparam("p_status", type_=sa.String),
            lease_expires_at=None,
            ended_at=db_now(),
            change_seq=change_seq(),
            **{name: sa.bindparam(f"v_{name}", type_=trials.c[name].type) for name in columns},
        )
    )


def finish_parameters(
    trial_id: int, attempt: int, status: TrialStatus, values: dict[str, Any]
) -> dict[str, Any]:
    """The bind parameters of :func:`finish_update` (its columns: ``sorted(values)``)."""
    parameters = {"p_trial_id": trial_id, "p_attempt": attempt, "p_status": status.value}
    parameters.update({f"v_{name}": value for name, value in values.items()})
    return parameters


def completing(
    finishing: tuple[int, int, dict[str, Any]],
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The recorded columns and bind parameters of an acquisition's ``finishing``: the
    worker's previous trial, completed."""
    trial_id, attempt, values = finishing
    return tuple(sorted(values)), finish_parameters(
        trial_id, attempt, TrialStatus.COMPLETED, values
    )
