"""Statements that operators run by hand: requeue trials, insert known parameters, delete
experiments. Each runs inside one write transaction of ``Storage``.

Requeued broken trials and inserted trials count against max_trials again, so they take
their slots through ``budget.take_slots``, which locks the experiment's budget row: the
budget stays exact while workers run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from orionlite.errors import BudgetSpentError, DuplicateTrialError, TrialsNotRequeueableError
from orionlite.records import TrialStatus
from orionlite.storage import budget
from orionlite.storage.queries import inserted_id
from orionlite.storage.sqlfunctions import change_seq, db_now
from orionlite.storage.tables import experiments, trials

# Statuses that hold no slot of max_trials (experiments.budget_used counts every other one).
_FREE_STATUSES = (TrialStatus.BROKEN.value,)


@dataclass
class Requeued:
    """What a requeue did: trial ids by their status before, and the broken trials that
    --max-broken still counts afterwards (none: the count starts again)."""

    by_status: dict[str, list[int]] = field(default_factory=dict)
    broken_left: int = 0

    @property
    def ids(self) -> list[int]:
        return sorted(i for ids in self.by_status.values() for i in ids)


def requeue(
    connection: sa.Connection,
    experiment_id: int,
    statuses: tuple[str, ...],
    trial_ids: tuple[int, ...],
) -> Requeued:
    """Put the experiment's trials with one of ``statuses`` (only ``trial_ids`` when
    given) back to ``new``: same parameters, same id (hence folder), attempt kept. Broken
    ones take their budget slots back first; all or nothing. Resets the broken count."""
    query = sa.select(trials.c.id, trials.c.status).where(trials.c.experiment_id == experiment_id)
    if trial_ids:
        query = query.where(trials.c.id.in_(trial_ids))
    else:
        query = query.where(trials.c.status.in_(statuses))
    rows = connection.execute(query.order_by(trials.c.id)).all()
    if trial_ids:
        found = {row.id: row.status for row in rows}
        wrong = [
            f"{i} ({found[i]})" if i in found else f"{i} (not in this experiment)"
            for i in trial_ids
            if found.get(i) not in statuses
        ]
        if wrong:
            raise TrialsNotRequeueableError(
                f"Cannot requeue trial{'s' if len(wrong) > 1 else ''} {', '.join(wrong)}: "
                f"only {', '.join(statuses)} trials go back to the queue.",
                hint="See each trial's status with: orionlite export -n NAME",
            )
    result = Requeued()
    for row in rows:
        result.by_status.setdefault(row.status, []).append(row.id)
    slots = sum(1 for row in rows if row.status in _FREE_STATUSES)
    if slots:
        room = budget.take_slots(connection, experiment_id, slots)
        if room is not None and slots > room:
            raise BudgetSpentError(
                f"{slots} broken trial{'s' if slots > 1 else ''} would run again, but "
                f"max-trials leaves room for {max(room, 0)} more.",
                hint="Raise the limit first (orionlite set -n NAME --max-trials N), or "
                "requeue fewer trials with --trial ID.",
            )
    if rows:
        connection.execute(
            trials.update()
            .where(trials.c.id.in_([row.id for row in rows]))
            .values(
                status=TrialStatus.NEW.value,
                reserved_by=None,
                lease_expires_at=None,
                heartbeat_at=None,
                objective=None,
                results=None,
                exit_code=None,
                error=None,
                retries=0,
                started_at=None,
                ended_at=None,
                change_seq=change_seq(),
            )
        )
    broken = sa.select(sa.func.count()).where(
        trials.c.experiment_id == experiment_id, trials.c.status == TrialStatus.BROKEN.value
    )
    result.broken_left = int(connection.execute(broken).scalar_one())
    connection.execute(
        experiments.update()
        .where(experiments.c.id == experiment_id)
        .values(broken_baseline=result.broken_left)
    )
    return result


def enqueue(
    connection: sa.Connection,
    experiment_id: int,
    params: dict[str, Any],
    params_hash: str,
    take_number: Callable[[], int],
) -> int:
    """Insert a ``new`` trial with ``params``, counted against max_trials; its id. Waiting
    trials are reserved oldest first, before any new suggestion, so workers run it next."""
    duplicate = connection.execute(
        sa.select(trials.c.id, trials.c.status).where(
            trials.c.experiment_id == experiment_id, trials.c.params_hash == params_hash
        )
    ).first()
    if duplicate is not None:
        raise DuplicateTrialError(
            f"Trial {duplicate.id} ({duplicate.status}) already has these parameters: "
            "an experiment never runs the same point twice.",
            hint="Change a value, or run that trial again with: orionlite requeue -n NAME "
            f"--trial {duplicate.id}",
        )
    room = budget.take_slots(connection, experiment_id, 1)
    if room is not None and room < 1:
        raise BudgetSpentError(
            "The experiment's max-trials is reached: an inserted trial would exceed it.",
            hint="Raise it first: orionlite set -n NAME --max-trials N",
        )
    inserted = connection.execute(
        trials.insert().values(
            experiment_id=experiment_id,
            params=params,
            params_hash=params_hash,
            status=TrialStatus.NEW.value,
            attempt=0,
            number=take_number(),
            created_at=db_now(),
            change_seq=change_seq(),
        )
    )
    return inserted_id(inserted)


def live_reservations(connection: sa.Connection, experiment_ids: list[int]) -> list[int]:
    """Trials reserved under a lease that has not run out: a worker is running them."""
    query = (
        sa.select(trials.c.id)
        .where(
            trials.c.experiment_id.in_(experiment_ids),
            trials.c.status == TrialStatus.RESERVED.value,
            trials.c.lease_expires_at >= db_now(),
        )
        .order_by(trials.c.id)
    )
    return [row.id for row in connection.execute(query)]


def delete_experiments(connection: sa.Connection, experiment_ids: list[int]) -> int:
    """Delete the experiments, their trials and budgets (ON DELETE CASCADE); children keep
    their trials, and lose only the link to their parent. Returns the trials deleted."""
    count = sa.select(sa.func.count()).where(trials.c.experiment_id.in_(experiment_ids))
    deleted = int(connection.execute(count).scalar_one())
    connection.execute(experiments.delete().where(experiments.c.id.in_(experiment_ids)))
    return deleted
