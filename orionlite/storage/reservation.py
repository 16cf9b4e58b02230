"""Every statement that changes who owns a trial. All locking lives here and in
``budget`` (the slots of max_trials that creations take).

A trial is owned through its ``attempt`` (a fencing token): reserving increments it, and
heartbeats, results and releases only apply while the token still matches. A worker that
was presumed dead and comes back therefore finds zero rows to update and learns that it
lost the trial, instead of overwriting the new owner's result.

The statements are built once, with bind parameters, and the ones a worker runs for
every trial are compiled once per dialect and run on the driver (``engine.Prepared``):
building a Core statement and its cache key on every call cost more than running it on
SQLite, and ``Connection.execute`` more than the driver on PostgreSQL (docs/benchmarks.md).
They return the columns of a TrialRecord (``queries.RECORD_COLUMNS``) as tuples.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from orionlite.records import TrialStatus
from orionlite.storage import budget, numbers, queries
from orionlite.storage.engine import Prepared, immediate_transaction
from orionlite.storage.queries import RECORD_COLUMNS
from orionlite.storage.sqlfunctions import change_seq, db_now
from orionlite.storage.tables import UNFINISHED_STATUS_SQL, experiments, trials

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


def _reserve_statement(excluded: sa.ColumnElement[bool] | None = None) -> sa.Update:
    """Reserve the oldest reservable trial in one statement.

    On PostgreSQL the inner ``FOR UPDATE SKIP LOCKED`` lets concurrent workers pass over a
    row another worker is taking instead of queueing behind it. SQLAlchemy leaves the
    clause out on SQLite, where the statement's write lock makes it atomic on its own.
    ``excluded`` keeps a row out of the candidates: the one a statement also finishes.
    """
    reservable = reservable_now() if excluded is None else sa.and_(reservable_now(), excluded)
    candidate = oldest_reservable(reservable).scalar_subquery()
    return trials.update().where(trials.c.id == candidate, reservable).values(**reserved_values())


_RESERVE = _reserve_statement().returning(*RECORD_COLUMNS)
_RESERVE_PREPARED = Prepared(_RESERVE)

_CLAIM_BUDGET_SQLITE = Prepared(budget.take_slot().returning(experiments.c.id))
_GIVE_BACK_BUDGET_SQLITE = Prepared(budget.give_back_slot())

# The values of a new trial, reserved by its creator.
_NEW_TRIAL: dict[str, Any] = {
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

# ``ON CONFLICT DO NOTHING`` on the unique (experiment, params hash) constraint turns a
# race between two workers proposing the same point into a quiet miss for one of them.
_INSERT_RESERVED_SQLITE = Prepared(
    sqlite.insert(trials)
    .values(dict(_NEW_TRIAL, number=numbers.next_number_sqlite(_EXPERIMENT_ID)))
    .on_conflict_do_nothing(index_elements=["experiment_id", "params_hash"])
    .returning(*RECORD_COLUMNS)
)


def _select_column(name: str, value: Any) -> sa.ColumnElement[Any]:
    """A value of the new trial as a SELECT list item, typed like its column.

    Parameters in a SELECT list get no type from the INSERT's target column; SQLAlchemy's
    psycopg dialect renders a typed bind parameter with a cast (``%(x)s::INTEGER``).
    """
    if isinstance(value, sa.ColumnElement):
        return value
    return sa.literal(value, trials.c[name].type)


@functools.lru_cache(maxsize=64)
def _acquire_postgresql(finished_columns: tuple[str, ...] | None) -> Prepared:
    """Reserve a waiting trial, else create the proposed one within budget: one statement.

    ``reserved``: the reservation above, as a CTE. ``slot``: the experiment's budget
    row, locked, only if nothing was reserved and a slot is left (``budget.locked_room``:
    the room is checked again after waiting for another creation, so two workers can never
    both take the last slot). ``created``: the insert, ``ON CONFLICT
    DO NOTHING`` so that parameters another worker just created give an empty result
    instead of an error. ``claimed``: the slot counted, only for a row actually inserted,
    so a duplicate costs no budget and needs no rollback.

    With ``finished_columns``, ``done`` also records the worker's previous trial (a
    completed one: no budget to give back) with these columns, and the second column,
    ``finished``, says whether its token still matched. That trial is kept out of the
    candidates, as no statement may change one row twice.

    The result has one row whose ``outcome`` is ``reserved``, ``created`` or
    ``duplicate`` (columns null), or no row when the budget is spent.
    """
    done = None if finished_columns is None else _finish_update(finished_columns).cte("done")
    excluded = None if done is None else trials.c.id != _TRIAL_ID
    reserved = _reserve_statement(excluded).returning(*RECORD_COLUMNS).cte("reserved")
    slot = budget.locked_room(~sa.exists(sa.select(reserved.c.id))).cte("slot")
    # Drawn only for a row of ``slot``: no number is used when the budget is spent.
    number = numbers.next_number_postgresql(_EXPERIMENT_ID, _NEW_TRIAL["params_hash"])
    values = dict(_NEW_TRIAL, experiment_id=slot.c.id, number=number)
    # ``number``: see storage.numbers (a sequence per experiment, so no creation waits).
    created = (
        postgresql.insert(trials)
        .from_select(
            list(values),
            sa.select(*(_select_column(name, value) for name, value in values.items())),
        )
        .on_conflict_do_nothing(index_elements=["experiment_id", "params_hash"])
        .returning(*RECORD_COLUMNS)
        .cte("created")
    )
    claimed = budget.take_slot(sa.exists(sa.select(created.c.id))).cte("claimed")
    outcome = sa.case((created.c.id.is_(None), "duplicate"), else_="created")
    finished: list[sa.ColumnElement[Any]] = []
    if done is not None:
        count = sa.select(sa.func.count()).select_from(done).scalar_subquery()
        finished.append(count.label("finished"))
    return Prepared(
        sa.union_all(
            sa.select(sa.literal("reserved").label("outcome"), *finished, *reserved.c),
            sa.select(outcome.label("outcome"), *finished, *created.c).select_from(
                slot.outerjoin(created, sa.true())
            ),
        ).add_cte(claimed)
    )


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
    rows = _RESERVE_PREPARED.run(connection, parameters)
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


def acquire_postgresql(
    connection: sa.Connection,
    new_trial: dict[str, Any],
    finishing: tuple[int, int, dict[str, Any]] | None = None,
) -> tuple[str, tuple[Any, ...] | None, bool | None]:
    """(outcome, row, finished): the outcome is ``reserved``, ``created``, ``duplicate`` or
    ``budget_spent``.

    One statement, hence one round trip and one commit when run outside a transaction
    (see :func:`_acquire_postgresql`). ``finishing``, (id, attempt, values) of the
    worker's completed previous trial, is recorded in it; ``finished`` says whether its
    token matched, or is None when there was none or the budget was spent (no row to
    tell). SQLite has no data-modifying CTEs: there the same steps run one by one inside
    ``BEGIN IMMEDIATE`` (see :func:`acquire_sqlite`).
    """
    parameters = new_trial
    columns = None
    if finishing is not None:
        columns, finish_parameters = _completing(finishing)
        parameters = new_trial | finish_parameters
    rows = _acquire_postgresql(columns).run(connection, parameters)
    if not rows:
        return "budget_spent", None, None
    outcome: str = rows[0][0]
    finished = None if finishing is None else rows[0][1] > 0
    row = rows[0][1 if finishing is None else 2 :]
    return outcome, (row if outcome != "duplicate" else None), finished


def acquire_sqlite(
    connection: sa.Connection,
    new_trial: dict[str, Any],
    finishing: tuple[int, int, dict[str, Any]] | None = None,
) -> tuple[str, tuple[Any, ...] | None, bool | None]:
    """:func:`acquire_postgresql` for SQLite, which has no data-modifying CTEs: the same
    steps one by one, in one write transaction (one lock, one commit).

    Every statement is bound before ``BEGIN IMMEDIATE``: with 8 workers the write lock is
    the bottleneck, and only the statements themselves run while it is held (see
    ``engine.immediate_transaction``). The slot claimed for a duplicate is given back in
    the same transaction, not by a rollback, which would drop the recorded result.
    """
    experiment = {"p_experiment_id": new_trial["p_experiment_id"]}
    finish = None
    if finishing is not None:
        columns, parameters = _completing(finishing)
        finish = _finish_statement(columns, False, "sqlite").bind(connection, parameters)
    reserve = _RESERVE_PREPARED.bind(connection, new_trial)
    claim = _CLAIM_BUDGET_SQLITE.bind(connection, experiment)
    insert = _INSERT_RESERVED_SQLITE.bind(connection, new_trial)
    with immediate_transaction(connection):
        finished = None if finish is None else bool(finish.run(connection))
        rows = reserve.run(connection)
        if rows:
            return "reserved", rows[0], finished
        if not claim.run(connection):
            return "budget_spent", None, finished
        rows = insert.run(connection)
        if rows:
            return "created", rows[0], finished
        _GIVE_BACK_BUDGET_SQLITE.run(connection, experiment)
        return "duplicate", None, finished


def extend_lease(connection: sa.Connection, trial_id: int, attempt: int, lease_s: float) -> bool:
    """Heartbeat. Deliberately leaves ``change_seq`` alone: a heartbeat changes nothing
    readers of the history care about."""
    parameters = {"p_trial_id": trial_id, "p_attempt": attempt, "p_lease_s": lease_s}
    return connection.execute(_EXTEND_LEASE, parameters).rowcount == 1


def _finish_update(columns: tuple[str, ...]) -> sa.Update:
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
        .returning(trials.c.experiment_id)
    )


def _finish_parameters(
    trial_id: int, attempt: int, status: TrialStatus, values: dict[str, Any]
) -> dict[str, Any]:
    """The bind parameters of :func:`_finish_update` (its columns: ``sorted(values)``)."""
    parameters = {"p_trial_id": trial_id, "p_attempt": attempt, "p_status": status.value}
    parameters.update({f"v_{name}": value for name, value in values.items()})
    return parameters


def _completing(
    finishing: tuple[int, int, dict[str, Any]],
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The recorded columns and bind parameters of an acquisition's ``finishing``: the
    worker's previous trial, completed."""
    trial_id, attempt, values = finishing
    return tuple(sorted(values)), _finish_parameters(
        trial_id, attempt, TrialStatus.COMPLETED, values
    )


