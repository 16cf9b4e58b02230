"""Statements on intermediate values (``trial_progress``): the token-guarded batch write,
and the reads of stop rules, listings and plots.

A batch is written only while its attempt holds the trial, and it deletes the values of
the trial's earlier attempts: a trial run again (interrupted, or taken over from a worker
presumed dead) starts its curve anew. The stop rules' read is then an index-only scan with
no join (decision record 0010); listings also join ``trials`` on the attempt, so they
never show the previous attempt's curve before the new one's first batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from orionlite.records import TrialStatus
from orionlite.storage.engine import Prepared
from orionlite.storage.sqlfunctions import db_now
from orionlite.storage.tables import trial_progress, trials

# Bound per call: a point is (step, value).
Point = tuple[int, float]

_CURRENT = sa.and_(
    trials.c.id == trial_progress.c.trial_id, trials.c.attempt == trial_progress.c.attempt
)


def _owner(trial_id: int, attempt: int) -> sa.Select[Any]:
    """The trial's experiment while ``attempt`` still holds its reservation. ``FOR SHARE``
    on PostgreSQL: a takeover (an UPDATE of the row) waits until this batch is written,
    so no value lands after the trial changed hands; SQLite's write lock does as much."""
    return (
        sa.select(trials.c.experiment_id)
        .where(
            trials.c.id == trial_id,
            trials.c.attempt == attempt,
            trials.c.status == TrialStatus.RESERVED.value,
        )
        .with_for_update(read=True)
    )


def insert_points(
    connection: sa.Connection,
    trial_id: int,
    attempt: int,
    points: Sequence[Point],
    insert_new: Callable[[sa.Table, dict[str, Any]], sa.Insert],
) -> bool:
    """Store ``points`` of the trial's ``attempt``; False, storing nothing, if the attempt
    no longer holds the trial (its lease ran out and another worker took it).

    A point already stored (a retry after a dropped connection) is skipped, not an error:
    ``insert_new`` is the backend's insert that leaves existing rows alone.
    """
    experiment_id = connection.execute(_owner(trial_id, attempt)).scalar()
    if experiment_id is None:
        return False
    connection.execute(
        trial_progress.delete().where(
            trial_progress.c.trial_id == trial_id, trial_progress.c.attempt < attempt
        )
    )
    if not points:
        return True
    values = {
        "trial_id": trial_id,
        "attempt": attempt,
        "experiment_id": experiment_id,
        "step": sa.bindparam("p_step", type_=sa.Integer),
        "value": sa.bindparam("p_value", type_=sa.Float),
        "recorded_at": db_now(),
    }
    statement = insert_new(trial_progress, values)
    connection.execute(statement, [{"p_step": step, "p_value": value} for step, value in points])
    return True


# Every other trial's values at one step: an index-only range scan of
# ix_trial_progress_experiment_step, run on the driver (``Prepared``: with 1,000 rows per
# step, SQLAlchemy's row handling cost more than the query).
_VALUES_AT = Prepared(
    sa.select(trial_progress.c.value).where(
        trial_progress.c.experiment_id == sa.bindparam("p_experiment_id", type_=sa.Integer),
        trial_progress.c.step == sa.bindparam("p_step", type_=sa.Integer),
        trial_progress.c.trial_id != sa.bindparam("p_trial_id", type_=sa.Integer),
    )
)


def select_values_at_steps(
    connection: sa.Connection, experiment_id: int, steps: Iterable[int], excluded_trial: int
) -> dict[int, list[float]]:
    """The values of every other trial of the experiment at each of these steps: one
    index-only scan per step (the rules ask about one step per batch, nearly always)."""
    found: dict[int, list[float]] = {}
    for step in sorted(set(steps)):
        parameters = {
            "p_experiment_id": experiment_id,
            "p_step": step,
            "p_trial_id": excluded_trial,
        }
        found[step] = [row[0] for row in _VALUES_AT.run(connection, parameters)]
    return found


def select_progress(
    connection: sa.Connection, experiment_id: int, trial_ids: Sequence[int] | None = None
) -> dict[int, list[Point]]:
    """Each trial's reported points (current attempt), by trial id, in step order."""
    statement = (
        sa.select(trial_progress.c.trial_id, trial_progress.c.step, trial_progress.c.value)
        .join(trials, _CURRENT)
        .where(trial_progress.c.experiment_id == experiment_id)
        .order_by(trial_progress.c.trial_id, trial_progress.c.step)
    )
    if trial_ids is not None:
        statement = statement.where(trial_progress.c.trial_id.in_(list(trial_ids)))
    curves: dict[int, list[Point]] = {}
    for trial_id, step, value in connection.execute(statement):
        curves.setdefault(trial_id, []).append((step, value))
    return curves
