"""PostgreSQL: row locks with ``SKIP LOCKED``, and data-modifying CTEs that make each unit
of the worker's hot path one statement. Every statement of the hot path that is
PostgreSQL's own is here; the shared ones are in ``reservation``."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from orionlite.records import TrialStatus
from orionlite.storage import budget, numbers, queries, reservation
from orionlite.storage.backends.base import Acquired, Backend, Finishing
from orionlite.storage.engine import Prepared
from orionlite.storage.numbers import SEQUENCE_PREFIX
from orionlite.storage.queries import RECORD_COLUMNS, Watermark
from orionlite.storage.sqlfunctions import change_seq, db_now, read_horizon, read_in_progress, spell
from orionlite.storage.tables import trials

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)
_TRIAL_ID = sa.bindparam("p_trial_id", type_=sa.Integer)

# "orion": the advisory lock, held to the end of the transaction, that serialises creations
# and upgrades of the schema.
_SCHEMA_LOCK_KEY = 0x6F72696F6E


def _finish_update(columns: tuple[str, ...]) -> sa.Update:
    return reservation.finish_update(columns).returning(trials.c.experiment_id)


def _select_column(name: str, value: Any) -> sa.ColumnElement[Any]:
    """A value of the new trial as a SELECT list item, typed like its column.

    Parameters in a SELECT list get no type from the INSERT's target column; SQLAlchemy's
    psycopg dialect renders a typed bind parameter with a cast (``%(x)s::INTEGER``).
    """
    if isinstance(value, sa.ColumnElement):
        return value
    return sa.literal(value, trials.c[name].type)


@functools.lru_cache(maxsize=64)
def _acquire_statement(finished_columns: tuple[str, ...] | None) -> Prepared:
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
    reserved = reservation.reserve_statement(excluded).returning(*RECORD_COLUMNS).cte("reserved")
    slot = budget.locked_room(~sa.exists(sa.select(reserved.c.id))).cte("slot")
    # Drawn only for a row of ``slot``: no number is used when the budget is spent.
    number = numbers.next_number_postgresql(_EXPERIMENT_ID, reservation.NEW_TRIAL["params_hash"])
    values = dict(reservation.NEW_TRIAL, experiment_id=slot.c.id, number=number)
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


def _freed(done: sa.CTE) -> sa.CTE:
    """A broken trial no longer counts against max_trials: its slot is given back."""
    experiment_id = sa.select(done.c.experiment_id).scalar_subquery()
    return budget.give_back_slot(experiment_id).cte("freed")


@functools.lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...], broken: bool) -> Prepared:
    """The end of a reservation; a broken trial's slot is given back by a data-modifying
    CTE of the same statement."""
    update = _finish_update(columns)
    if not broken:
        return Prepared(update)
    done = update.cte("done")
    return Prepared(sa.select(done.c.experiment_id).add_cte(_freed(done)))


@functools.lru_cache(maxsize=64)
def _finish_and_read_statement(columns: tuple[str, ...], free_budget: bool) -> Prepared:
    """The end of a reservation and the history's changes, in one statement.

    The read runs on the statement's snapshot, which does not include the statement's
    own update: the caller knows what it wrote, and the row comes with the next read
    (its change_seq, this transaction's id, is above the snapshot's xmax).
    """
    done = _finish_update(columns).cte("done")
    finished = sa.select(sa.func.count()).select_from(done).scalar_subquery()
    statement = queries.changed_trials_statement(POSTGRESQL, finished.label("finished"))
    if free_budget:
        statement = statement.add_cte(_freed(done))
    return Prepared(statement, plan_per_call=True)


class PostgresqlBackend(Backend):
    name = "postgresql"
    finishes_and_reads = True

    def experiment_created(self, connection: sa.Connection, experiment_id: int, used: int) -> None:
        # The experiment's trial numbers: a sequence of its own, exact whatever the
        # acquisition's snapshot (storage.numbers).
        connection.execute(
            sa.text(
                f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE_PREFIX}{int(experiment_id)} "
                f"MINVALUE 1 START {int(used) + 1}"
            )
        )

    def experiments_deleted(self, connection: sa.Connection, experiment_ids: list[int]) -> None:
        for experiment_id in experiment_ids:
            connection.execute(
                sa.text(f"DROP SEQUENCE IF EXISTS {SEQUENCE_PREFIX}{int(experiment_id)}")
            )

    @contextmanager
    def schema_lock(self, connection: sa.Connection) -> Iterator[None]:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        yield

    def insert_unless_taken(
        self, table: sa.Table, values: dict[str, Any], key: list[str]
    ) -> sa.Insert:
        return postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=key)

    def take_number(self, connection: sa.Connection, experiment_id: int) -> int:
        return int(
            connection.execute(
                sa.text("SELECT nextval(to_regclass(:name))"),
                {"name": SEQUENCE_PREFIX + str(experiment_id)},
            ).scalar_one()
        )

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        """(outcome, row, finished) from one statement, hence one round trip and one commit
        (see :func:`_acquire_statement`). ``finished`` is None when there was nothing to
        record or the budget was spent (no row to tell)."""
        parameters = new_trial
        columns = None
        if finishing is not None:
            columns, finish_parameters = reservation.completing(finishing)
            parameters = new_trial | finish_parameters
        rows = _acquire_statement(columns).run(connection, parameters)
        if not rows:
            return "budget_spent", None, None
        outcome: str = rows[0][0]
        finished = None if finishing is None else rows[0][1] > 0
        row = rows[0][1 if finishing is None else 2 :]
        return outcome, (row if outcome != "duplicate" else None), finished

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        return True  # a broken trial's slot is given back by a CTE of the same statement

    def finish(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
    ) -> bool:
        trial_id, attempt, _ = trial
        statement = _finish_statement(tuple(sorted(values)), status is TrialStatus.BROKEN)
        parameters = reservation.finish_parameters(trial_id, attempt, status, values)
        return bool(statement.run(connection, parameters))

    def finish_and_read(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
        since: Any,
    ) -> tuple[bool, list[Any], Any]:
        trial_id, attempt, experiment_id = trial
        statement = _finish_and_read_statement(tuple(sorted(values)), status is TrialStatus.BROKEN)
        parameters = queries.changed_trials_parameters(self, experiment_id, since)
        parameters.update(reservation.finish_parameters(trial_id, attempt, status, values))
        rows = statement.run(connection, parameters)
        changed, watermark = queries.changes_from_rows(self, rows, skip=1)
        return rows[0][0] > 0, changed, watermark

    # -- a reader's watermark: its snapshot's xmax and in-progress transactions ------------

    def reader_watermark(self, horizon: Any, in_progress: Any) -> Watermark:
        return int(horizon), tuple(int(xid) for xid in in_progress or ())

    def watermark_clause(self) -> sa.ColumnElement[bool]:
        # At or above the snapshot's xmax, or written by a transaction it could not see.
        unseen = sa.bindparam("unseen", type_=postgresql.ARRAY(sa.BigInteger()))
        return sa.or_(super().watermark_clause(), trials.c.change_seq == sa.any_(unseen))

    def watermark_parameters(self, since: Watermark) -> dict[str, Any]:
        since_xmax, unseen = since if isinstance(since, tuple) else (since, ())
        return {"since": since_xmax, "unseen": list(unseen)}

    def watermark_text(self, mark: Watermark) -> str:
        horizon, in_progress = mark if isinstance(mark, tuple) else (mark, ())
        return ".".join(str(value) for value in (horizon, *in_progress))

    def watermark_from_text(self, text: str) -> Watermark:
        values = self.watermark_numbers(text)
        return (values[0], tuple(values[1:])) if values else 0


# How PostgreSQL writes sqlfunctions' expressions. Short spellings on purpose: statements
# are repeated in the hot path, and psycopg caches its parsing of a statement only up to
# 4096 characters.
spell(
    ("postgresql",),
    {
        db_now: "extract(epoch from clock_timestamp())::float8",
        change_seq: "pg_current_xact_id()::text::int8",
        read_horizon: "pg_snapshot_xmax(pg_current_snapshot())::text::int8",
        read_in_progress: (
            "ARRAY(SELECT x::text::int8 FROM pg_snapshot_xip(pg_current_snapshot()) AS x)"
        ),
    },
)


POSTGRESQL = PostgresqlBackend()
