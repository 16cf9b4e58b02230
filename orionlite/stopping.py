"""Stop rules: whether a running trial should be stopped, from stored progress alone.

A rule is a pure function of the values the experiment's trials reported (their current
attempts): no state lives in any worker, so every worker judges a trial the same way and
a restarted worker changes nothing. A worker asks its rule once per batch of values it
stores (``orionlite.trial_progress``), with one indexed read of the other trials'
values at the batch's steps.

- ``none``: never stops anything (the default).
- ``median``: stop at step s when the trial's best value so far is worse than the median
  of the other trials' values at step s, once ``min_trials`` of them reached s, from
  step ``warmup_steps`` on (Optuna's MedianPruner).
- ``asha``: asynchronous successive halving over steps: at each rung step
  ``min_step * reduction_factor**k`` the trial continues only if its value there is among
  the best 1/``reduction_factor`` of the values of the trials that reached that rung (at
  least ``reduction_factor`` of them, itself included).
- ``threshold``: stop when a value is above ``upper`` or below ``lower``, or not finite.

Imports nothing heavy: ``hunt`` validates ``--early-stop`` with it before anything runs.
"""

from __future__ import annotations

import json
import math
import numbers
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orionlite.errors import ConfigError

RULES = ("none", "median", "asha", "threshold")
# Every option of every rule, with its default: stored in full with the experiment, so a
# change of default never changes how an existing experiment is judged.
DEFAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "median": {"min_trials": 5, "warmup_steps": 0},
    # min_step 3: judged first at step 1, asha lost the best configurations (those that
    # start slowly) on 2 seeds of 3 in docs/benchmarks.md; from step 3 it kept them.
    "asha": {"min_step": 3, "reduction_factor": 3},
    "threshold": {"lower": None, "upper": None},
}
_HINT = (
    "Use --early-stop none|median|asha|threshold with --early-stop-config JSON, e.g. "
    '--early-stop median --early-stop-config \'{"min_trials": 5, "warmup_steps": 2}\'; '
    "options: median: min_trials, warmup_steps; asha: min_step, reduction_factor; "
    "threshold: lower, upper."
)

Point = tuple[int, float]


def normalize_early_stop(
    rule: str | Mapping[str, Any] | None, config: Mapping[str, Any] | str | None = None
) -> dict[str, dict[str, Any]]:
    """``{"median": {...every option...}}`` (``{"none": {}}`` for None); ConfigError if the rule
    or an option is unknown or out of range. Accepts ``"median"`` with ``config``, or
    ``{"median": {...}}`` as stored."""
    options: dict[str, Any] = {}
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"The early-stop config {config!r} is not JSON: {exc}.", hint=_HINT
            ) from None
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError(
            f"The early-stop config must be a JSON object, not {config!r}.", hint=_HINT
        )
    if isinstance(rule, Mapping):
        if len(rule) != 1:
            raise ConfigError(f"An early-stop rule names one rule, not {dict(rule)!r}.", hint=_HINT)
        ((rule, stored),) = rule.items()
        if not isinstance(stored, Mapping):
            raise ConfigError(f"The options of {rule!r} must be an object.", hint=_HINT)
        options.update(stored)
    options.update(config or {})
    name = "none" if rule is None else rule
    if name not in RULES:
        raise ConfigError(f"Unknown early-stop rule {name!r}.", hint=_HINT)
    unknown = sorted(set(options) - set(DEFAULTS[name]))
    if unknown:
        raise ConfigError(
            f"The early-stop rule {name!r} has no option {', '.join(map(repr, unknown))}"
            + (f" (its options: {', '.join(DEFAULTS[name])})." if DEFAULTS[name] else "."),
            hint=_HINT,
        )
    full = {**DEFAULTS[name], **options}
    _check(name, full)
    return {name: full}


