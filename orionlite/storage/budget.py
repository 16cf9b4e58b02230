"""An experiment's budget (``max_trials``): the slots counted in ``experiments.budget_used``.

Invariant: ``budget_used`` is the number of the experiment's trials that count against
max_trials (every status but broken), and never exceeds ``max_trials`` through a
creation: a creation takes its slot with a guarded increment of that one row, in the
transaction that inserts the trial, so two creations can never both take the last slot.

The row stays locked until the creation commits, so an experiment's creations take
turns on it; docs/design.md ("What each optimisation buys") says what that costs and why
it is not split (decision record 0073). Each unit of work locks at most this one budget
row, so creations cannot deadlock on the budget.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from orionlite.storage.tables import experiments

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)


def room() -> sa.ColumnElement[bool]:
    """Whether the experiment's row has a slot left."""
    return sa.or_(
        experiments.c.max_trials.is_(None), experiments.c.budget_used < experiments.c.max_trials
    )


def has_room(experiment_id: sa.ColumnElement[int]) -> sa.Exists:
    """Whether a creation could take a slot now (a read: nothing is locked)."""
    return sa.exists(sa.select(experiments.c.id).where(experiments.c.id == experiment_id, room()))


def locked_room(*conditions: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The experiment's id, its row locked, when it has a slot left and ``conditions``
    hold; no row otherwise. After waiting for a creation in flight, PostgreSQL checks the
    room again on the row that creation committed."""
    return (
        sa.select(experiments.c.id)
        .where(experiments.c.id == _EXPERIMENT_ID, room(), *conditions)
        .with_for_update()
    )


def take_slot(*conditions: sa.ColumnElement[bool]) -> sa.Update:
    """Count one more trial, when there is room and ``conditions`` hold."""
    return (
        experiments.update()
        .where(experiments.c.id == _EXPERIMENT_ID, room(), *conditions)
        .values(budget_used=experiments.c.budget_used + 1)
    )


def give_back_slot(
    experiment_id: sa.ColumnElement[Any] = _EXPERIMENT_ID, *conditions: sa.ColumnElement[bool]
) -> sa.Update:
    """One slot back (a broken trial no longer counts), when ``conditions`` hold."""
    return (
        experiments.update()
        .where(experiments.c.id == experiment_id, experiments.c.budget_used > 0, *conditions)
        .values(budget_used=experiments.c.budget_used - 1)
    )


def take_slots(connection: sa.Connection, experiment_id: int, slots: int) -> int | None:
    """Count ``slots`` more trials at once, for trials put in by hand (requeued broken
    trials, inserted ones); returns the room left before, None without a limit. Nothing
    changes when there is not room for all of them."""
    row = connection.execute(
        sa.select(experiments.c.max_trials, experiments.c.budget_used)
        .where(experiments.c.id == experiment_id)
        .with_for_update()
    ).one()
    room_left = None if row.max_trials is None else row.max_trials - row.budget_used
    if slots and (room_left is None or slots <= room_left):
        connection.execute(
            experiments.update()
            .where(experiments.c.id == experiment_id)
            .values(budget_used=experiments.c.budget_used + slots)
        )
    return room_left
