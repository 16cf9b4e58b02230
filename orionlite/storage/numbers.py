"""Per-experiment trial numbers (1, 2, 3, ... in creation order, like Optuna's
``number``): ``trial 7 of 'mnist'`` reads better than the database-wide id.

A number is assigned in the statement that creates the trial, and a unique index on
(experiment, number) backs it. SQLite's single write lock makes ``MAX(number) + 1``
exact. On PostgreSQL the acquisition is one statement, whose snapshot is taken before it
waits for the budget row (``budget``), so ``MAX + 1`` there could repeat the number of a
creation that committed meanwhile. So each experiment has a sequence of its own,
``orionlite_trial_number_<id>``, whose ``nextval`` is exact whatever the snapshot. A
point the experiment already holds takes no number (it is checked in the same
statement); only two workers creating the same point at the same instant can leave a
number unused (docs/decisions/0020-trial-numbers.md).
MySQL's writers of an experiment take turns, so there ``MAX + 1`` is exact too.

The expressions for the acquisition are here; the sequences' own statements (create,
draw, drop) are PostgreSQL's backend's (``backends.postgresql``).
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