def _check(name: str, options: dict[str, Any]) -> None:
    def integer(key: str, minimum: int) -> None:
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(
                f"The early-stop option {key} of {name!r} must be an integer >= {minimum}, "
                f"not {value!r}.",
                hint=_HINT,
            )

    if name == "median":
        integer("min_trials", 1)
        integer("warmup_steps", 0)
    elif name == "asha":
        integer("min_step", 1)
        integer("reduction_factor", 2)
    elif name == "threshold":
        for key in ("lower", "upper"):
            value = options[key]
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
            ):
                raise ConfigError(
                    f"The early-stop option {key} of 'threshold' must be a finite number or "
                    f"null, not {value!r}.",
                    hint=_HINT,
                )
        if options["lower"] is None and options["upper"] is None:
            raise ConfigError(
                "The early-stop rule 'threshold' needs 'lower', 'upper' or both.", hint=_HINT
            )
        if (
            options["lower"] is not None
            and options["upper"] is not None
            and options["lower"] > options["upper"]
        ):
            raise ConfigError(
                f"The early-stop option lower ({options['lower']}) is above upper "
                f"({options['upper']}).",
                hint=_HINT,
            )


@dataclass(frozen=True)
class StopRule:
    """A normalised rule (see :func:`normalize_early_stop`)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> StopRule:
        ((name, options),) = normalize_early_stop(spec or None).items()
        return cls(name, options)

    @property
    def stops_anything(self) -> bool:
        return self.name != "none"

    def stops_non_finite(self) -> bool:
        """Whether a NaN or infinite value stops the trial (only ``threshold`` says so)."""
        return self.name == "threshold"

    def steps_to_compare(self, new_steps: Sequence[int]) -> list[int]:
        """The steps of a new batch at which other trials' values are needed."""
        if self.name == "median":
            # The batch's last step only: the best value so far only falls, so a trial
            # worse than the median there is judged as at any earlier step of the batch,
            # and one read serves however many values the batch holds.
            last = max(new_steps, default=-1)
            return [last] if last >= self.options["warmup_steps"] else []
        if self.name == "asha":
            return [s for s in new_steps if self._is_rung(s)]
        return []

    def _is_rung(self, step: int) -> bool:
        rung = self.options["min_step"]
        factor = self.options["reduction_factor"]
        while rung < step:
            rung *= factor
        return rung == step

    def decide(
        self, own: Sequence[Point], new: Sequence[Point], others: Mapping[int, Sequence[float]]
    ) -> str | None:
        """Why the trial should stop, or None to let it go on.

        ``own``: every point of the trial so far (the new batch included), in step order;
        ``new``: the batch just stored; ``others``: the other trials' values at the steps
        :meth:`steps_to_compare` named.
        """
        if self.name == "threshold":
            return self._threshold(new)
        if self.name == "median":
            return self._median(own, new, others)
        if self.name == "asha":
            return self._asha(new, others)
        return None

    def _threshold(self, new: Sequence[Point]) -> str | None:
        lower, upper = self.options["lower"], self.options["upper"]
        for step, value in new:
            if upper is not None and value > upper:
                return f"its value {value:.6g} at step {step} is above upper={upper}"
            if lower is not None and value < lower:
                return f"its value {value:.6g} at step {step} is below lower={lower}"
        return None

    def _median(
        self, own: Sequence[Point], new: Sequence[Point], others: Mapping[int, Sequence[float]]
    ) -> str | None:
        needed = self.options["min_trials"]
        for step in self.steps_to_compare([s for s, _ in new]):
            values = others.get(step, ())
            if len(values) < needed:
                continue
            best = min(value for s, value in own if s <= step)
            median = statistics.median(values)
            if best > median:
                return (
                    f"its best value {best:.6g} by step {step} is worse than the median "
                    f"{median:.6g} of {len(values)} other trials at that step"
                )
        return None

    def _asha(self, new: Sequence[Point], others: Mapping[int, Sequence[float]]) -> str | None:
        factor = self.options["reduction_factor"]
        for step, value in new:
            if not self._is_rung(step):
                continue
            values = sorted([*others.get(step, ()), value])
            if len(values) < factor:
                continue
            kept = max(1, len(values) // factor)
            if value > values[kept - 1]:
                return (
                    f"its value {value:.6g} at rung step {step} is not among the best "
                    f"{kept} of the {len(values)} trials that reached it"
                )
        return None
