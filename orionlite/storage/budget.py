"""An experiment's budget (``max_trials``), kept as shares that workers claim in parallel.

Creating a trial takes one slot of the budget in the same transaction as its insert.
One counter per experiment would make creations queue behind each other's commits, so
the budget is ``SHARES`` rows per experiment (docs/decisions/0051-budget-as-shares.md),
each with a ``cap`` (its part of max_trials) and the slots ``used`` in it. A creation takes a
share with room that no other creation holds (``SKIP LOCKED``), starting from the worker's
own share. When every share with room is held (the last few slots), the creation fails
and is retried a few milliseconds later instead of waiting, so creations cannot deadlock
(:func:`_locked_share`).

The invariant is ``used <= cap`` on every share, with caps that add up to max_trials, so
"some share has room" means exactly "fewer than max_trials trials count". A new
experiment's shares (a branch's: with its inherited trials' slots taken) and a change of
max_trials spread both totals evenly, the change under a lock on every share
(:func:`rebalance`): two even splits keep ``used <= cap`` on every share whenever the
totals do. Giving a slot back (a broken trial; on SQLite, a duplicate) lowers
any share still in use, which keeps the invariant too.

SQLite has no row locks and needs none: its single write lock makes each step atomic, so
its statements (:func:`claim_sqlite`, :func:`give_back_slot`) simply take the first share
that qualifies.
"""

from __future__ import annotations

import zlib
from typing import Any

import sqlalchemy as sa

from orionlite.storage.tables import budget_shares

# Enough that eight workers on a machine, or a few dozen on a cluster, rarely start from
# the same share; few enough that reading them all stays cheap.
SHARES = 32

_EXPERIMENT_ID = sa.bindparam("p_experiment_id", type_=sa.Integer)
# The share a worker tries first (see first_share).
_FIRST_SHARE = sa.bindparam("p_first_share", type_=sa.Integer)


