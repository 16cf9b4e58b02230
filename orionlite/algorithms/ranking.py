"""Ranking trials by several objectives and constraints: what tpe and nsga2 share.

Losses are numbers to minimise (maximised objectives negated, see
``orionlite.objectives``). Constrained domination (Deb, 2000): a feasible trial beats an
infeasible one, two infeasible ones compare by total violation, two feasible ones by
Pareto domination.

Written on numpy rather than taken from a library: the sort is a few lines at the sizes
tuning sees (a few thousand trials), and the libraries that offer it (pymoo, moocore)
would be a compiled dependency for every worker (docs/decisions/0030-search-building-blocks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from orionlite.objectives import Objectives, violation

if TYPE_CHECKING:
    from orionlite.records import TrialRecord


def scored(
    trials: Sequence[TrialRecord], objectives: Objectives
) -> tuple[list[TrialRecord], np.ndarray, np.ndarray]:
    """Trials with finite losses, their losses (n x k) and violations (n)."""
    kept: list[TrialRecord] = []
    losses: list[list[float]] = []
    for trial in trials:
        values = objectives.losses(trial)
        if values is not None:
            kept.append(trial)
            losses.append(values)
    width = len(objectives.items)
    matrix = np.array(losses, dtype=float).reshape(len(kept), width)
    violations = np.array([violation(trial) for trial in kept], dtype=float)
    return kept, matrix, violations


def nondominated_ranks(losses: np.ndarray, needed: int | None = None) -> np.ndarray:
    """Front number of each row (0: not dominated by any row), by repeated peeling. With
    ``needed``, peeling stops once that many rows are ranked; the rest share the next
    front number (callers that only keep the best ``needed`` do not pay for the rest)."""
    n = len(losses)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    if losses.shape[1] == 1:
        # One objective: the fronts are the distinct values, in order.
        return np.asarray(np.unique(losses[:, 0], return_inverse=True)[1], dtype=int)
    # dominated_by[i, j]: row j dominates row i.
    le = (losses[None, :, :] <= losses[:, None, :]).all(axis=2)
    lt = (losses[None, :, :] < losses[:, None, :]).any(axis=2)
    dominated_by = np.asarray(le & lt, dtype=bool)
    remaining = np.ones(n, dtype=bool)
    front = 0
    while remaining.any():
        if needed is not None and n - remaining.sum() >= needed:
            ranks[remaining] = front
            break
        current = remaining & ~(dominated_by[:, remaining].any(axis=1))
        ranks[current] = front
        remaining &= ~current
        front += 1
    return ranks


def constrained_ranks(
    losses: np.ndarray, violations: np.ndarray, needed: int | None = None
) -> np.ndarray:
    """Front numbers under constrained domination: feasible fronts first, then each
    distinct violation level of the infeasible trials, smallest first."""
    ranks = np.zeros(len(losses), dtype=int)
    feasible = violations == 0.0
    if feasible.any():
        ranks[feasible] = nondominated_ranks(losses[feasible], needed)
    offset = int(ranks[feasible].max()) + 1 if feasible.any() else 0
    if (~feasible).any():
        levels = np.unique(violations[~feasible], return_inverse=True)[1]
        ranks[~feasible] = offset + levels
    return ranks


def crowding_distance(losses: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its set (inf at the extremes)."""
    n, k = losses.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for column in range(k):
        order = np.argsort(losses[:, column], kind="stable")
        values = losses[order, column]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def best_first(losses: np.ndarray, violations: np.ndarray, needed: int | None = None) -> np.ndarray:
    """Indices from best to worst: by constrained front, then by crowding distance within
    a front (largest first, so the front's spread is kept), then by index. With
    ``needed``, only the first ``needed`` are in order (the rest follow, unordered)."""
    ranks = constrained_ranks(losses, violations, needed)
    crowding = np.zeros(len(losses))
    if len(losses) and losses.shape[1] > 1:
        # Only the fronts up to the one holding the ``needed``-th row are ordered inside.
        last = np.sort(ranks)[min(needed or len(ranks), len(ranks)) - 1]
        for front in np.unique(ranks[ranks <= last]):
            members = np.flatnonzero(ranks == front)
            crowding[members] = crowding_distance(losses[members])
    return np.lexsort((np.arange(len(losses)), -crowding, ranks))


def hypervolume(points: np.ndarray, reference: Sequence[float] | np.ndarray) -> float:
    """Hypervolume dominated by ``points`` (losses) and bounded by ``reference``: exact,
    by slicing along the last axis (fine for the 2-3 objectives it is used with)."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float)
    pts = pts[(pts < ref).all(axis=1)] if len(pts) else pts.reshape(0, len(ref))
    if len(pts) == 0:
        return 0.0
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 2:
        # Sweep by the first loss: each point adds the strip below the best second loss so far.
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        volume, floor = 0.0, ref[1]
        for x, y in pts:
            if y < floor:
                volume += (ref[0] - x) * (floor - y)
                floor = y
        return float(volume)
    order = np.argsort(pts[:, -1])
    pts = pts[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        height = upper - pts[i, -1]
        if height > 0:
            volume += height * hypervolume(pts[: i + 1, :-1], ref[:-1])
    return volume
