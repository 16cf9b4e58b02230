"""The search space: the ordered dimensions of an experiment, each a prior (the prior
language is in :mod:`orionlite.priors`, whose names are re-exported here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from orionlite.errors import PriorError, SpaceError
from orionlite.priors import (
    CONFIG_PREFIX,
    Choices,
    Fidelity,
    LogUniform,
    Normal,
    Prior,
    Uniform,
    parse_prior,
    prior_from_json,
)


class Space(Mapping[str, Prior]):
    """The ordered dimensions of an experiment: name -> prior.

    Two spaces are equal when they map the same names to equal priors (order aside), which
    is what joining an existing experiment requires.
    """

    def __init__(self, priors: Mapping[str, Prior]) -> None:
        self._priors = dict(priors)
        example = "--lr~'loguniform(1e-5, 1)' after the command, or space={'lr': 'uniform(0, 1)'}"
        if not self._priors:
            raise SpaceError("The search space is empty.", hint=f"Define a dimension: {example}")
        for name, prior in self._priors.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"Dimension name {name!r} is not a non-empty string.")
            if not isinstance(prior, Prior):
                raise SpaceError(f"Dimension {name!r} is not a prior: {prior!r}.")
        fidelities = [name for name, prior in self._priors.items() if isinstance(prior, Fidelity)]
        if len(fidelities) > 1:
            raise SpaceError(
                f"Only one fidelity dimension is allowed, got {', '.join(fidelities)}.",
                hint="Keep fidelity(...) on the budget (e.g. epochs) and use uniform for others",
            )

    @classmethod
    def from_priors(cls, priors: Mapping[str, str | Prior]) -> Space:
        """Build from prior texts or objects; a bad text names its dimension."""
        parsed: dict[str, Prior] = {}
        for name, prior in priors.items():
            try:
                parsed[name] = parse_prior(prior) if isinstance(prior, str) else prior
            except PriorError as exc:
                raise PriorError(f"Dimension {name!r}: {exc.message}", hint=exc.hint) from None
        return cls(parsed)

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, Any]]) -> Space:
        return cls({name: prior_from_json(prior) for name, prior in data.items()})

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {name: prior.to_json() for name, prior in self._priors.items()}

    def __getitem__(self, name: str) -> Prior:
        return self._priors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._priors)

    def __len__(self) -> int:
        return len(self._priors)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {str(prior)!r}" for name, prior in self._priors.items())
        return f"Space({{{inner}}})"

    @property
    def fidelity(self) -> tuple[str, Fidelity] | None:
        """The budget dimension, if any (asha and hyperband need one)."""
        for name, prior in self._priors.items():
            if isinstance(prior, Fidelity):
                return name, prior
        return None

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One point; the fidelity dimension gets its full budget ``high``."""
        return {name: prior.sample(rng) for name, prior in self._priors.items()}

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Exactly this space's names, each value possible under its prior."""
        if set(params) != set(self._priors):
            return False
        return all(prior.contains(params[name]) for name, prior in self._priors.items())

    def defaults(self) -> dict[str, Any]:
        """Dimensions that have a default: their ``default_value``, or ``high`` for fidelity."""
        items = self._priors.items()
        return {name: prior.default for name, prior in items if prior.default is not None}


def hash_params(params: Mapping[str, Any]) -> str:
    """SHA-256 of the parameters' canonical JSON: the key that stops a point running twice.

    Canonical means sorted keys and no spaces, so the hash is the same in every process.
    The int 1 and the float 1.0 hash differently, like the JSON stored for them: algorithms
    return ints only for discrete dimensions, so a point always hashes the same way. Values
    must be plain JSON types (no numpy scalars, no NaN), else TypeError or ValueError.
    """
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = [
    "CONFIG_PREFIX",
    "Choices",
    "Fidelity",
    "LogUniform",
    "Normal",
    "Prior",
    "Space",
    "Uniform",
    "hash_params",
    "parse_prior",
    "prior_from_json",
]
