"""SQLite: one write lock for the whole database serialises writers (``BEGIN IMMEDIATE``),
so its statements take the first row that qualifies, and a unit of work that needs
several statements runs them one by one under that lock. Every statement of the worker's
hot path that is SQLite's own is here; the shared ones are in ``reservation``."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from orionlite.records import TrialStatus
from orionlite.storage import budget, numbers, reservation
from orionlite.storage.backends.base import Acquired, Backend, Finishing
from orionlite.storage.engine import Prepared, immediate_transaction
from orionlite.storage.queries import RECORD_COLUMNS
from orionlite.storage.sqlfunctions import change_seq, db_now, read_horizon, read_in_progress, spell
from orionlite.storage.tables import experiments, trials

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)

_TAKE_SLOT = Prepared(budget.take_slot().returning(experiments.c.id))
_GIVE_BACK_SLOT = Prepared(budget.give_back_slot())

# ``ON CONFLICT DO NOTHING`` on the unique (experiment, params hash) constraint turns a
# point the experiment already holds into a quiet miss.
_INSERT_RESERVED = Prepared(
    sqlite.insert(trials)
    .values(dict(reservation.NEW_TRIAL, number=numbers.next_number_sqlite(_EXPERIMENT_ID)))
    .on_conflict_do_nothing(index_elements=["experiment_id", "params_hash"])
    .returning(*RECORD_COLUMNS)
)


@functools.lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...]) -> Prepared:
    """The token-guarded end of a reservation: a row when the token matched."""
    return Prepared(reservation.finish_update(columns).returning(trials.c.id))


class SqliteBackend(Backend):
    name = "sqlite"

    def is_sqlite(self) -> bool:
        return True

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        """The steps of PostgreSQL's one statement, one by one in one write transaction
        (one lock, one commit).

        Every statement is bound before ``BEGIN IMMEDIATE``: with 8 workers the write lock
        is the bottleneck, and only the statements themselves run while it is held (see
        ``engine.immediate_transaction``). The slot taken for a duplicate is given back in
        the same transaction, not by a rollback, which would drop the recorded result.
        """
        experiment = {"p_experiment_id": new_trial["p_experiment_id"]}
        finish = None
        if finishing is not None:
            columns, parameters = reservation.completing(finishing)
            finish = _finish_statement(columns).bind(connection, parameters)
        reserve = reservation.RESERVE.bind(connection, new_trial)
        take_slot = _TAKE_SLOT.bind(connection, experiment)
        insert = _INSERT_RESERVED.bind(connection, new_trial)
        with immediate_transaction(connection):
            finished = None if finish is None else bool(finish.run(connection))
            rows = reserve.run(connection)
            if rows:
                return "reserved", rows[0], finished
            if not take_slot.run(connection):
                return "budget_spent", None, finished
            rows = insert.run(connection)
            if rows:
                return "created", rows[0], finished
            _GIVE_BACK_SLOT.run(connection, experiment)
            return "duplicate", None, finished

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        # A broken trial also gives its budget slot back: a second statement.
        return status is not TrialStatus.BROKEN

    def finish(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
    ) -> bool:
        trial_id, attempt, experiment_id = trial
        statement = _finish_statement(tuple(sorted(values)))
        parameters = reservation.finish_parameters(trial_id, attempt, status, values)
        if not statement.run(connection, parameters):
            return False
        if status is TrialStatus.BROKEN:
            _GIVE_BACK_SLOT.run(connection, {"p_experiment_id": experiment_id})
        return True


# How SQLite writes sqlfunctions' expressions: markers are MAX + 1 under the write lock.
spell(
    ("sqlite",),
    {
        db_now: "((julianday('now') - 2440587.5) * 86400.0)",
        change_seq: "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials)",
        read_horizon: "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials)",
        read_in_progress: "NULL",
    },
)


SQLITE = SqliteBackend()
