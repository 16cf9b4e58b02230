"""Statements on intermediate values (``trial_progress``): the token-guarded batch write,
and the reads of stop rules, listings and plots.

Every read joins ``trials`` on the attempt, so only the values of each trial's current
attempt count: those of an attempt that was interrupted and run again, or written by a
worker presumed dead in the instant before its trial was taken over, are never seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from orionlite.records import TrialStatus
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
    connection: sa.Connection, trial_id: int, attempt: int, points: Sequence[Point]
) -> bool:
    """Store ``points`` of the trial's ``attempt``; False, storing nothing, if the attempt
    no longer holds the trial (its lease ran out and another worker took it).

    A point already stored (a retry after a dropped connection) is skipped, not an error.
    """
    experiment_id = connection.execute(_owner(trial_id, attempt)).scalar()
    if experiment_id is None:
        return False
    if not points:
        return True
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(trial_progress)
        .values(
            trial_id=trial_id,
            attempt=attempt,
            experiment_id=experiment_id,
            step=sa.bindparam("p_step", type_=sa.Integer),
            value=sa.bindparam("p_value", type_=sa.Float),
            recorded_at=db_now(),
        )
        .on_conflict_do_nothing(index_elements=["trial_id", "attempt", "step"])
    )
    connection.execute(statement, [{"p_step": step, "p_value": value} for step, value in points])
    return True


def select_values_at_steps(
    connection: sa.Connection, experiment_id: int, steps: Iterable[int], excluded_trial: int
) -> list[tuple[int, int, float]]:
    """(trial id, step, value) of every other trial of the experiment at these steps: one
    range scan of ix_trial_progress_experiment_step per step, whatever the history."""
    statement = (
        sa.select(trial_progress.c.trial_id, trial_progress.c.step, trial_progress.c.value)
        .join(trials, _CURRENT)
        .where(
            trial_progress.c.experiment_id == experiment_id,
            trial_progress.c.step.in_(sorted(set(steps))),
            trial_progress.c.trial_id != excluded_trial,
        )
    )
    return [(row[0], row[1], row[2]) for row in connection.execute(statement)]


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
