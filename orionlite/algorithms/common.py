"""Helpers shared by the algorithms: reading the history and turning numbers into values.

Every algorithm derives its next suggestion from the trials table alone, so they all ask
the same questions of the history (which trials have a result, which are still running,
which points exist) and all need to turn a number into a value the prior accepts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any

from orionlite.errors import ConfigError
from orionlite.objectives import Objectives, violation
from orionlite.records import TrialStatus
from orionlite.space import Choices, Fidelity, LogUniform, Normal, Prior, Uniform

if TYPE_CHECKING:
    from orionlite.records import TrialRecord

PENDING_STATUSES = frozenset({TrialStatus.NEW, TrialStatus.RESERVED, TrialStatus.INTERRUPTED})
"""Trials that will (again) be run: their result is still to come."""

_WITH_RESULT = frozenset({TrialStatus.COMPLETED, TrialStatus.PRUNED})

NORMAL_SPAN = 4.0
"""A normal prior is searched over mu ± NORMAL_SPAN sigma by model-based algorithms."""


def completed(history: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Trials with a usable objective, in creation order. A pruned trial counts with its
    last reported value: stopped because it was poor, it tells where not to look."""
    return [
        trial
        for trial in history
        if trial.status in _WITH_RESULT
        and trial.objective is not None
        and math.isfinite(trial.objective)
    ]


def penalised_losses(trials: Sequence[TrialRecord], objectives: Objectives) -> list[float]:
    """The first objective of each trial as a number to minimise, with trials that violate
    a constraint pushed past the worst feasible one (further the more they violate), so
    that a single-objective model steers away from infeasible regions."""
    losses = [objectives.first.sign * float(trial.objective or 0.0) for trial in trials]
    violations = [violation(trial) for trial in trials]
    feasible_losses = [x for x, v in zip(losses, violations, strict=True) if v == 0.0]
    if len(feasible_losses) == len(losses):
        return losses
    worst = max(feasible_losses) if feasible_losses else max(losses)
    best = min(feasible_losses) if feasible_losses else min(losses)
    span = (worst - best) or 1.0
    return [
        x if v == 0.0 else max(x, worst) + span * (0.1 + min(v, 1.0))
        for x, v in zip(losses, violations, strict=True)
    ]


def pending(history: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Trials still to be run or running (new, reserved, interrupted)."""
    return [trial for trial in history if trial.status in PENDING_STATUSES]


class Seen:
    """The parameter hashes of every point of the experiment, whatever its status (none
    may be proposed again), plus the points proposed since by this suggestion.

    The history's own hash set is used as is, never copied: a worker suggests once per
    trial, and rebuilding the set each time was the one suggestion cost that grew with
    the history.
    """

    def __init__(self, known: Set[str]) -> None:
        self._known = known
        self._added: set[str] = set()

    def __contains__(self, params_hash: object) -> bool:
        return params_hash in self._known or params_hash in self._added

    def add(self, params_hash: str) -> None:
        if params_hash not in self._known:
            self._added.add(params_hash)

    def __len__(self) -> int:
        return len(self._known) + len(self._added)


def seen_hashes(history: Iterable[TrialRecord]) -> Seen:
    """Every point of the experiment (see :class:`Seen`). A history read by a worker
    carries its hash set (``TrialList.params_hashes``); any other sequence of trials is
    hashed here."""
    known = getattr(history, "params_hashes", None)
    return Seen(known if known is not None else {trial.params_hash for trial in history})


def check_seed(algorithm: str, seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(
            f"Algorithm {algorithm!r}: seed must be a whole number >= 0, got {seed!r}.",
            hint="Example: --seed 1",
        )
    return seed


def check_int(algorithm: str, option: str, value: Any, minimum: int) -> int:
    """An integer option, or a ConfigError that names it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"Algorithm {algorithm!r}: {option} must be a whole number >= {minimum}, "
            f"got {value!r}.",
            hint=f"Example: --algorithm-config '{{\"{option}\": {max(minimum, 1) * 5}}}'",
        )
    return value


def check_choice(algorithm: str, option: str, value: Any, allowed: Sequence[str]) -> str:
    """A string option among ``allowed`` (case-insensitive), or a ConfigError naming it."""
    if isinstance(value, str):
        for choice in allowed:
            if value.lower() == choice.lower():
                return choice
    raise ConfigError(
        f"Algorithm {algorithm!r}: {option} must be one of {', '.join(allowed)}, got {value!r}.",
        hint=f'Example: --algorithm-config \'{{"{option}": "{allowed[0]}"}}\'',
    )


def finish(prior: Prior, value: Any) -> Any:
    """The value a trial receives for ``value``: rounded to the prior's precision, an int
    for discrete priors, clipped into bounds, as a plain Python scalar.

    Proposals go through this so that what is stored (and hashed) is exactly what the
    command line receives. The rounding rule is the prior's own (``_finish``), so sampled,
    grid and model-proposed values agree.
    """
    if isinstance(prior, (Uniform, LogUniform, Normal)):
        return prior._finish(float(value))
    return value


def value_at(prior: Prior, u: float) -> Any:
    """The prior's value at quantile ``u`` in [0, 1): maps a point of the unit cube (a
    space-filling design) to a value, following the prior's own distribution."""
    u = min(max(float(u), 0.0), 1.0 - 1e-12)
    if isinstance(prior, Fidelity):
        return prior.high
    if isinstance(prior, Choices):
        weights = prior.weights or [1.0 / len(prior.options)] * len(prior.options)
        total = 0.0
        for option, weight in zip(prior.options, weights, strict=True):
            total += weight
            if u < total:
                return option
        return prior.options[-1]
    if isinstance(prior, Normal):
        point = statistics.NormalDist(prior.mu, prior.sigma).inv_cdf(min(max(u, 1e-9), 1 - 1e-9))
        return finish(prior, point)
    if isinstance(prior, (Uniform, LogUniform)):
        if prior.discrete and not prior.log:
            low, high = math.ceil(prior.low), math.floor(prior.high)
            return min(low + int(u * (high - low + 1)), high)
        if prior.log:
            point = math.exp(math.log(prior.low) + u * (math.log(prior.high) - math.log(prior.low)))
        else:
            point = prior.low + u * (prior.high - prior.low)
        return finish(prior, point)
    raise TypeError(f"no quantile function for prior {prior}")


def point_at(space: Mapping[str, Prior], unit: Sequence[float]) -> dict[str, Any]:
    """One point of the space from one point of the unit cube (one coordinate per name)."""
    return {name: value_at(prior, u) for (name, prior), u in zip(space.items(), unit, strict=True)}
