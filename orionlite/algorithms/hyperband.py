"""Hyperband (Li et al., 2017): successive halving in brackets of different aggressiveness.

With ``R`` rungs and ``eta = base``, bracket ``s`` (``s = R - 1 ... 0``) starts
``n_s = ceil(R / (s + 1) * eta ** s)`` configurations at rung ``R - 1 - s`` and keeps the
best ``1/eta`` at each of its ``s`` promotions, so the last bracket is plain random search
at the full budget. Unlike ASHA, a bracket promotes only once every trial of its current
rung has finished: that is Hyperband's synchronous successive halving.

Nothing is remembered outside the trials table. A configuration's bracket is the rung it
started at (trials without a parent); with ``repetitions`` > 1 the configurations that
started at one rung are split, in id order, into consecutive groups of ``n_s``. A
bracket's later rungs are the children (``parent_trial_id``) of its promoted trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.algorithms.common import Seen, check_int, check_seed, completed, pending, seen_hashes
from orionlite.algorithms.ladder import Ladder, started_configurations
from orionlite.algorithms.random_search import space_size
from orionlite.records import TrialStatus
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

_DRAWS_PER_POINT = 100
_FINISHED = (TrialStatus.COMPLETED, TrialStatus.BROKEN, TrialStatus.PRUNED)


@dataclass(frozen=True)
class Bracket:
    """``size`` configurations start at rung ``start`` and are halved ``stages`` times."""

    start: int
    size: int
    stages: int

    def planned(self, stage: int, base: int) -> int:
        """How many trials the plan puts at ``stage`` (0 = the starting rung)."""
        return self.size // base**stage


@dataclass
class _State:
    """Where one bracket stands, read from the history."""

    missing: int = 0  # configurations still to start
    promotions: list[Proposal] = field(default_factory=list)
    exhausted: bool = False  # nothing will ever be proposed for it again


class Hyperband(Algorithm):
    """Hyperband brackets over the fidelity dimension, ``repetitions`` times.

    ``is_done`` becomes True once every bracket has made its last promotion (its last
    trials may still be running): hunt then leaves with "exhausted".
    """

    name = "hyperband"

    def __init__(
        self,
        space: Space,
        *,
        seed: int | None = None,
        num_rungs: int | None = None,
        repetitions: int = 1,
    ) -> None:
        super().__init__(space, seed=check_seed(self.name, seed))
        self.num_rungs = num_rungs
        self.repetitions = check_int(self.name, "repetitions", repetitions, 1)
        self.ladder = Ladder(space, self.name, num_rungs)
        self.brackets = plan_brackets(len(self.ladder.budgets), self.ladder.base)

    def configuration(self) -> dict[str, Any]:
        return {"seed": self.seed, "num_rungs": self.num_rungs, "repetitions": self.repetitions}

    def states(self, history: Sequence[TrialRecord]) -> list[tuple[Bracket, _State]]:
        """Each (repetition, bracket) in the order they are filled, with its state."""
        ladder = self.ladder
        seen = seen_hashes(history)
        children: dict[int, list[TrialRecord]] = {}
        for trial in history:
            if trial.parent_trial_id is not None:
                children.setdefault(trial.parent_trial_id, []).append(trial)
        starters = ladder.by_rung(t for t in history if t.parent_trial_id is None)
        groups: dict[tuple[int, int], list[TrialRecord]] = {}
        for bracket in self.brackets:
            for index, trial in enumerate(starters.get(bracket.start, [])):
                repetition = min(index // bracket.size, self.repetitions - 1)
                groups.setdefault((repetition, bracket.start), []).append(trial)
        states = []
        for repetition in range(self.repetitions):
            for bracket in self.brackets:
                members = groups.get((repetition, bracket.start), [])
                states.append((bracket, self._state(bracket, members, children, seen)))
        return states

    def _state(
        self,
        bracket: Bracket,
        members: list[TrialRecord],
        children: dict[int, list[TrialRecord]],
        seen: Seen,
    ) -> _State:
        ladder = self.ladder
        if len(members) < bracket.size:
            return _State(missing=bracket.size - len(members))
        for stage in range(bracket.stages + 1):
            if stage == bracket.stages:
                return _State(exhausted=True)
            if any(trial.status not in _FINISHED for trial in members):
                return _State()  # waiting for this rung to finish
            ranked = sorted(completed(members), key=lambda trial: (self.loss(trial), trial.id))
            quota = min(bracket.planned(stage + 1, ladder.base), len(ranked))
            if quota == 0:
                return _State(exhausted=True)
            winners = ranked[:quota]
            due = []
            for trial in winners:
                if trial.id in children:
                    continue
                params = ladder.at(trial.params, bracket.start + stage + 1)
                if hash_params(params) not in seen:
                    due.append(Proposal(params, parent_trial_id=trial.id))
            if due:
                return _State(promotions=due)
            members = [child for trial in winners for child in children.get(trial.id, [])]
        raise AssertionError("unreachable")

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        states = self.states(history)
        proposals = [p for _, state in states for p in state.promotions][:num]
        seen = seen_hashes(history)
        rng = self.rng(history)
        for bracket, state in states:
            while state.missing and len(proposals) < num:
                params = self._new_configuration(rng, seen, bracket.start)
                if params is None:
                    return proposals
                seen.add(hash_params(params))
                proposals.append(Proposal(params))
                state.missing -= 1
        return proposals

    def _new_configuration(
        self, rng: np.random.Generator, seen: Seen, rung: int
    ) -> dict[str, Any] | None:
        for _ in range(_DRAWS_PER_POINT):
            params = self.ladder.at(self.space.sample(rng), rung)
            if hash_params(params) not in seen:
                return params
        return None

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        """Every bracket made its last promotion, or a finite space ran out of new
        configurations with nothing left running or due."""
        states = self.states(history)
        if all(state.exhausted for _, state in states):
            return True
        if pending(history) or any(state.promotions for _, state in states):
            return False
        return started_configurations(history, self.ladder) >= space_size(self.space)


def plan_brackets(num_rungs: int, base: int) -> list[Bracket]:
    """Li et al.'s brackets for ``num_rungs`` rungs, most exploratory first."""
    s_max = num_rungs - 1
    brackets = []
    for s in range(s_max, -1, -1):
        size = math.ceil((s_max + 1) / (s + 1) * base**s)
        brackets.append(Bracket(start=s_max - s, size=size, stages=s))
    return brackets
