"""What every search algorithm is: a pure function of the history and a seed.

An algorithm object holds only its configuration. Everything it knows about the search
comes from ``history`` (every trial of the experiment, pending ones included), so any
worker can make the next suggestion and a restarted experiment continues where it was.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from orionlite.errors import ConfigError
from orionlite.objectives import Objectives
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space


@dataclass(frozen=True)
class Proposal:
    """Parameters to try next; ``parent_trial_id`` links a promotion to its origin.

    ``known_hash`` is ``hash_params(params)`` when the algorithm already computed it to
    check the point is new, so that it is not computed again (see :attr:`params_hash`).
    """

    params: dict[str, Any]
    parent_trial_id: int | None = None
    known_hash: str | None = field(default=None, compare=False, repr=False)

    @property
    def params_hash(self) -> str:
        return self.known_hash if self.known_hash is not None else hash_params(self.params)


class Algorithm(abc.ABC):
    """Base class: subclasses declare their options as keyword-only constructor arguments."""

    name: ClassVar[str]
    #: Whether the algorithm optimises several objectives (others refuse them at creation).
    multi_objective: ClassVar[bool] = False

    def __init__(self, space: Space, *, seed: int | None = None) -> None:
        self.space = space
        self.seed = seed
        # What to optimise: set by the experiment after construction (it is not an option
        # of the algorithm, so it stays out of the stored configuration).
        self.objectives = Objectives()
        # Mixed into random draws after a worker's proposal collided with another
        # worker's: two workers with one seed and one history would otherwise keep
        # proposing the same point. Zero (one worker, no collision) keeps runs reproducible.
        self.salt = 0
        self._unseeded: tuple[int, np.random.Generator] | None = None

    def rng(self, history: Sequence[TrialRecord]) -> np.random.Generator:
        """The generator for this suggestion's random draws.

        With a seed, a new one seeded by (seed, history length, salt), so that a run
        replays exactly. Without one, one generator per process serves every suggestion
        (seeding from the OS's entropy is costly on the hot path); per process, because
        workers forked from one parent must not draw the same sequence.
        """
        if self.seed is not None:
            return np.random.default_rng([self.seed, len(history), self.salt])
        pid = os.getpid()
        if self._unseeded is None or self._unseeded[0] != pid:
            self._unseeded = (pid, np.random.default_rng())
        return self._unseeded[1]

    def loss(self, trial: TrialRecord) -> float:
        """The trial's (first) objective as a number to minimise: negated when the
        experiment maximises it. Only for trials with a finite objective."""
        assert trial.objective is not None
        return self.objectives.first.sign * trial.objective

    @abc.abstractmethod
    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        """Up to ``num`` new points, none equal to a point already in ``history``.

        An empty list means "nothing to propose right now" (for example, waiting for a
        rung to fill); ``is_done`` tells whether that will ever change.
        """

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        """True once the algorithm will never propose anything again."""
        return False

    def configuration(self) -> dict[str, Any]:
        """Options as stored with the experiment (and compared when joining it)."""
        return {"seed": self.seed}


def check_options(algorithm: str, given: dict[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            f"Algorithm {algorithm!r} has no option {', '.join(map(repr, unknown))}.",
            hint=f"Its options are: {', '.join(allowed)}.",
        )
