"""Per-experiment trial numbers (1, 2, 3, ... in creation order, like Optuna's
``number``): ``trial 7 of 'mnist'`` reads better than the database-wide id.

A number is assigned in the statement that creates the trial, and a unique index on
(experiment, number) backs it. SQLite's single write lock makes ``MAX(number) + 1``
exact. On PostgreSQL creations commit concurrently, and a creation must never wait for
another's commit (tests/storage/test_budget.py): a counter row locked until commit would
queue them all. So each experiment has a sequence of its own, ``orionlite_trial_number_<id>``,
whose ``nextval`` neither waits nor rolls back. A point the experiment already holds
takes no number (it is checked in the same statement); only two workers creating the same
point at the same instant can leave a number unused (docs/decisions/0020-trial-numbers.md).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from orionlite.storage.tables import trials

SEQUENCE_PREFIX = "orionlite_trial_number_"


def next_number_sqlite(experiment_id: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """SQLite: the next number of the experiment, under the write lock."""
    return (
        sa.select(sa.func.coalesce(sa.func.max(trials.c.number), 0) + 1)
        .where(trials.c.experiment_id == experiment_id)
        .scalar_subquery()
    )


def next_number_postgresql(
    experiment_id: sa.ColumnElement[Any], params_hash: sa.ColumnElement[Any]
) -> sa.ColumnElement[Any]:
    """PostgreSQL: the experiment's next number, or 0 for a point it already holds (the
    insert then does nothing: the unique parameters are its conflict target)."""
    held = sa.exists(
        sa.select(trials.c.id).where(
            trials.c.experiment_id == experiment_id, trials.c.params_hash == params_hash
        )
    )
    regclass = sa.func.to_regclass(
        sa.literal(SEQUENCE_PREFIX, sa.Text) + sa.cast(experiment_id, sa.Text)
    )
    return sa.case((held, 0), else_=sa.func.nextval(regclass)).cast(sa.Integer)


def take_numbers(connection: sa.Connection, experiment_id: int, count: int) -> int:
    """The first of ``count`` numbers for trials inserted by hand (requeue keeps its)."""
    if connection.dialect.name == "postgresql":
        first = None
        for _ in range(count):
            value = connection.execute(
                sa.text("SELECT nextval(to_regclass(:name))"),
                {"name": SEQUENCE_PREFIX + str(experiment_id)},
            ).scalar_one()
            first = value if first is None else first
        assert first is not None
        return int(first)
    first_free = connection.execute(sa.select(next_number_sqlite(sa.literal(experiment_id))))
    return int(first_free.scalar_one())


def create_sequence(connection: sa.Connection, experiment_id: int, last_number: int) -> None:
    """PostgreSQL: the new experiment's sequence, going on after ``last_number``."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text(
                f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE_PREFIX}{int(experiment_id)} "
                f"MINVALUE 1 START {int(last_number) + 1}"
            )
        )


def drop_sequences(connection: sa.Connection, experiment_ids: list[int]) -> None:
    if connection.dialect.name == "postgresql":
        for experiment_id in experiment_ids:
            connection.execute(
                sa.text(f"DROP SEQUENCE IF EXISTS {SEQUENCE_PREFIX}{int(experiment_id)}")
            )
