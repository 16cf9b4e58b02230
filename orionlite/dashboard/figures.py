"""The data of the experiment page's plots, bounded in size whatever the history's.

The browser draws them with plotly.js; this module only decides what to send: the
best-so-far steps and a sample of points, a sample of lines for parallel coordinates, and
importances fitted on a sample (``orionlite.sampling``), so a page of a 100,000-trial
experiment loads as fast as one of 1,000.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orionlite.objectives import Objectives
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.sampling import evenly
from orionlite.space import Space
from orionlite.storage.plot_reads import FrontPoints
from orionlite.storage.progress import Point

# Points of the objective scatter under the best-so-far curve.
MAX_POINTS = 2000


def curve(
    points: Sequence[tuple[float, float, int, bool]], maximize: bool = False
) -> dict[str, Any]:
    """Best-so-far over time, by the direction: every improvement among feasible trials
    (few), and at most MAX_POINTS of the objectives themselves. ``points`` are
    (ended_at, objective, id, feasible) in completion order."""
    sign = -1.0 if maximize else 1.0
    best = math.inf
    steps: list[tuple[float, float, int]] = []
    for ended, objective, trial_id, ok in points:
        if ok and sign * objective < best:
            best = sign * objective
            steps.append((ended, objective, trial_id))
    if steps and points:
        steps.append((points[-1][0], sign * best, steps[-1][2]))  # the line runs to the last trial
    sample = evenly(points, MAX_POINTS)
    return {
        "total": len(points),
        "maximize": maximize,
        "best": {
            "x": [p[0] for p in steps],
            "y": [p[1] for p in steps],
            "id": [p[2] for p in steps],
        },
        "points": {
            "x": [p[0] for p in sample],
            "y": [p[1] for p in sample],
            "id": [p[2] for p in sample],
        },
    }


@dataclass(frozen=True)
class _Plotted:
    """What orionlite.plotting reads of an experiment: its name and search space."""

    name: str
    space: Space


def _plotted(record: ExperimentRecord) -> Any:
    return _Plotted(record.name, Space.from_json(record.space))


def parallel(record: ExperimentRecord, trials: Sequence[TrialRecord], total: int) -> dict[str, Any]:
    """Plotly parcoords dimensions for a sample of completed trials."""
    from orionlite.plotting import parcoords_dimensions

    dimensions = parcoords_dimensions(_plotted(record), trials)
    objectives = dimensions[-1]["values"]
    return {"dimensions": dimensions, "color": objectives, "shown": len(trials), "total": total}


# Bins per numeric dimension when measuring how much of the objective's variance it explains.
IMPORTANCE_BINS = 10
# Fewer trials than this give each its own bin, which would "explain" all the variance.
MIN_IMPORTANCE_TRIALS = 10


class ImportanceCache:
    """Importances per experiment, computed again only when the completed count moved by
    a tenth: pages poll far more often than the ranking changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_experiment: dict[int, tuple[int, dict[str, Any]]] = {}

    def get(self, record: ExperimentRecord, total: int, load: Any) -> dict[str, Any]:
        with self._lock:
            cached = self._by_experiment.get(record.id)
        if cached is not None and abs(total - cached[0]) <= cached[0] // 10:
            return cached[1]
        trials: list[TrialRecord] = load()
        result = importance(record, trials, total)
        with self._lock:
            self._by_experiment[record.id] = (total, result)
        return result


def importance(
    record: ExperimentRecord, trials: Sequence[TrialRecord], total: int
) -> dict[str, Any]:
    """Each parameter's main effect: the share of the objective's variance explained by
    the parameter alone (its values in quantile bins, or by option), normalised to sum 1.

    Not the random forest of ``orionlite plot --kind importance``: scikit-learn would
    triple the dashboard's memory (70 to 200 MB) and take seconds per refresh, while this
    takes milliseconds and ranks clear effects the same
    (docs/decisions/0042-dashboard-importance.md).
    """
    import numpy as np

    from orionlite.plotting import axes

    if len(trials) < MIN_IMPORTANCE_TRIALS:
        message = (
            f"Importance needs at least {MIN_IMPORTANCE_TRIALS} completed trials; "
            f"there are {len(trials)}."
        )
        return {"names": [], "values": [], "message": message, "total": total}
    target = np.array([float(trial.objective or 0.0) for trial in trials])
    spread = float(target.var())
    scores: dict[str, float] = {}
    for axis in axes(_plotted(record), trials):
        values = np.array(axis.values, dtype=float)
        if axis.categories is not None:
            groups = values.round().astype(int)
        else:
            # At least 5 trials a bin: a bin per trial would "explain" everything.
            bins = max(2, min(IMPORTANCE_BINS, len(trials) // 5))
            edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
            groups = np.searchsorted(edges, values, side="right")
        explained = 0.0
        for group in np.unique(groups):
            members = target[groups == group]
            explained += len(members) * float((members.mean() - target.mean()) ** 2)
        scores[axis.name] = explained / len(target) / spread if spread > 0 else 0.0
    norm = sum(scores.values())
    ranked = sorted(
        ((name, value / norm if norm > 0 else 0.0) for name, value in scores.items()),
        key=lambda item: item[1],
    )
    return {
        "names": [name for name, _ in ranked],
        "values": [value for _, value in ranked],
        "message": "",
        "fitted": len(trials),
        "total": total,
    }


# Trials whose intermediate values the experiment page draws at most, and points a curve.
MAX_CURVES = 100
MAX_CURVE_POINTS = 200


def pareto(objectives: Objectives, points: FrontPoints) -> dict[str, Any]:
    """The Pareto plot's points as reported (not negated): the whole front, and at most
    MAX_POINTS of the dominated and of the infeasible trials each."""
    on_front = set(points.front)
    groups: dict[str, list[int]] = {"front": list(points.front), "other": [], "infeasible": []}
    for i, ok in enumerate(points.feasible):
        if i not in on_front:
            groups["other" if ok else "infeasible"].append(i)
    result: dict[str, Any] = {"labels": [item.label() for item in objectives.items]}
    for group, positions in groups.items():
        shown = positions if group == "front" else evenly(positions, MAX_POINTS)
        result[group] = {
            "id": [points.ids[i] for i in shown],
            "values": [[points.values[i][k] for i in shown] for k in range(len(objectives.items))],
            "total": len(positions),
        }
    return result


def progress_curves(
    reported: Sequence[tuple[int, str]], load: Callable[[list[int]], dict[int, list[Point]]]
) -> dict[str, Any]:
    """Intermediate-value curves of at most MAX_CURVES trials (an even spread by id of
    those that reported), each cut to MAX_CURVE_POINTS points; pruned trials marked."""
    shown = evenly(reported, MAX_CURVES)
    points = load([trial_id for trial_id, _ in shown])
    curves = []
    for trial_id, status in shown:
        kept = evenly(points.get(trial_id, []), MAX_CURVE_POINTS)
        curves.append(
            {
                "id": trial_id,
                "status": status,
                "pruned": status == TrialStatus.PRUNED.value,
                "steps": [step for step, _ in kept],
                "values": [value for _, value in kept],
            }
        )
    return {"curves": curves, "total": len(reported)}
