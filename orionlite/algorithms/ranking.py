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


def best_by_hypervolume(losses: np.ndarray, violations: np.ndarray, needed: int) -> np.ndarray:
    """Indices of the best ``needed`` rows, in index order: whole constrained fronts, and
    from the front that does not fit whole, the members chosen greedily by hypervolume
    contribution (greedy hypervolume subset selection, as Optuna's MOTPE split; crowding
    distance gave a tenth less hypervolume on DTLZ2, decision 0033)."""
    n = len(losses)
    needed = min(needed, n)
    ranks = constrained_ranks(losses, violations, needed)
    chosen = np.zeros(n, dtype=bool)
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        room = needed - int(chosen.sum())
        if room <= 0:
            break
        if len(members) <= room:
            chosen[members] = True
            continue
        feasible = bool((violations[members] == 0.0).all())
        if losses.shape[1] > 1 and feasible:
            chosen[members[greedy_hypervolume_subset(losses[members], room)]] = True
        else:
            chosen[members[:room]] = True
    return np.flatnonzero(chosen)


def greedy_hypervolume_subset(points: np.ndarray, size: int) -> np.ndarray:
    """``size`` row indices of ``points`` (mutually non-dominated losses, in index order)
    picked one by one, each adding the most hypervolume to those picked before.
    Reference: the worst value of each loss, moved 10 % of its magnitude further."""
    worst = points.max(axis=0)
    reference = worst + np.maximum(0.1 * np.abs(worst), 1e-12)
    unique, first = np.unique(points, axis=0, return_index=True)
    if len(unique) <= size:
        # Every distinct point, then copies in index order.
        rest = np.setdiff1d(np.arange(len(points)), first)
        return np.sort(np.concatenate([first, rest[: size - len(unique)]])).astype(int)
    if points.shape[1] == 2:
        picked = _greedy_2d(unique, size, reference)
    else:
        picked = _greedy_bounded(unique, size, reference)
    return np.sort(first[picked]).astype(int)


def _greedy_2d(points: np.ndarray, size: int, reference: np.ndarray) -> list[int]:
    """Two losses: sorted by the first, a candidate's contribution is the rectangle up to
    its nearest picked neighbours (or the reference), updated after each pick."""
    order = np.lexsort((-points[:, 1], points[:, 0]))
    xy = points[order]
    corner = np.tile(reference, (len(xy), 1))
    free = np.ones(len(xy), dtype=bool)
    picked: list[int] = []
    for _ in range(size):
        gains = np.where(free, np.prod(corner - xy, axis=1), -np.inf)
        best = int(np.argmax(gains))
        picked.append(int(order[best]))
        free[best] = False
        corner[:best, 0] = np.minimum(corner[:best, 0], xy[best, 0])
        corner[best + 1 :, 1] = np.minimum(corner[best + 1 :, 1], xy[best, 1])
    return picked


def _greedy_bounded(points: np.ndarray, size: int, reference: np.ndarray) -> list[int]:
    """Three or more losses: a candidate's gain is taken as its box less its overlap with
    the nearest pick (the smallest such value over the picks): an upper bound of the exact
    contribution, O(n) per pick where the exact one needs a hypervolume per candidate. On
    DTLZ2 both gave the same hypervolume (decision 0033)."""
    boxes = np.prod(reference - points, axis=1)
    gains = boxes.copy()
    free = np.ones(len(points), dtype=bool)
    picked: list[int] = []
    while len(picked) < size:
        best = int(np.argmax(np.where(free, gains, -np.inf)))
        picked.append(best)
        free[best] = False
        overlap = np.prod(reference - np.maximum(points, points[best]), axis=1)
        gains = np.minimum(gains, boxes - overlap)
    return picked


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
        # Sweep by the first loss: between two consecutive first losses, the dominated
        # strip reaches down to the best second loss so far.
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        widths = np.diff(np.append(pts[:, 0], ref[0]))
        heights = ref[1] - np.minimum.accumulate(pts[:, 1])
        return float(np.sum(widths * heights))
    order = np.argsort(pts[:, -1])
    pts = pts[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        height = upper - pts[i, -1]
        if height > 0:
            volume += height * hypervolume(pts[: i + 1, :-1], ref[:-1])
    return volume