def _freed(done: sa.CTE) -> sa.CTE:
    """A broken trial no longer counts against max_trials: its slot is given back."""
    experiment_id = sa.select(done.c.experiment_id).scalar_subquery()
    return budget.give_back_slot(experiment_id).cte("freed")


@functools.lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...], free_budget: bool, dialect: str) -> Prepared:
    """The end of a reservation. With ``free_budget`` PostgreSQL gives the slot back in
    the same statement through a data-modifying CTE; SQLite runs
    :data:`_GIVE_BACK_BUDGET_SQLITE` next, in the same transaction."""
    update = _finish_update(columns)
    if not (free_budget and dialect == "postgresql"):
        return Prepared(update)
    done = update.cte("done")
    return Prepared(sa.select(done.c.experiment_id).add_cte(_freed(done)))


@functools.lru_cache(maxsize=64)
def _finish_and_read_postgresql(columns: tuple[str, ...], free_budget: bool) -> Prepared:
    """The end of a reservation and the history's changes, in one statement.

    The read runs on the statement's snapshot, which does not include the statement's
    own update: the caller knows what it wrote, and the row comes with the next read
    (its change_seq, this transaction's id, is above the snapshot's xmax).
    """
    done = _finish_update(columns).cte("done")
    finished = sa.select(sa.func.count()).select_from(done).scalar_subquery()
    statement = queries.changed_trials_statement("postgresql", finished.label("finished"))
    if free_budget:
        statement = statement.add_cte(_freed(done))
    return Prepared(statement, plan_per_call=True)


