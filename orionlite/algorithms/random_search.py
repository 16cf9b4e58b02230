"""Random search: independent draws from the priors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.space import Choices, Fidelity, LogUniform, Uniform, hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

_DRAWS_PER_POINT = 100


def space_size(space: Space) -> float:
    """How many distinct points the space holds (inf when any dimension is continuous)."""
    size = 1.0
    for prior in space.values():
        if isinstance(prior, Choices):
            size *= len(prior.options)
        elif isinstance(prior, (Uniform, LogUniform)) and prior.discrete:
            size *= int(prior.high) - int(prior.low) + 1
        elif not isinstance(prior, Fidelity):
            return math.inf
    return size


class RandomSearch(Algorithm):
    """Seeded by (seed, number of trials so far), so one worker replays exactly.

    With several workers, two of them may draw at the same history length; the unique
    constraint then refuses the second copy and that worker draws again with a salt of
    its own (see ``Algorithm.salt``).
    """

    name = "random"

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        seen = {trial.params_hash for trial in history}
        rng = np.random.default_rng(self.rng_seed(history))
        proposals: list[Proposal] = []
        for _ in range(num):
            for _ in range(_DRAWS_PER_POINT):
                params = self.space.sample(rng)
                key = hash_params(params)
                if key not in seen:
                    seen.add(key)
                    proposals.append(Proposal(params))
                    break
        return proposals

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        return len({trial.params_hash for trial in history}) >= space_size(self.space)
