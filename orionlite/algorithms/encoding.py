"""The search space as bayes's surrogate model sees it: every dimension encoded into
[0, 1] columns (one per number, one per option of a choice), and back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from orionlite.algorithms.common import (
    NORMAL_SPAN,
    finish,
)
from orionlite.space import Choices, Fidelity, LogUniform, Normal, Uniform

if TYPE_CHECKING:
    from orionlite.space import Prior, Space


@dataclass(frozen=True)
class _Dimension:
    """How one dimension of the space is encoded into [0, 1] columns for the model."""

    name: str
    prior: Prior
    kind: str  # "real", "int" or "cat"
    column: int  # first column
    low: float = 0.0  # bounds of a numeric dimension, in value space
    high: float = 1.0
    log: bool = False
    options: tuple[Any, ...] = ()

    @property
    def width(self) -> int:
        return len(self.options) if self.kind == "cat" else 1


class Encoding:
    """The search space as the model sees it: numbers in [0, 1].

    This is scikit-optimize's own mapping with ``transform="normalize"``: uniform ->
    ``Real``, loguniform -> ``Real(prior="log-uniform")`` (normalised in log space),
    discrete -> ``Integer`` (kept on its integers), choices -> ``Categorical`` (one-hot),
    normal -> ``Real`` over mu ± 4 sigma. The fidelity dimension, and any dimension with a
    single possible value, is fixed (fidelity at ``high``) and left out of the model.
    The encoding is vectorised here because candidates are encoded by the thousand.
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.fixed: dict[str, Any] = {}
        self.dimensions: list[_Dimension] = []
        column = 0
        for name, prior in space.items():
            dimension = _encode_dimension(name, prior, column)
            if dimension is None:
                self.fixed[name] = prior.high if isinstance(prior, Fidelity) else _only(prior)
                continue
            self.dimensions.append(dimension)
            column += dimension.width
        self.width = column

    def skopt_dimensions(self) -> list[Any]:
        """The scikit-optimize dimensions this encoding is equivalent to."""
        from skopt.space import Categorical, Integer, Real

        result: list[Any] = []
        for dim in self.dimensions:
            prior = "log-uniform" if dim.log else "uniform"
            if dim.kind == "cat":
                result.append(Categorical(list(dim.options), name=dim.name))
            elif dim.kind == "int":
                result.append(
                    Integer(
                        int(dim.low),
                        int(dim.high),
                        prior=prior,
                        name=dim.name,
                        transform="normalize",
                    )
                )
            else:
                result.append(
                    Real(dim.low, dim.high, prior=prior, name=dim.name, transform="normalize")
                )
        return result

    def _to_unit(self, dim: _Dimension, values: np.ndarray) -> np.ndarray:
        if dim.log:
            scaled = (np.log(values) - math.log(dim.low)) / (math.log(dim.high) - math.log(dim.low))
        else:
            scaled = (values - dim.low) / (dim.high - dim.low)
        return np.clip(scaled, 0.0, 1.0)

    def _from_unit(self, dim: _Dimension, units: np.ndarray) -> np.ndarray:
        units = np.clip(units, 0.0, 1.0)
        if dim.log:
            return np.exp(math.log(dim.low) + units * (math.log(dim.high) - math.log(dim.low)))
        return dim.low + units * (dim.high - dim.low)

    def encode(self, points: Sequence[dict[str, Any]]) -> np.ndarray:
        """Rows of model inputs for parameter dicts (values outside the box are clipped)."""
        rows = np.zeros((len(points), self.width))
        for dim in self.dimensions:
            values = [point.get(dim.name) for point in points]
            if dim.kind == "cat":
                for row, value in enumerate(values):
                    for index, option in enumerate(dim.options):
                        if type(option) is type(value) and option == value:
                            rows[row, dim.column + index] = 1.0
                            break
            else:
                numbers = np.array(
                    [float(v) if isinstance(v, (int, float)) else dim.low for v in values]
                )
                if dim.log:
                    numbers = np.maximum(numbers, dim.low)
                rows[:, dim.column] = self._to_unit(dim, numbers)
        return rows

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        """The parameters of one model input, rounded as the priors round them."""
        params: dict[str, Any] = {}
        for name in self.space:
            if name in self.fixed:
                params[name] = self.fixed[name]
        for dim in self.dimensions:
            if dim.kind == "cat":
                block = row[dim.column : dim.column + dim.width]
                params[dim.name] = dim.options[int(np.argmax(block))]
            else:
                value = float(self._from_unit(dim, np.array([row[dim.column]]))[0])
                params[dim.name] = finish(dim.prior, value)
        return {name: params[name] for name in self.space}

    def snap(self, rows: np.ndarray) -> np.ndarray:
        """Move candidates onto points that exist: integers, one category per block."""
        for dim in self.dimensions:
            if dim.kind == "int":
                values = np.clip(
                    np.round(self._from_unit(dim, rows[:, dim.column])), dim.low, dim.high
                )
                rows[:, dim.column] = self._to_unit(dim, values)
            elif dim.kind == "cat":
                block = rows[:, dim.column : dim.column + dim.width]
                chosen = np.argmax(block, axis=1)
                block[:] = 0.0
                block[np.arange(len(rows)), chosen] = 1.0
        return rows

    def random(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Uniform candidates over the encoded box."""
        rows = rng.uniform(size=(count, self.width))
        return self.snap(rows)

    def around(
        self, rng: np.random.Generator, centers: np.ndarray, count: int, scales: np.ndarray
    ) -> np.ndarray:
        """``count`` Gaussian steps around each center, one step size per candidate.

        A categorical dimension switches to a random category with a probability that
        grows with the step size.
        """
        origin = np.repeat(centers, count, axis=0)
        steps = np.tile(scales, len(centers))[:, None]
        rows = origin + rng.normal(size=origin.shape) * steps
        for dim in self.dimensions:
            if dim.kind == "cat":
                span = slice(dim.column, dim.column + dim.width)
                switch = rng.uniform(size=len(rows)) < np.minimum(1.0, 2.0 * steps[:, 0])
                rows[:, span] = origin[:, span]
                rows[switch, span] = rng.uniform(size=(int(switch.sum()), dim.width))
        rows = np.clip(rows, 0.0, 1.0)
        return self.snap(rows)


def _only(prior: Prior) -> Any:
    """The value of a prior that has exactly one."""
    if isinstance(prior, Choices):
        return prior.options[0]
    assert isinstance(prior, (Uniform, LogUniform))
    return math.ceil(prior.low)


def _encode_dimension(name: str, prior: Prior, column: int) -> _Dimension | None:
    if isinstance(prior, Fidelity):
        return None
    if isinstance(prior, Choices):
        if len(prior.options) == 1:
            return None
        return _Dimension(name, prior, "cat", column, options=tuple(prior.options))
    if isinstance(prior, Normal):
        low = prior.mu - NORMAL_SPAN * prior.sigma
        high = prior.mu + NORMAL_SPAN * prior.sigma
        if prior.discrete:
            low, high = math.floor(low), math.ceil(high)
        return _Dimension(name, prior, "int" if prior.discrete else "real", column, low, high)
    assert isinstance(prior, (Uniform, LogUniform))
    if prior.discrete:
        low, high = math.ceil(prior.low), math.floor(prior.high)
        if low == high:
            return None
        return _Dimension(name, prior, "int", column, low, high, log=prior.log)
    return _Dimension(name, prior, "real", column, prior.low, prior.high, log=prior.log)
