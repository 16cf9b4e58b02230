"""MySQL and MariaDB: every statement of the worker's hot path, in one place.

Neither has ``UPDATE ... RETURNING`` (MySQL has no RETURNING at all) nor data-modifying
CTEs, and neither shows a reader its snapshot. So each unit of work is a short READ
COMMITTED transaction of plain statements, and the writers of one experiment's trials take
turns on the experiment's row (:func:`lock_experiment`). Taking turns is what makes
``change_seq`` exact (``sqlfunctions.change_seq``), and with it the per-experiment trial
number (``MAX + 1``) and the budget (``experiments.budget_used``): each is read after the
lock, so it includes the previous holder's committed writes. No sequence is used, so
MySQL 8 needs nothing that MariaDB has and it lacks (docs/mysql.md).

The worker's units of work (reserve, acquire, finish) are each one script, sent in one
round trip from ``START TRANSACTION`` to ``COMMIT`` (``engine.Script``): the turn is held
only while the server runs it, never across a round trip to the worker. Decisions inside
a script are session variables (``@orionlite_*``) set by one statement and read by the
next. Connection settings and error codes are in ``storage.mysql_session``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles

from orionlite.records import TrialStatus
from orionlite.storage import budget, reservation
from orionlite.storage.backends.base import Acquired, Backend, Finishing
from orionlite.storage.engine import Prepared, Script
from orionlite.storage.queries import RECORD_COLUMNS
from orionlite.storage.sqlfunctions import (
    change_seq,
    db_now,
    nulls_last,
    read_horizon,
    read_in_progress,
    spell,
)
from orionlite.storage.tables import experiments, trials

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)
_WORKER_ID = sa.bindparam("p_worker_id", type_=sa.String)
_LEASE_S = sa.bindparam("p_lease_s", type_=sa.Float)
_PARAMS_HASH = sa.bindparam("p_params_hash", type_=sa.String)


class _SetVariables(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``SET @orionlite_name = (expression), ...``: a value that later statements of the
    same script read (:func:`_variable`)."""

    inherit_cache = False

    def __init__(self, **values: sa.ColumnElement[Any]) -> None:
        self.values = values


@compiles(_SetVariables, "mysql")
@compiles(_SetVariables, "mariadb")
def _set_variables(element: _SetVariables, compiler: Any, **kw: Any) -> str:
    assignments = (
        f"@orionlite_{name} = ({compiler.process(value, **kw)})"
        for name, value in element.values.items()
    )
    return "SET " + ", ".join(assignments)


def _variable(name: str) -> sa.ColumnElement[Any]:
    return sa.literal_column(f"@orionlite_{name}")


def _is(name: str, value: int) -> sa.ColumnElement[bool]:
    """``@orionlite_name = value``, written out: a bound parameter would be named after
    the variable, which is no valid placeholder name."""
    return sa.literal_column(f"@orionlite_{name} = {int(value)}", sa.Boolean)


_BEGIN = sa.text("START TRANSACTION")
_COMMIT = sa.text("COMMIT")

# The lock every writer of an experiment's trials takes first, then the marker its writes
# carry (read after the lock: the previous holder's commit is included).
_LOCK_EXPERIMENT = (
    sa.select(experiments.c.id).where(experiments.c.id == _EXPERIMENT_ID).with_for_update()
)
_SET_CHANGE_SEQ = _SetVariables(
    change_seq=sa.select(sa.func.coalesce(sa.func.max(trials.c.change_seq), 0) + 1)
    .where(trials.c.experiment_id == _EXPERIMENT_ID)
    .scalar_subquery()
)

# The oldest reservable trial, locked (its SKIP LOCKED needs MariaDB 10.6 or MySQL 8),
# then reserved; ``reserved`` says whether it was.
_RESERVE = (
    _SetVariables(
        candidate=reservation.oldest_reservable(reservation.reservable_now()).scalar_subquery()
    ),
    trials.update()
    .where(trials.c.id == _variable("candidate"), reservation.reservable_now())
    .values(**reservation.reserved_values()),
    _SetVariables(reserved=sa.func.row_count()),
)

_NEW_TRIAL = {
    name: value if isinstance(value, sa.ColumnElement) else sa.literal(value)
    for name, value in dict(reservation.NEW_TRIAL, number=_variable("number")).items()
}

# A creation, only if nothing was reserved: whether the budget has a slot left, whether the
# point exists, and the next number; then the insert, counted in the budget if it happened.
_CREATE = (
    _SetVariables(
        room=budget.has_room(_EXPERIMENT_ID),
        duplicate=sa.exists(
            sa.select(trials.c.id).where(
                trials.c.experiment_id == _EXPERIMENT_ID, trials.c.params_hash == _PARAMS_HASH
            )
        ),
        number=sa.select(sa.func.coalesce(sa.func.max(trials.c.number), 0) + 1)
        .where(trials.c.experiment_id == _EXPERIMENT_ID)
        .scalar_subquery(),
    ),
    trials.insert().from_select(
        list(_NEW_TRIAL),
        sa.select(*_NEW_TRIAL.values()).where(
            _is("reserved", 0), _is("room", 1), _is("duplicate", 0)
        ),
    ),
    _SetVariables(created=sa.func.row_count()),
    _SetVariables(new_id=sa.case((_is("created", 1), sa.func.last_insert_id()), else_=None)),
    budget.take_slot(_is("created", 1)),
)


