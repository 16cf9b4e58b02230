"""Test functions of the quality benchmark, with their search spaces and known minima."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(x: Sequence[float]) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; three global minima of 0.397887."""
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x: Sequence[float]) -> float:
    """Hartmann 6-d on [0, 1]^6; global minimum -3.32237 (a local one at -3.20316)."""
    point = np.asarray(x, dtype=float)
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (point - _P) ** 2, axis=1))))


@dataclass(frozen=True)
class Problem:
    name: str
    function: Callable[[Sequence[float]], float]
    bounds: list[tuple[float, float]]
    minimum: float

    @property
    def names(self) -> list[str]:
        return [f"x{i + 1}" for i in range(len(self.bounds))]

    def priors(self) -> dict[str, str]:
        """The space as orionlite priors (default precision: 4 significant digits)."""
        return {
            name: f"uniform({low}, {high})"
            for name, (low, high) in zip(self.names, self.bounds, strict=True)
        }

    def regret(self, value: float) -> float:
        return value - self.minimum


PROBLEMS = {
    "branin": Problem("Branin", branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887357729739),
    "hartmann6": Problem("Hartmann6", hartmann6, [(0.0, 1.0)] * 6, -3.32236801141551),
}
