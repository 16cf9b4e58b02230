"""Bounded samples of a history for plots: a picture of 50,000 lines is no clearer than
one of 1,000, and a forest fitted on 50,000 trials ranks parameters like one fitted on a
few thousand, at a fraction of the time (docs/decisions/0041-plot-samples.md).

Samples are deterministic (evenly spaced, not random), so the same history always gives
the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from orionlite.records import TrialRecord

T = TypeVar("T")

# Lines a parallel-coordinates plot draws at most, of which the best trials always.
MAX_LINES = 1000
BEST_LINES = 100
# Trials a parameter-importance forest is fitted on at most.
MAX_FIT = 3000


def evenly(items: Sequence[T], limit: int) -> list[T]:
    """At most ``limit`` items spread evenly over ``items``, in their order."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def for_lines(
    trials: Sequence[TrialRecord], limit: int = MAX_LINES, best: int = BEST_LINES
) -> list[TrialRecord]:
    """The ``best`` lowest objectives and an even spread of the rest, in the given order."""
    kept = lines_kept([(trial.id, trial.objective) for trial in trials], limit, best)
    return [trial for trial in trials if trial.id in kept]


def lines_kept(
    scored: Sequence[tuple[int, float | None]], limit: int = MAX_LINES, best: int = BEST_LINES
) -> set[int]:
    """The ids :func:`for_lines` keeps of (id, objective) pairs."""
    if len(scored) <= limit:
        return {trial_id for trial_id, _ in scored}
    ranked = sorted(scored, key=lambda s: (s[1] if s[1] is not None else 0.0, s[0]))
    kept = {trial_id for trial_id, _ in ranked[:best]}
    kept.update(trial_id for trial_id, _ in evenly(ranked[best:], limit - best))
    return kept


def for_fit(trials: Sequence[TrialRecord], limit: int = MAX_FIT) -> list[TrialRecord]:
    """An even spread of at most ``limit`` trials to fit a model on."""
    return evenly(trials, limit)
