"""ASHA: asynchronous successive halving (Li et al., 2018) over the fidelity dimension.

Every new configuration starts at the lowest budget. Whenever a worker asks for work, the
best ``1/base`` of each rung's completed trials earn the next budget; a trial is promoted
by creating a new trial with the same configuration, the next budget, and
``parent_trial_id`` pointing at it. Rungs and promotions are therefore rows of the trials
table: a worker killed at any moment loses no rung, and any worker (or a later ``hunt``)
carries on from the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.algorithms.common import Seen, check_seed, completed, pending, seen_hashes
from orionlite.algorithms.ladder import Ladder, started_configurations
from orionlite.algorithms.random_search import space_size
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

_DRAWS_PER_POINT = 100


class ASHA(Algorithm):
    """Promote the top ``1/base`` of each rung, else start a new configuration.

    ``is_done`` stays False while any configuration is left to try (always, in a space
    with a continuous dimension): bound the experiment with ``--max-trials``.
    """

    name = "asha"

    def __init__(
        self, space: Space, *, seed: int | None = None, num_rungs: int | None = None
    ) -> None:
        super().__init__(space, seed=check_seed(self.name, seed))
        self.num_rungs = num_rungs
        self.ladder = Ladder(space, self.name, num_rungs)

    def configuration(self) -> dict[str, Any]:
        return {"seed": self.seed, "num_rungs": self.num_rungs}

    def promotions(self, history: Sequence[TrialRecord]) -> list[Proposal]:
        """Every promotion due now, best first from the highest rung down.

        A trial is due when it ranks in the top ``len(rung) // base`` of its rung's
        completed trials (ties broken by trial id) and no trial names it as parent yet.
        """
        ladder = self.ladder
        promoted = {trial.parent_trial_id for trial in history if trial.parent_trial_id is not None}
        seen = seen_hashes(history)
        rungs = ladder.by_rung(completed(history))
        due: list[Proposal] = []
        for rung in range(ladder.top - 1, -1, -1):
            ranked = sorted(rungs.get(rung, []), key=lambda trial: (self.loss(trial), trial.id))
            for trial in ranked[: len(ranked) // ladder.base]:
                if trial.id in promoted:
                    continue
                params = ladder.at(trial.params, rung + 1)
                if hash_params(params) not in seen:
                    due.append(Proposal(params, parent_trial_id=trial.id))
        return due

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        proposals = self.promotions(history)[:num]
        seen = seen_hashes(history)
        rng = self.rng(history)
        while len(proposals) < num:
            params = self._new_configuration(rng, seen)
            if params is None:
                break
            seen.add(hash_params(params))
            proposals.append(Proposal(params))
        return proposals

    def _new_configuration(self, rng: np.random.Generator, seen: Seen) -> dict[str, Any] | None:
        for _ in range(_DRAWS_PER_POINT):
            params = self.ladder.at(self.space.sample(rng), 0)
            if hash_params(params) not in seen:
                return params
        return None

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        """Only a finite space can be used up: every configuration started, none running,
        and no promotion due."""
        if pending(history) or self.promotions(history):
            return False
        return started_configurations(history, self.ladder) >= space_size(self.space)