def _record(which: sa.ColumnElement[Any], *leading: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """``leading`` and the RECORD_COLUMNS of trial ``which`` (nulls for none): one row."""
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    return sa.select(*leading, *RECORD_COLUMNS).select_from(
        one.outerjoin(trials, trials.c.id == which)
    )


_OUTCOME = sa.case(
    (_is("reserved", 1), "reserved"),
    (_is("created", 1), "created"),
    (_is("room", 0), "budget_spent"),
    else_="duplicate",
)
_RESERVED_OR_CREATED = sa.case(
    (_is("reserved", 1), _variable("candidate")), else_=_variable("new_id")
)
_RESERVE_SCRIPT = Script(
    _BEGIN,
    _LOCK_EXPERIMENT,
    _SET_CHANGE_SEQ,
    *_RESERVE,
    _record(sa.case((_is("reserved", 1), _variable("candidate")), else_=None)),
    _COMMIT,
)


@functools.lru_cache(maxsize=64)
def _acquire_script(finished_columns: tuple[str, ...] | None) -> Script:
    """Record the worker's previous trial (with ``finished_columns``), then reserve a
    waiting trial or create the proposed one: (outcome, [finished], RECORD_COLUMNS)."""
    finish: tuple[sa.ClauseElement, ...] = ()
    finished: tuple[sa.ColumnElement[Any], ...] = ()
    if finished_columns is not None:
        finish = (
            reservation.finish_update(finished_columns),
            _SetVariables(finished=sa.func.row_count()),
        )
        finished = (_variable("finished"),)
    return Script(
        _BEGIN,
        _LOCK_EXPERIMENT,
        _SET_CHANGE_SEQ,
        *finish,
        *_RESERVE,
        *_CREATE,
        _record(_RESERVED_OR_CREATED, _OUTCOME, *finished),
        _COMMIT,
    )


@functools.lru_cache(maxsize=64)
def _finish_script(columns: tuple[str, ...], broken: bool) -> Script:
    """The end of a reservation, and a broken trial's slot back: (finished,)."""
    give_back = (budget.give_back_slot(_EXPERIMENT_ID, _is("finished", 1)),)
    return Script(
        _BEGIN,
        _LOCK_EXPERIMENT,
        _SET_CHANGE_SEQ,
        reservation.finish_update(columns),
        _SetVariables(finished=sa.func.row_count()),
        *(give_back if broken else ()),
        sa.select(_variable("finished")),
        _COMMIT,
    )


_LOCK = Prepared(_LOCK_EXPERIMENT)
_SET_SEQ = Prepared(_SET_CHANGE_SEQ)


def lock_experiment(connection: sa.Connection, experiment_id: int) -> None:
    """Take the experiment's turn to write trials (held until commit), and set the marker
    its writes carry: for the writers that run inside a transaction of their own
    (requeue, insert, a branch's copied trials)."""
    parameters = {"p_experiment_id": experiment_id}
    _LOCK.run(connection, parameters)
    _SET_SEQ.run_write(connection, parameters)


_SCHEMA_LOCK = "orionlite_schema"
_SCHEMA_LOCK_WAIT_S = 60


class MysqlBackend(Backend):
    name = "mysql"

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
        parameters = {
            "p_experiment_id": experiment_id,
            "p_worker_id": worker_id,
            "p_lease_s": lease_s,
        }
        row = _RESERVE_SCRIPT.run(connection, parameters)[0]
        return row if row[0] is not None else None

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        parameters = new_trial
        columns = None
        if finishing is not None:
            trial_id, attempt, values = finishing
            columns = tuple(sorted(values))
            parameters = new_trial | reservation.finish_parameters(
                trial_id, attempt, TrialStatus.COMPLETED, values
            )
        ((outcome, *rest),) = _acquire_script(columns).run(connection, parameters)
        finished = None if finishing is None else rest.pop(0) == 1
        row = tuple(rest) if outcome in ("reserved", "created") else None
        return outcome, row, finished

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        return True  # one script, which is its own transaction

    def finish(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
    ) -> bool:
        trial_id, attempt, experiment_id = trial
        parameters = reservation.finish_parameters(trial_id, attempt, status, values)
        parameters["p_experiment_id"] = experiment_id
        script = _finish_script(tuple(sorted(values)), status is TrialStatus.BROKEN)
        return bool(script.run(connection, parameters)[0][0] == 1)

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


def _read_horizon(element: read_horizon, compiler: Any, **kw: Any) -> str:
    (experiment_id,) = element.clauses
    return (
        "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials "
        f"WHERE experiment_id = {compiler.process(experiment_id, **kw)})"
    )


def _nulls_last(element: nulls_last, compiler: Any, **kw: Any) -> str:
    # No NULLS LAST: "IS NULL" (0 for values, 1 for NULL) sorts first.
    (ordered,) = element.clauses
    column = compiler.process(ordered.element, **kw)
    return f"{column} IS NULL, {compiler.process(ordered, **kw)}"


# How MySQL writes sqlfunctions' expressions. UTC_TIMESTAMP is read as UTC (sessions run
# in UTC, mysql_session); "+ 0e0" makes it a DOUBLE. The marker is the session variable
# its writers set in their turn (lock_experiment).
spell(
    ("mysql", "mariadb"),
    {
        db_now: "(UNIX_TIMESTAMP(UTC_TIMESTAMP(6)) + 0e0)",
        change_seq: "@orionlite_change_seq",
        read_horizon: _read_horizon,
        read_in_progress: "NULL",
        nulls_last: _nulls_last,
    },
)


MYSQL = MysqlBackend()