def split(total: int | None, shares: int = SHARES) -> list[int | None]:
    """``total`` spread over ``shares`` as evenly as possible, larger parts first; None
    (no limit) everywhere for None."""
    if total is None:
        return [None] * shares
    return [total // shares + (1 if k < total % shares else 0) for k in range(shares)]


def first_share(worker_id: str) -> int:
    """Where a worker starts looking for room: spread over the shares, and the same for
    the worker's whole life."""
    return zlib.crc32(worker_id.encode()) % SHARES


def insert_shares(
    connection: sa.Connection, experiment_id: int, max_trials: int | None, used: int
) -> None:
    """The shares of a new experiment, with ``used`` slots already taken."""
    rows = [
        {"experiment_id": experiment_id, "share": k, "used": u, "cap": c}
        for k, (u, c) in enumerate(zip(split(used), split(max_trials), strict=True))
    ]
    connection.execute(budget_shares.insert(), rows)


def rebalance(connection: sa.Connection, experiment_id: int, max_trials: int | None) -> None:
    """Spread ``max_trials`` and the slots in use evenly again.

    Locks every share first, in share order, so no creation or give-back runs meanwhile.
    Run inside the transaction that changes max_trials.
    """
    locked = _lock_all(connection, experiment_id)
    _spread(connection, experiment_id, locked, sum(row.used for row in locked), max_trials)


def take_slots(connection: sa.Connection, experiment_id: int, slots: int) -> int | None:
    """Count ``slots`` more trials against max_trials at once, for trials put in by hand
    (requeued broken trials, inserted ones); returns the room left before, None without
    a limit. Nothing changes when there is not room for all of them.

    Locks every share in share order, as :func:`rebalance` does, then spreads the slots in
    use evenly again: the invariant ``used <= cap`` holds on every share.
    """
    locked = _lock_all(connection, experiment_id)
    caps = [row.cap for row in locked]
    used = sum(row.used for row in locked)
    max_trials = None if any(cap is None for cap in caps) else sum(caps)
    room = None if max_trials is None else max_trials - used
    if slots and (room is None or slots <= room):
        _spread(connection, experiment_id, locked, used + slots, max_trials)
    return room


def _lock_all(connection: sa.Connection, experiment_id: int) -> list[Any]:
    shares = budget_shares.c
    return list(
        connection.execute(
            sa.select(shares.share, shares.used, shares.cap)
            .where(shares.experiment_id == experiment_id)
            .order_by(shares.share)
            .with_for_update()
        ).all()
    )


def _spread(
    connection: sa.Connection,
    experiment_id: int,
    locked: list[Any],
    total: int,
    max_trials: int | None,
) -> None:
    shares = budget_shares.c
    used, caps = split(total, len(locked)), split(max_trials, len(locked))
    connection.execute(
        budget_shares.update()
        .where(
            shares.experiment_id == experiment_id,
            shares.share == sa.bindparam("b_share"),
        )
        .values(used=sa.bindparam("b_used"), cap=sa.bindparam("b_cap")),
        [
            {"b_share": row.share, "b_used": u, "b_cap": c}
            for row, u, c in zip(locked, used, caps, strict=True)
        ],
    )


def has_room(experiment_id: sa.ColumnElement[int]) -> sa.Exists:
    """Whether a creation could take a slot now (a read: nothing is locked)."""
    shares = budget_shares.c
    return sa.exists(sa.select(shares.share).where(shares.experiment_id == experiment_id, room()))


def room() -> sa.ColumnElement[bool]:
    return sa.or_(budget_shares.c.cap.is_(None), budget_shares.c.used < budget_shares.c.cap)


def _one_share(
    experiment_id: sa.ColumnElement[Any],
    first: sa.ColumnElement[Any] | None,
    *conditions: sa.ColumnElement[bool],
) -> sa.Select[Any]:
    """One share of the experiment meeting ``conditions``: the first in share order, or
    with ``first``, that share or the next after it before those below it. Only
    PostgreSQL's creations need ``first`` (SQLite's write lock serialises them anyway),
    and ordering by it costs a sort."""
    shares = budget_shares.c
    order = (shares.share,) if first is None else ((shares.share >= first).desc(), shares.share)
    return (
        sa.select(shares.experiment_id, shares.share)
        .where(shares.experiment_id == experiment_id, *conditions)
        .order_by(*order)
        .limit(1)
    )


def _locked_share(
    name: str,
    experiment_id: sa.ColumnElement[Any],
    first: sa.ColumnElement[Any] | None,
    *conditions: sa.ColumnElement[bool],
) -> sa.CTE:
    """PostgreSQL: a share meeting ``conditions``, locked: one that no other transaction
    holds (``SKIP LOCKED``, from ``first`` on). No row means no share qualifies.

    When every share that qualified in the statement's snapshot is held by another
    transaction (the last few slots, each being taken by a creation in flight, or a
    change of max_trials), the statement fails with lock_not_available (``NOWAIT``),
    which the storage retries after a short random sleep (``retry``): the retry sees
    whether the holder committed (the slot is gone) or rolled back (it is free again).

    It never waits for the holder: a statement that never waits for a share cannot be
    part of a deadlock (docs/decisions/0052-creations-never-wait-for-a-share.md)."""
    free = _one_share(experiment_id, first, *conditions).with_for_update(skip_locked=True)
    free_cte = free.cte(f"{name}_free")
    none_free = ~sa.exists(sa.select(free_cte.c.share))
    held = _one_share(experiment_id, None, *conditions, none_free).with_for_update(nowait=True)
    held_cte = held.cte(f"{name}_held")
    return sa.union_all(sa.select(free_cte), sa.select(held_cte)).cte(name)


def share_with_room(*conditions: sa.ColumnElement[bool]) -> sa.CTE:
    """PostgreSQL: the share a creation takes its slot from, locked (``experiment_id``,
    ``share``); no row when the budget is spent or ``conditions`` fail."""
    return _locked_share("slot", _EXPERIMENT_ID, _FIRST_SHARE, room(), *conditions)


def take_slot(share: sa.CTE, *conditions: sa.ColumnElement[bool]) -> sa.Update:
    """Count one more slot in ``share`` (from :func:`share_with_room`)."""
    shares = budget_shares.c
    return (
        budget_shares.update()
        .where(
            shares.experiment_id == _EXPERIMENT_ID,
            shares.share.in_(sa.select(share.c.share)),
            *conditions,
        )
        .values(used=shares.used + 1)
    )


def give_back_slot(experiment_id: sa.ColumnElement[Any], dialect: str) -> sa.Update:
    """One slot back to the experiment's budget, from a share that has one in use: on
    PostgreSQL locked as :func:`share_with_room` does, on SQLite under its write lock."""
    shares = budget_shares.c
    in_use = shares.used > 0
    which: sa.ColumnElement[bool]
    if dialect == "postgresql":
        share = _locked_share("freed_share", experiment_id, None, in_use)
        which = shares.share.in_(sa.select(share.c.share))
    else:
        which = shares.share == _scalar_share(_one_share(experiment_id, None, in_use))
    return (
        budget_shares.update()
        .where(shares.experiment_id == experiment_id, which)
        .values(used=shares.used - 1)
    )


def _scalar_share(query: sa.Select[Any]) -> sa.ScalarSelect[Any]:
    return query.with_only_columns(budget_shares.c.share).scalar_subquery()


def claim_sqlite() -> sa.Update:
    """SQLite: count one more slot in the first share with room (in share order); returns
    the share, or no row when the budget is spent."""
    shares = budget_shares.c
    return (
        budget_shares.update()
        .where(
            shares.experiment_id == _EXPERIMENT_ID,
            shares.share == _scalar_share(_one_share(_EXPERIMENT_ID, None, room())),
        )
        .values(used=shares.used + 1)
        .returning(shares.share)
    )
