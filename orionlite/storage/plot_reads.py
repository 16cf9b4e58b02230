"""Reads behind plots of large histories: only the columns and rows a plot uses.

A Pareto front needs every completed trial, but only its id and results: they are read
as plain rows, never as whole trial records (parameters decoded and kept for nothing).
A plot of a sample (parallel coordinates, importance) reads the id and objective of every
completed trial in completion order, and the full rows of the sample only
(docs/decisions/0044-plot-reads.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from orionlite.objectives import Objectives, nondominated, results_violation
from orionlite.records import TrialRecord, TrialStatus
from orionlite.sampling import evenly, lines_kept
from orionlite.storage.queries import trial_from_row
from orionlite.storage.tables import trials

# Ids per IN (...) list: under SQLite's smallest limit on bound parameters.
_IDS_PER_READ = 500


@dataclass(frozen=True)
class FrontPoints:
    """The completed trials of an experiment whose objectives are all finite numbers."""

    ids: list[int]
    #: Objective values as reported (not negated), in declaration order.
    values: list[list[float]]
    feasible: list[bool]
    #: Positions (in ``ids``) of the Pareto front: feasible and non-dominated, ordered by
    #: the losses (maximised objectives negated), then id.
    front: list[int]

    @property
    def front_ids(self) -> list[int]:
        return [self.ids[i] for i in self.front]


def read_front(
    connection: sa.Connection, experiment_id: int, objectives: Objectives
) -> FrontPoints:
    """Every completed trial's values, and the front among them (orionlite.objectives)."""
    # Results as text, decoded by one json.loads for all rows (as the history's read).
    statement = (
        sa.select(trials.c.id, trials.c.objective, sa.cast(trials.c.results, sa.Text))
        .where(
            trials.c.experiment_id == experiment_id,
            trials.c.status == TrialStatus.COMPLETED.value,
        )
        .order_by(trials.c.id)
    )
    rows = connection.execute(statement).all()
    decoded = json.loads("[" + ",".join(text or "null" for _, _, text in rows) + "]")
    ids: list[int] = []
    values: list[list[float]] = []
    feasible: list[bool] = []
    for (trial_id, objective, _), results in zip(rows, decoded, strict=True):
        found = objectives.reported(results) if objectives.several else _finite(objective)
        if found is None:
            continue
        ids.append(trial_id)
        values.append(found)
        feasible.append(results_violation(results) == 0.0)
    del rows, decoded
    signs = [item.sign for item in objectives.items]
    positions = [i for i, ok in enumerate(feasible) if ok]
    scored = [([s * v for s, v in zip(signs, values[i], strict=True)], ids[i]) for i in positions]
    front = [positions[i] for i in nondominated(scored)]
    return FrontPoints(ids, values, feasible, front if objectives.several else front[:1])


def _finite(value: float | None) -> list[float] | None:
    return [value] if value is not None and math.isfinite(value) else None


def read_completed_spread(
    connection: sa.Connection, experiment_id: int, limit: int
) -> tuple[list[TrialRecord], int]:
    """At most ``limit`` completed trials spread evenly in completion order (the sample
    ``orionlite.sampling.for_fit`` takes of every completed trial), in that order, and
    how many completed trials there are."""
    every = [trial_id for trial_id, _ in _completion_order(connection, experiment_id)]
    return _read_rows(connection, evenly(every, limit)), len(every)


def read_completed_lines(
    connection: sa.Connection, experiment_id: int, limit: int, best: int
) -> tuple[list[TrialRecord], int]:
    """The completed trials ``orionlite.sampling.for_lines`` keeps (the ``best`` lowest
    objectives and an even spread of the rest), in completion order, and how many
    completed trials there are."""
    every = _completion_order(connection, experiment_id)
    kept = lines_kept(every, limit, best)
    return _read_rows(connection, [i for i, _ in every if i in kept]), len(every)


def _completion_order(
    connection: sa.Connection, experiment_id: int
) -> list[tuple[int, float | None]]:
    """(id, objective) of every completed trial, in completion order (as
    ``plotting.completed_trials``)."""
    statement = (
        sa.select(trials.c.id, trials.c.objective)
        .where(
            trials.c.experiment_id == experiment_id,
            trials.c.status == TrialStatus.COMPLETED.value,
        )
        .order_by(sa.func.coalesce(trials.c.ended_at, 0.0), trials.c.id)
    )
    return [(int(trial_id), objective) for trial_id, objective in connection.execute(statement)]


def _read_rows(connection: sa.Connection, chosen: Sequence[int]) -> list[TrialRecord]:
    """The trials of these ids, in this order."""
    rows: list[Any] = []
    for begin in range(0, len(chosen), _IDS_PER_READ):
        part = chosen[begin : begin + _IDS_PER_READ]
        rows += connection.execute(sa.select(trials).where(trials.c.id.in_(part))).all()
    position = {trial_id: i for i, trial_id in enumerate(chosen)}
    return sorted((trial_from_row(row) for row in rows), key=lambda t: position[t.id])
