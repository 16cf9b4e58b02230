"""Random search: independent draws from the priors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.algorithms.common import Seen, seen_hashes
from orionlite.space import Choices, Fidelity, LogUniform, Prior, Uniform, hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

_DRAWS_PER_POINT = 100
# Finite spaces up to this size are enumerated once random draws keep hitting tried points.
_ENUMERATION_LIMIT = 100_000


def finite_values(prior: Prior) -> list[Any] | None:
    """Every value a dimension can take, or None for a continuous one."""
    if isinstance(prior, Choices):
        return list(prior.options)
    if isinstance(prior, (Uniform, LogUniform)) and prior.discrete:
        return list(range(math.ceil(prior.low), math.floor(prior.high) + 1))
    if isinstance(prior, Fidelity):
        return [prior.high]
    return None


def space_size(space: Space) -> float:
    """How many distinct points the space holds (inf when any dimension is continuous)."""
    size = 1.0
    for prior in space.values():
        values = finite_values(prior)
        if values is None:
            return math.inf
        size *= len(values)
    return size


class RandomSearch(Algorithm):
    """Seeded by (seed, number of trials so far), so one worker replays exactly.

    With several workers, two of them may draw at the same history length; the unique
    constraint then refuses the second copy and that worker draws again with a salt of
    its own (see ``Algorithm.salt``).
    """

    name = "random"
    multi_objective = True

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        seen = seen_hashes(history)
        rng = self.rng(history)
        proposals: list[Proposal] = []
        for _ in range(num):
            drawn = self._draw_unseen(rng, seen)
            if drawn is None:
                break
            params, params_hash = drawn
            seen.add(params_hash)
            proposals.append(Proposal(params, known_hash=params_hash))
        return proposals

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        return len(seen_hashes(history)) >= space_size(self.space)

    def _draw_unseen(
        self, rng: np.random.Generator, seen: Seen
    ) -> tuple[dict[str, Any], str] | None:
        """A point not in ``seen``, with its hash."""
        for _ in range(_DRAWS_PER_POINT):
            params = self.space.sample(rng)
            params_hash = hash_params(params)
            if params_hash not in seen:
                return params, params_hash
        if space_size(self.space) > _ENUMERATION_LIMIT:
            return None
        names = list(self.space)
        columns = [finite_values(self.space[name]) or [] for name in names]
        points = (dict(zip(names, values, strict=True)) for values in itertools.product(*columns))
        unseen = [(p, h) for p in points if (h := hash_params(p)) not in seen]
        return unseen[int(rng.integers(len(unseen)))] if unseen else None
