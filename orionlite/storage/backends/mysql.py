"""MySQL and MariaDB: every statement of the worker's hot path, in one place.

Neither has ``UPDATE ... RETURNING`` (MySQL has no RETURNING at all) nor data-modifying
CTEs, and neither shows a reader its snapshot. So each unit of work is a short READ
COMMITTED transaction of plain statements, and the writers of one experiment's trials take
turns on the experiment's row (:func:`lock_experiment`). Taking turns is what makes
``change_seq`` exact (``sqlfunctions.change_seq``), and with it the per-experiment trial
number (``MAX + 1``) and the budget (the first share with room): each is read after the
lock, so it includes the previous holder's committed writes. No sequence is used, so
MySQL 8 needs nothing that MariaDB has and it lacks (docs/mysql.md).

Every statement is compiled once and run on the driver's cursor (``engine.Prepared``):
the experiment's lock is held while they run, so the Python between them counts too.
Connection settings and error codes are in ``storage.mysql_session``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from orionlite.records import TrialStatus
from orionlite.storage import budget, reservation
from orionlite.storage.backends.base import Acquired, Backend, Finishing
from orionlite.storage.engine import Prepared
from orionlite.storage.queries import RECORD_COLUMNS
from orionlite.storage.sqlfunctions import change_seq, db_now
from orionlite.storage.tables import budget_shares, experiments, trials

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)
_TRIAL_ID = sa.bindparam("p_trial_id", type_=sa.Integer)
_ATTEMPT = sa.bindparam("p_attempt", type_=sa.Integer)
_WORKER_ID = sa.bindparam("p_worker_id", type_=sa.String)
_LEASE_S = sa.bindparam("p_lease_s", type_=sa.Float)
_SHARE = sa.bindparam("p_share", type_=sa.Integer)

# The lock every writer of an experiment's trials takes first, then the marker its writes
# carry (read after the lock: the previous holder's commit is included).
_LOCK_EXPERIMENT = (
    sa.select(experiments.c.id).where(experiments.c.id == _EXPERIMENT_ID).with_for_update()
)
_SET_CHANGE_SEQ = sa.text(
    "SET @orionlite_change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials "
    "WHERE experiment_id = :p_experiment_id)"
)

# Its SKIP LOCKED needs MariaDB 10.6 or MySQL 8.
_CANDIDATE = reservation.oldest_reservable(reservation.reservable_now())
_RESERVE = (
    trials.update()
    .where(trials.c.id == _TRIAL_ID, reservation.reservable_now())
    .values(**reservation.reserved_values())
)
_RECORD = sa.select(*RECORD_COLUMNS).where(trials.c.id == _TRIAL_ID)

# What a creation needs to know, read together after the lock: the first share of the
# budget with room (NULL: spent), whether the point exists, and the next number.
_CREATION = sa.select(
    sa.select(budget_shares.c.share)
    .where(budget_shares.c.experiment_id == _EXPERIMENT_ID, budget.room())
    .order_by(budget_shares.c.share)
    .limit(1)
    .scalar_subquery(),
    sa.exists(
        sa.select(trials.c.id).where(
            trials.c.experiment_id == _EXPERIMENT_ID,
            trials.c.params_hash == sa.bindparam("p_params_hash", type_=sa.String),
        )
    ),
    sa.select(sa.func.coalesce(sa.func.max(trials.c.number), 0) + 1)
    .where(trials.c.experiment_id == _EXPERIMENT_ID)
    .scalar_subquery(),
)
_INSERT = trials.insert().values(
    experiment_id=_EXPERIMENT_ID,
    params=sa.bindparam("p_params", type_=trials.c.params.type),
    params_hash=sa.bindparam("p_params_hash", type_=sa.String),
    status=TrialStatus.RESERVED.value,
    attempt=1,
    reserved_by=_WORKER_ID,
    heartbeat_at=db_now(),
    lease_expires_at=db_now() + _LEASE_S,
    created_at=db_now(),
    started_at=db_now(),
    parent_trial_id=sa.bindparam("p_parent_trial_id", type_=sa.Integer),
    change_seq=change_seq(),
    number=sa.bindparam("p_number", type_=sa.Integer),
)
_TAKE_SLOT = (
    budget_shares.update()
    .where(budget_shares.c.experiment_id == _EXPERIMENT_ID, budget_shares.c.share == _SHARE)
    .values(used=budget_shares.c.used + 1)
)
# A broken trial's slot back: from the first share with one in use.
_SHARE_IN_USE = (
    sa.select(budget_shares.c.share)
    .where(budget_shares.c.experiment_id == _EXPERIMENT_ID, budget_shares.c.used > 0)
    .order_by(budget_shares.c.share)
    .limit(1)
)
_GIVE_BACK_SLOT = (
    budget_shares.update()
    .where(budget_shares.c.experiment_id == _EXPERIMENT_ID, budget_shares.c.share == _SHARE)
    .values(used=budget_shares.c.used - 1)
)
_OWNED = reservation.owned()


@functools.lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...]) -> Prepared:
    """The token-guarded end of a reservation, for one set of recorded columns."""
    return Prepared(
        trials.update()
        .where(_OWNED)
        .values(
            status=sa.bindparam("p_status", type_=sa.String),
            lease_expires_at=None,
            ended_at=db_now(),
            change_seq=change_seq(),
            **{name: sa.bindparam(f"v_{name}", type_=trials.c[name].type) for name in columns},
        )
    )


_LOCK = Prepared(_LOCK_EXPERIMENT)
_SET_SEQ = Prepared(_SET_CHANGE_SEQ)
_CANDIDATE_PREPARED = Prepared(_CANDIDATE)
_RESERVE_PREPARED = Prepared(_RESERVE)
_RECORD_PREPARED = Prepared(_RECORD)
_CREATION_PREPARED = Prepared(_CREATION)
_INSERT_PREPARED = Prepared(_INSERT)
_TAKE_SLOT_PREPARED = Prepared(_TAKE_SLOT)
_SHARE_IN_USE_PREPARED = Prepared(_SHARE_IN_USE)
_GIVE_BACK_SLOT_PREPARED = Prepared(_GIVE_BACK_SLOT)


def lock_experiment(connection: sa.Connection, experiment_id: int) -> None:
    """Take the experiment's turn to write trials (held until commit), and set the marker
    its writes carry."""
    parameters = {"p_experiment_id": experiment_id}
    _LOCK.run(connection, parameters)
    _SET_SEQ.run_write(connection, parameters)


def _reserve(
    connection: sa.Connection, experiment_id: int, worker_id: str, lease_s: float
) -> tuple[Any, ...] | None:
    """Under the experiment's lock: reserve its oldest reservable trial, or None."""
    rows = _CANDIDATE_PREPARED.run(connection, {"p_experiment_id": experiment_id})
    if not rows:
        return None
    candidate = rows[0][0]
    parameters = {"p_trial_id": candidate, "p_worker_id": worker_id, "p_lease_s": lease_s}
    if _RESERVE_PREPARED.run_write(connection, parameters)[0] != 1:
        return None
    return _RECORD_PREPARED.run(connection, {"p_trial_id": candidate})[0]


