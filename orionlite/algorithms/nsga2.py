"""NSGA-II (Deb et al., 2002) with generations derived from the history.

Trials are numbered by creation order; trial ``i`` belongs to generation
``i // population_size``. Generation 0 is drawn from the priors. A trial of a later
generation is the child of two parents chosen by binary tournament from the *elite* of
every completed trial created before its generation began: the best ``population_size``
by constrained non-dominated rank (feasible first, infeasible by total violation), then
crowding distance. Children mix their parents by simulated binary crossover (numbers,
in the unit interval of the prior's transformed range) or uniform crossover (choices),
then polynomial mutation.

Nothing is kept between suggestions: the elite is a function of the trials table, so any
worker creates the next child and a restarted experiment continues its generation.
Pending trials need no special care: each suggestion is seeded by the history's length
(see ``Algorithm.rng``), so concurrent workers draw different children.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.algorithms.common import check_int, check_seed, completed, seen_hashes
from orionlite.algorithms.ranking import best_first, constrained_ranks, crowding_distance, scored
from orionlite.algorithms.tpe import _Dims
from orionlite.errors import ConfigError
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

_ATTEMPTS = 20


class NSGA2(Algorithm):
    """Elitist genetic search on the Pareto rank, constraints included."""

    name = "nsga2"
    multi_objective = True

    def __init__(
        self,
        space: Space,
        *,
        seed: int | None = None,
        population_size: int = 50,
        crossover_prob: float = 0.9,
        mutation_prob: float | None = None,
        eta_crossover: float = 20.0,
        eta_mutation: float = 20.0,
    ) -> None:
        super().__init__(space, seed=check_seed(self.name, seed))
        self.population_size = check_int(self.name, "population_size", population_size, 2)
        self.crossover_prob = _probability("crossover_prob", crossover_prob)
        self.mutation_prob = (
            None if mutation_prob is None else _probability("mutation_prob", mutation_prob)
        )
        self.eta_crossover = _positive("eta_crossover", eta_crossover)
        self.eta_mutation = _positive("eta_mutation", eta_mutation)
        self.dims = _Dims(space)

    def configuration(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "population_size": self.population_size,
            "crossover_prob": self.crossover_prob,
            "mutation_prob": self.mutation_prob,
            "eta_crossover": self.eta_crossover,
            "eta_mutation": self.eta_mutation,
        }

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        seen = seen_hashes(history)
        rng = self.rng(history)
        generation = len(history) // self.population_size
        elite = self.elite(history[: generation * self.population_size])
        proposals: list[Proposal] = []
        for _ in range(num):
            params = self._child(elite, seen, rng) if len(elite[0]) >= 2 else None
            if params is None:
                params = self._random_point(seen, rng)
            if params is None:
                break
            params_hash = hash_params(params)
            seen.add(params_hash)
            proposals.append(Proposal(params, known_hash=params_hash))
        return proposals

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        from orionlite.algorithms.random_search import space_size

        return len(seen_hashes(history)) >= space_size(self.space)

    def elite(
        self, earlier: Sequence[TrialRecord]
    ) -> tuple[list[TrialRecord], np.ndarray, np.ndarray]:
        """The parents' pool: the best population_size completed trials of ``earlier``,
        with their constrained rank and crowding distance (for the tournaments)."""
        trials, losses, violations = scored(self.dims.usable(completed(earlier)), self.objectives)
        keep = best_first(losses, violations, self.population_size)[: self.population_size]
        trials = [trials[i] for i in keep]
        losses, violations = losses[keep], violations[keep]
        ranks = constrained_ranks(losses, violations)
        crowding = np.zeros(len(trials))
        for front in np.unique(ranks):
            members = np.flatnonzero(ranks == front)
            crowding[members] = crowding_distance(losses[members])
        return trials, ranks, crowding

    def _random_point(self, seen: Any, rng: np.random.Generator) -> dict[str, Any] | None:
        from orionlite.algorithms.random_search import RandomSearch

        draw = RandomSearch(self.space)._draw_unseen(rng, seen)
        return draw[0] if draw is not None else None

    def _child(
        self,
        elite: tuple[list[TrialRecord], np.ndarray, np.ndarray],
        seen: Any,
        rng: np.random.Generator,
    ) -> dict[str, Any] | None:
        trials, ranks, crowding = elite
        lows = np.array([d.low for d in self.dims.numeric])
        spans = np.array([d.high - d.low for d in self.dims.numeric])
        width = len(self.dims.numeric) + len(self.dims.categorical)
        mutation = self.mutation_prob if self.mutation_prob is not None else 1.0 / max(width, 1)
        for _ in range(_ATTEMPTS):
            first, second = (self._tournament(ranks, crowding, rng) for _ in range(2))
            x, c = self.dims.encode([trials[first].params, trials[second].params])
            unit = (x - lows) / np.where(spans > 0, spans, 1.0)
            child_x, child_c = unit[0].copy(), c[0].copy()
            if rng.random() < self.crossover_prob:
                child_x = _sbx(unit[0], unit[1], self.eta_crossover, rng)
                take = rng.random(len(child_c)) < 0.5
                child_c = np.where(take, c[1], c[0])
            child_x = _polynomial_mutation(child_x, self.eta_mutation, mutation, rng)
            for j, cat in enumerate(self.dims.categorical):
                if rng.random() < mutation:
                    child_c[j] = int(rng.integers(len(cat.options)))
            params = self.dims.decode(lows + child_x * spans, child_c)
            if hash_params(params) not in seen and self.space.contains(params):
                return params
        return None

    @staticmethod
    def _tournament(ranks: np.ndarray, crowding: np.ndarray, rng: np.random.Generator) -> int:
        a, b = (int(i) for i in rng.integers(len(ranks), size=2))
        if ranks[a] != ranks[b]:
            return a if ranks[a] < ranks[b] else b
        return a if crowding[a] >= crowding[b] else b


def _sbx(a: np.ndarray, b: np.ndarray, eta: float, rng: np.random.Generator) -> np.ndarray:
    """Bounded simulated binary crossover in [0, 1]: one child, each coordinate crossed
    with probability 1/2 (Deb and Agrawal, 1995)."""
    child = a.copy()
    low, high = np.minimum(a, b), np.maximum(a, b)
    gap = high - low
    crossing = (rng.random(len(a)) < 0.5) & (gap > 1e-14)
    if not crossing.any():
        return child
    y1, y2, span = low[crossing], high[crossing], gap[crossing]
    u = rng.random(len(y1))
    exponent = 1.0 / (eta + 1.0)

    def spread(beta: np.ndarray) -> np.ndarray:
        alpha = 2.0 - beta ** -(eta + 1.0)
        return np.where(
            u <= 1.0 / alpha,
            (u * alpha) ** exponent,
            (1.0 / (2.0 - u * alpha)) ** exponent,
        )

    c1 = 0.5 * (y1 + y2 - spread(1.0 + 2.0 * y1 / span) * span)
    c2 = 0.5 * (y1 + y2 + spread(1.0 + 2.0 * (1.0 - y2) / span) * span)
    pick = rng.random(len(y1)) < 0.5
    child[crossing] = np.clip(np.where(pick, c1, c2), 0.0, 1.0)
    return child


def _polynomial_mutation(
    x: np.ndarray, eta: float, probability: float, rng: np.random.Generator
) -> np.ndarray:
    """Bounded polynomial mutation in [0, 1] of each coordinate with ``probability``."""
    mutate = rng.random(len(x)) < probability
    if not mutate.any():
        return x
    y = x[mutate]
    u = rng.random(len(y))
    power = 1.0 / (eta + 1.0)
    low_side = 2.0 * u + (1.0 - 2.0 * u) * (1.0 - y) ** (eta + 1.0)
    high_side = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * y ** (eta + 1.0)
    delta = np.where(u < 0.5, low_side**power - 1.0, 1.0 - high_side**power)
    out = x.copy()
    out[mutate] = np.clip(y + delta, 0.0, 1.0)
    return out


def _probability(option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(
            f"Algorithm 'nsga2': {option} must be a number between 0 and 1, got {value!r}.",
            hint=f"Example: --algorithm-config '{{\"{option}\": 0.9}}'",
        )
    return float(value)


def _positive(option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(
            f"Algorithm 'nsga2': {option} must be a positive number, got {value!r}.",
            hint=f"Example: --algorithm-config '{{\"{option}\": 20}}'",
        )
    return float(value)
