"""Grid search: every combination of a few values per dimension, each tried once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.algorithms.common import check_int, check_seed, seen_hashes
from orionlite.errors import ConfigError
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

DEFAULT_N_VALUES = 5


class GridSearch(Algorithm):
    """The Cartesian product of ``Prior.grid(n_values)`` over the dimensions.

    Grid point ``i`` is computed from ``i`` alone (mixed-radix digits), so the grid is never
    materialised: a 10-dimensional grid of 5 values has ~10 million points. A suggestion
    is the first point, in grid order, whose parameters are not in the history; that is a
    function of the history only, so workers that collide simply move on to the next
    point once the winner's row is visible. With a seed, the order is a seeded
    permutation of the indices (an affine map modulo the grid size), which spreads a
    partial run (``--max-trials`` below the grid size) over the whole space instead of
    sweeping the last dimension first.
    """

    name = "grid"
    multi_objective = True

    def __init__(
        self,
        space: Space,
        *,
        seed: int | None = None,
        n_values: int | dict[str, int] = DEFAULT_N_VALUES,
    ) -> None:
        super().__init__(space, seed=check_seed(self.name, seed))
        self.n_values = _check_n_values(space, n_values)
        per_dimension = self.n_values if isinstance(self.n_values, dict) else {}
        default = self.n_values if isinstance(self.n_values, int) else DEFAULT_N_VALUES
        self._names = list(space)
        self._values: list[list[Any]] = [
            space[name].grid(per_dimension.get(name, default)) for name in self._names
        ]
        self.size = math.prod(len(values) for values in self._values)
        self._stride, self._offset = _permutation(self.size, self.seed)

    def point(self, index: int) -> dict[str, Any]:
        """Grid point ``index`` (0 <= index < size) in grid order, seeded order aside."""
        params: dict[str, Any] = {}
        for name, values in zip(reversed(self._names), reversed(self._values), strict=True):
            index, digit = divmod(index, len(values))
            params[name] = values[digit]
        return {name: params[name] for name in self._names}

    def _ordered(self, position: int) -> dict[str, Any]:
        return self.point((position * self._stride + self._offset) % self.size)

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        seen = seen_hashes(history)
        proposals: list[Proposal] = []
        for position in range(self.size):
            if len(proposals) >= num:
                break
            params = self._ordered(position)
            key = hash_params(params)
            if key not in seen:
                seen.add(key)
                proposals.append(Proposal(params))
        return proposals

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        """Done once every grid point is in the history (running ones included)."""
        seen = seen_hashes(history)
        if len(seen) < self.size:
            return False
        return all(hash_params(self.point(index)) in seen for index in range(self.size))

    def configuration(self) -> dict[str, Any]:
        return {"seed": self.seed, "n_values": self.n_values}


def _check_n_values(space: Space, n_values: Any) -> int | dict[str, int]:
    if isinstance(n_values, dict):
        unknown = sorted(set(n_values) - set(space))
        if unknown:
            raise ConfigError(
                f"Algorithm 'grid': n_values names {', '.join(map(repr, unknown))}, which "
                "is not a dimension of the space.",
                hint=f"Dimensions: {', '.join(space)}.",
            )
        return {
            name: check_int("grid", f"n_values[{name!r}]", value, 1)
            for name, value in n_values.items()
        }
    return check_int("grid", "n_values", n_values, 1)


def _permutation(size: int, seed: int | None) -> tuple[int, int]:
    """(stride, offset) of the bijection i -> (stride * i + offset) mod size.

    Any stride coprime with ``size`` gives a permutation; without a seed it is the
    identity so the default order is plain grid order.
    """
    if seed is None or size <= 1:
        return 1, 0
    import numpy as np

    rng = np.random.default_rng([seed, size])
    while True:
        stride = int(rng.integers(1, size))
        if math.gcd(stride, size) == 1:
            return stride, int(rng.integers(0, size))