def _finish(
    connection: sa.Connection,
    trial: tuple[int, int, int],
    status: TrialStatus,
    values: dict[str, Any],
) -> bool:
    """Under the experiment's lock: the token-guarded end, and a broken trial's slot."""
    trial_id, attempt, experiment_id = trial
    parameters = {"p_trial_id": trial_id, "p_attempt": attempt, "p_status": status.value}
    parameters.update({f"v_{name}": value for name, value in values.items()})
    statement = _finish_statement(tuple(sorted(values)))
    if statement.run_write(connection, parameters)[0] != 1:
        return False
    if status is TrialStatus.BROKEN:
        experiment = {"p_experiment_id": experiment_id}
        rows = _SHARE_IN_USE_PREPARED.run(connection, experiment)
        if rows:
            _GIVE_BACK_SLOT_PREPARED.run_write(connection, {**experiment, "p_share": rows[0][0]})
    return True


_SCHEMA_LOCK = "orionlite_schema"
_SCHEMA_LOCK_WAIT_S = 60


class MysqlBackend(Backend):
    name = "mysql"
    acquire_is_one_statement = False

    def lock_experiment(self, connection: sa.Connection, experiment_id: int) -> None:
        lock_experiment(connection, experiment_id)

    @contextmanager
    def schema_lock(self, connection: sa.Connection) -> Iterator[None]:
        # A named lock of the session: DDL commits the transaction on MySQL.
        connection.execute(sa.select(sa.func.get_lock(_SCHEMA_LOCK, _SCHEMA_LOCK_WAIT_S)))
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.release_lock(_SCHEMA_LOCK)))

    def insert_unless_taken(
        self, table: sa.Table, values: dict[str, Any], key: list[str]
    ) -> sa.Insert:
        # A taken key raises IntegrityError, which callers expect; MariaDB does not log it.
        return table.insert().values(values)

    def insert_new(self, table: sa.Table, values: dict[str, Any]) -> sa.Insert:
        # No ON CONFLICT DO NOTHING: a duplicate key "updates" a key column to itself.
        insert = mysql.insert(table).values(values)
        key = next(iter(table.primary_key.columns)).name
        return insert.on_duplicate_key_update({key: insert.inserted[key]})

    def reserve(
        self, connection: sa.Connection, experiment_id: int, worker_id: str, lease_s: float
    ) -> tuple[Any, ...] | None:
        lock_experiment(connection, experiment_id)
        return _reserve(connection, experiment_id, worker_id, lease_s)

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        experiment_id = new_trial["p_experiment_id"]
        lock_experiment(connection, experiment_id)
        finished = None
        if finishing is not None:
            trial_id, attempt, values = finishing
            trial = (trial_id, attempt, experiment_id)
            finished = _finish(connection, trial, TrialStatus.COMPLETED, values)
        worker_id, lease_s = new_trial["p_worker_id"], new_trial["p_lease_s"]
        row = _reserve(connection, experiment_id, worker_id, lease_s)
        if row is not None:
            return "reserved", row, finished
        ((share, exists, number),) = _CREATION_PREPARED.run(connection, new_trial)
        if share is None:
            return "budget_spent", None, finished
        if exists:
            return "duplicate", None, finished
        _, trial_id = _INSERT_PREPARED.run_write(connection, {**new_trial, "p_number": number})
        slot = {"p_experiment_id": experiment_id, "p_share": share}
        _TAKE_SLOT_PREPARED.run_write(connection, slot)
        row = _RECORD_PREPARED.run(connection, {"p_trial_id": trial_id})[0]
        return "created", row, finished

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        return False

    def finish(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
    ) -> bool:
        lock_experiment(connection, trial[2])
        return _finish(connection, trial, status, values)

    # -- a reader's watermark: the experiment's next change_seq ----------------------------

    def changed_anywhere(self, connection: sa.Connection, since: str) -> tuple[bool, str]:
        # No database-wide marker: each experiment's is its own MAX + 1. Any write raises
        # its experiment's maximum, so the sum of the maxima and their number move with
        # every change (a deleted experiment changes the number). One read of the
        # (experiment_id, change_seq) index, one entry per experiment.
        highest = (
            sa.select(sa.func.max(trials.c.change_seq).label("seq"))
            .group_by(trials.c.experiment_id)
            .subquery()
        )
        state = sa.select(sa.func.coalesce(sa.func.sum(highest.c.seq), 0), sa.func.count())
        total, experiments_seen = connection.execute(state).one()
        text = f"{int(total)}.{int(experiments_seen)}"
        return text != since, text


MYSQL = MysqlBackend()
