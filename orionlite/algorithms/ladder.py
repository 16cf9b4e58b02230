"""The budget ladder shared by asha and hyperband: rungs of the fidelity dimension.

A rung is one value of the fidelity dimension. A trial's rung is read from its own
parameters, and a promotion is a new trial whose ``parent_trial_id`` names the trial it
continues, so every fact the two algorithms need is a row of the trials table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from orionlite.algorithms.common import check_int
from orionlite.errors import ConfigError
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Fidelity, Space


def budgets(prior: Fidelity, num_rungs: int | None = None) -> list[Any]:
    """Rung budgets from ``low`` to ``high``, each about ``base`` times the previous one.

    By default there are ``floor(log_base(high / low)) + 1`` rungs, spaced evenly on a log
    scale with both ends exact (as in Oríon): ``fidelity(1, 81, base=3)`` gives 1, 3, 9,
    27, 81, and ``fidelity(1, 100)`` gives 1, 2, 5, 10, 22, 46, 100. Integer bounds give
    integer budgets (epochs), float bounds give floats (a data fraction).
    """
    low, high, base = prior.low, prior.high, prior.base
    ratio = high / low
    derived = math.floor(math.log(ratio) / math.log(base) + 1e-9) + 1
    count = derived if num_rungs is None else num_rungs
    integral = isinstance(low, int) and isinstance(high, int)
    if integral:
        count = min(count, int(high) - int(low) + 1)
    if count == 1:
        return [high]
    values: list[Any] = []
    for k in range(count):
        value = low * ratio ** (k / (count - 1))
        if k == count - 1:
            value = high
        elif k == 0:
            value = low
        if integral:
            value = round(value)
            # Rounding may merge neighbours when rungs are close: keep them increasing.
            if values and value <= values[-1]:
                value = values[-1] + 1
        else:
            value = float(f"{value:.6g}") if 0 < k < count - 1 else float(value)
        values.append(value)
    return values


class Ladder:
    """The fidelity dimension of a space and its rungs."""

    def __init__(self, space: Space, algorithm: str, num_rungs: int | None) -> None:
        fidelity = space.fidelity
        if fidelity is None:
            raise ConfigError(
                f"Algorithm {algorithm!r} needs a fidelity dimension (the budget, e.g. "
                "epochs), and the space has none.",
                hint="Add one to the command, e.g. --epochs~'fidelity(1, 81, base=3)'.",
            )
        self.name, self.prior = fidelity
        if num_rungs is not None:
            check_int(algorithm, "num_rungs", num_rungs, 2)
        self.base = self.prior.base
        self.budgets = budgets(self.prior, num_rungs)
        if len(self.budgets) < 2:
            raise ConfigError(
                f"Algorithm {algorithm!r}: {self.name}~'{self.prior}' has a single rung: "
                f"high must be at least low * base ({self.prior.low} * {self.base}).",
                hint="Widen the fidelity range or lower its base, e.g. fidelity(1, 16, base=2).",
            )
        self._rung_of = {value: index for index, value in enumerate(self.budgets)}

    @property
    def top(self) -> int:
        return len(self.budgets) - 1

    def rung_of(self, trial: TrialRecord) -> int | None:
        """The rung a trial ran at, or None when its budget is no rung (another algorithm's)."""
        value = trial.params.get(self.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return self._rung_of.get(value)

    def at(self, params: dict[str, Any], rung: int) -> dict[str, Any]:
        """The same configuration with the budget of ``rung``."""
        moved = dict(params)
        moved[self.name] = self.budgets[rung]
        return moved

    def by_rung(self, trials: Iterable[TrialRecord]) -> dict[int, list[TrialRecord]]:
        groups: dict[int, list[TrialRecord]] = {}
        for trial in trials:
            rung = self.rung_of(trial)
            if rung is not None:
                groups.setdefault(rung, []).append(trial)
        return groups


def started_configurations(history: Iterable[TrialRecord], ladder: Ladder) -> int:
    """How many distinct configurations (parameters but the budget) have been tried."""
    return len(
        {
            hash_params({k: v for k, v in trial.params.items() if k != ladder.name})
            for trial in history
        }
    )