def finish(
    connection: sa.Connection,
    trial_id: int,
    attempt: int,
    status: TrialStatus,
    values: dict[str, Any],
) -> bool:
    """Record the end of a reservation; False if the token no longer matches."""
    dialect = connection.dialect.name
    broken = status is TrialStatus.BROKEN
    statement = _finish_statement(tuple(sorted(values)), broken, dialect)
    rows = statement.run(connection, _finish_parameters(trial_id, attempt, status, values))
    if not rows:
        return False
    if broken and dialect != "postgresql":
        _GIVE_BACK_BUDGET_SQLITE.run(connection, {"p_experiment_id": rows[0][0]})
    return True


def finish_and_read_postgresql(
    connection: sa.Connection,
    trial: tuple[int, int, int],
    status: TrialStatus,
    values: dict[str, Any],
    since: queries.Watermark,
) -> tuple[bool, list[Any], queries.Watermark]:
    """:func:`finish` and ``queries.select_changed_trials`` in one round trip:
    (finished, changed trials, next watermark). ``trial`` is (id, attempt, experiment id).
    """
    trial_id, attempt, experiment_id = trial
    broken = status is TrialStatus.BROKEN
    statement = _finish_and_read_postgresql(tuple(sorted(values)), broken)
    parameters = queries.changed_trials_parameters("postgresql", experiment_id, since)
    parameters.update(_finish_parameters(trial_id, attempt, status, values))
    rows = statement.run(connection, parameters)
    changed, watermark = queries.changes_from_rows("postgresql", rows, skip=1)
    return rows[0][0] > 0, changed, watermark
