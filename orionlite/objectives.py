"""What an experiment optimises: its objectives (names and directions) and its constraints.

An experiment declares its objectives when it is created and stores them
(``experiments.objectives``). ``None`` stored means one objective, minimised, under any
name: every experiment created before objectives were declared, and the default. A
single objective may be maximised (``--maximize``); several objectives are named, so that
a trial's results can be checked against them.

Constraints are ``constraint`` results, satisfied when ``<= 0`` (Optuna's convention). A
trial is *feasible* when every constraint it reports is satisfied; a constraint reported
as NaN or infinity (stored as null) counts as violated, and a constraint a trial does not
report is not held against it (trials from before the constraint existed stay usable).
Infeasible trials are never best and never on the Pareto front.

Nothing heavy is imported here: ``status`` and ``list`` use it, and so does every worker.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from orionlite.errors import ConfigError

if TYPE_CHECKING:
    from orionlite.outcome import TrialOutcome
    from orionlite.records import TrialRecord

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
_DIRECTIONS = {
    "min": MINIMIZE,
    "minimize": MINIMIZE,
    "minimise": MINIMIZE,
    "max": MAXIMIZE,
    "maximize": MAXIMIZE,
    "maximise": MAXIMIZE,
}


@dataclass(frozen=True)
class Objective:
    """One objective. ``name`` is None for the undeclared single objective (any name)."""

    name: str | None
    direction: str = MINIMIZE

    @property
    def sign(self) -> float:
        """Multiplying a value by the sign gives a number to minimise."""
        return -1.0 if self.direction == MAXIMIZE else 1.0

    def label(self) -> str:
        return f"{self.name or 'objective'} ({'max' if self.direction == MAXIMIZE else 'min'})"


@dataclass(frozen=True)
class Objectives:
    """The declared objectives of an experiment, in declaration order."""

    items: tuple[Objective, ...] = (Objective(None),)

    @property
    def several(self) -> bool:
        return len(self.items) > 1

    @property
    def first(self) -> Objective:
        return self.items[0]

    @functools.cached_property  # read once per trial where fronts are found
    def names(self) -> list[str]:
        return [item.name or "objective" for item in self.items]

    def to_json(self) -> list[dict[str, str]] | None:
        """The stored form; None for the default (one minimised objective, any name)."""
        if self == Objectives():
            return None
        return [{"name": item.name or "", "direction": item.direction} for item in self.items]

    @classmethod
    def from_json(cls, data: list[dict[str, str]] | None) -> Objectives:
        if not data:
            return cls()
        return cls(tuple(Objective(item["name"] or None, item["direction"]) for item in data))

    def values(self, trial: TrialRecord) -> list[float] | None:
        """The trial's objective values in declaration order, as reported (not negated);
        None unless every one is a finite number."""
        if not self.several:
            value = trial.objective
            return [value] if value is not None and math.isfinite(value) else None
        return self.reported(trial.results)

    def reported(self, results: list[dict[str, Any]] | None) -> list[float] | None:
        """The declared objectives' values in stored ``results``; see :meth:`values`."""
        reported = {
            item["name"]: item["value"] for item in results or [] if item.get("type") == "objective"
        }
        values = [reported.get(name) for name in self.names]
        if any(not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
            return None
        return [float(v) for v in values]  # type: ignore[arg-type]

    def losses(self, trial: TrialRecord) -> list[float] | None:
        """The values turned into numbers to minimise (maximised ones negated)."""
        values = self.values(trial)
        if values is None:
            return None
        return [item.sign * value for item, value in zip(self.items, values, strict=True)]

    def check(self, results: list[dict[str, Any]]) -> str | None:
        """Why ``results`` do not match the declaration, or None when they do."""
        reported = [item["name"] for item in results if item.get("type") == "objective"]
        if not self.several and self.first.name is None:
            if len(reported) == 1:
                return None
            return (
                f"the experiment has one objective, but the results hold {len(reported)} "
                f"({', '.join(map(repr, reported))}); declare several with --objective NAME "
                "(repeated) when the experiment is created"
            )
        declared = self.names
        missing = [name for name in declared if name not in reported]
        unexpected = [name for name in reported if name not in declared]
        if not missing and not unexpected:
            return None
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if unexpected:
            parts.append(f"not declared {', '.join(map(repr, unexpected))}")
        return f"declared {', '.join(map(repr, declared))}; {'; '.join(parts)}"

    def primary_value(self, results: list[dict[str, Any]]) -> float:
        """The value stored in the trial's ``objective`` column: the first declared
        objective (the only one, for a single-objective experiment)."""
        objectives = [item for item in results if item.get("type") == "objective"]
        if self.first.name is not None:
            objectives = [item for item in objectives if item["name"] == self.first.name]
        return float(objectives[0]["value"])


def parse_objectives(
    objectives: Mapping[str, str] | Sequence[str] | None = None, direction: str | None = None
) -> Objectives | None:
    """What users write, as Objectives; None when they say nothing (join as stored).

    ``objectives``: ``{"loss": "minimize", "acc": "maximize"}`` or ``["loss", "acc:max"]``
    (the command line's ``--objective``). ``direction``: of the one objective.
    """
    if objectives is None:
        if direction is None:
            return None
        return Objectives((Objective(None, _direction(direction, "direction")),))
    if isinstance(objectives, str):
        objectives = [objectives]
    pairs: list[tuple[str, str]] = []
    if isinstance(objectives, Mapping):
        pairs = [(str(name), str(value)) for name, value in objectives.items()]
    else:
        for text in objectives:
            name, _, way = str(text).partition(":")
            pairs.append((name, way or MINIMIZE))
    items: list[Objective] = []
    for name, way in pairs:
        name = name.strip()
        if not name:
            raise ConfigError(
                f"An objective needs a name, got {name!r}.",
                hint="Write --objective NAME[:min|:max], e.g. --objective accuracy:max",
            )
        if any(item.name == name for item in items):
            raise ConfigError(f"Objective {name!r} is declared twice.")
        items.append(Objective(name, _direction(way, f"objective {name!r}")))
    if not items:
        raise ConfigError("No objective declared.", hint="e.g. --objective loss")
    if direction is not None:
        if len(items) > 1:
            raise ConfigError(
                "direction (--maximize) applies to a single objective; with several, give "
                "each its own direction.",
                hint="e.g. --objective loss --objective accuracy:max",
            )
        items = [Objective(items[0].name, _direction(direction, "direction"))]
    return Objectives(tuple(items))


def _direction(text: str, what: str) -> str:
    way = _DIRECTIONS.get(text.strip().lower())
    if way is None:
        raise ConfigError(
            f"The direction of {what} is {text!r}.",
            hint="Use min/minimize or max/maximize.",
        )
    return way


# -- constraints -------------------------------------------------------------------------


def violation(trial: TrialRecord) -> float:
    """How far the trial is from satisfying its constraints: the sum of the positive
    constraint values, infinity for a constraint stored as null (NaN or infinite), 0.0
    for a feasible trial or one that reports no constraint."""
    return results_violation(trial.results)


def results_violation(results: list[dict[str, Any]] | None) -> float:
    """:func:`violation` of stored results."""
    total = 0.0
    for item in results or []:
        if item.get("type") != "constraint":
            continue
        value = item.get("value")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return math.inf
        total += max(0.0, float(value))
    return total


def feasible(trial: TrialRecord) -> bool:
    return violation(trial) == 0.0


# -- best and the Pareto front -------------------------------------------------------------


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether losses ``a`` are nowhere worse than ``b`` and somewhere better."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def nondominated(points: Sequence[tuple[Sequence[float], int]]) -> list[int]:
    """Positions of the (losses, id) points that no other point dominates, ordered by
    losses (lexicographically), then id. Two objectives take one sweep after the sort;
    more compare each point with the front found so far."""
    import numpy as np

    if not points:
        return []
    # np.lexsort sorts by its last key first: losses left to right, then the id.
    keys = [[float(point[1]) for point in points]]
    keys += [[point[0][k] for point in points] for k in reversed(range(len(points[0][0])))]
    order = [int(i) for i in np.lexsort(keys)]
    kept: list[int] = []
    if len(points[0][0]) == 2:
        # Sorted by the first loss, a point is dominated exactly when a kept one has a
        # lower second loss, or the same second loss and a lower first one.
        first = second = math.inf
        for i in order:
            a, b = points[i][0]
            if b < second or (b == second and a == first):
                kept.append(i)
                first, second = a, b
        return kept
    front: list[Sequence[float]] = []
    for i in order:
        # Sorted lexicographically: only an earlier point can dominate a later one.
        if not any(dominates(losses, points[i][0]) for losses in front):
            kept.append(i)
            front.append(points[i][0])
    return kept


def pareto_front(trials: Sequence[TrialRecord], objectives: Objectives) -> list[TrialRecord]:
    """The feasible completed trials that no other feasible trial dominates, ordered by
    the first objective (then id). With one objective: the best trial(s)."""
    from orionlite.records import TrialStatus

    scored = [
        (losses, trial)
        for trial in trials
        if trial.status is TrialStatus.COMPLETED
        and feasible(trial)
        and (losses := objectives.losses(trial)) is not None
    ]
    front = [scored[i][1] for i in nondominated([(loss, t.id) for loss, t in scored])]
    return front if objectives.several else front[:1]


def best_of(trials: Sequence[TrialRecord], objectives: Objectives) -> TrialRecord | None:
    """The best feasible trial by the first objective's direction (the front's first)."""
    front = pareto_front(trials, objectives)
    return front[0] if front else None


def declared(outcome: TrialOutcome, objectives: Objectives) -> TrialOutcome:
    """A completed outcome checked against the declared objectives: broken, with a
    message naming the difference, when they do not match; otherwise with the first
    declared objective's value as the trial's ``objective``."""
    from orionlite.records import TrialStatus

    if outcome.status is not TrialStatus.COMPLETED or outcome.results is None:
        return outcome
    problem = objectives.check(outcome.results)
    if problem is not None:
        return replace(
            outcome,
            status=TrialStatus.BROKEN,
            objective=None,
            error=f"Results do not match the declared objectives: {problem}.",
        )
    return replace(outcome, objective=objectives.primary_value(outcome.results))
