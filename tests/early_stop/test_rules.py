"""The stop rules as pure functions of stored progress, and their validation."""

from __future__ import annotations

import pytest

from orionlite.errors import ConfigError
from orionlite.stopping import DEFAULTS, StopRule, normalize_early_stop


def test_normalized_rules_hold_every_option() -> None:
    assert normalize_early_stop("median") == {"median": DEFAULTS["median"]}
    assert normalize_early_stop(None) == {"none": {}}
    assert normalize_early_stop("asha", '{"reduction_factor": 4}') == {
        "asha": {"min_step": 3, "reduction_factor": 4}
    }
    stored = normalize_early_stop({"threshold": {"upper": 3}})
    assert stored == {"threshold": {"lower": None, "upper": 3}}
    assert normalize_early_stop(stored) == stored  # a stored rule reads back the same


@pytest.mark.parametrize(
    ("rule", "config", "message"),
    [
        ("mediann", None, "Unknown early-stop rule 'mediann'"),
        ("median", {"min_trial": 3}, "has no option 'min_trial'"),
        ("median", {"min_trials": 0}, "min_trials of 'median' must be an integer >= 1"),
        ("asha", {"reduction_factor": 1}, "reduction_factor of 'asha' must be an integer >= 2"),
        ("asha", {"min_step": 1.5}, "min_step of 'asha' must be an integer >= 1"),
        ("threshold", {}, "needs 'lower', 'upper' or both"),
        ("threshold", {"upper": "high"}, "upper of 'threshold' must be a finite number"),
        ("threshold", {"lower": 2, "upper": 1}, "lower (2) is above upper (1)"),
        ("median", "{not json", "is not JSON"),
        ("median", "[1]", "must be a JSON object"),
        ("none", {"x": 1}, "has no option 'x'"),
    ],
)
def test_bad_rules_say_what_is_wrong(rule: str, config: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_early_stop(rule, config)  # type: ignore[arg-type]
    assert message in info.value.message
    assert "--early-stop" in (info.value.hint or "")


def test_none_never_stops() -> None:
    rule = StopRule.from_spec(None)
    assert not rule.stops_anything
    assert rule.decide([(1, 1e9)], [(1, 1e9)], {1: [0.0] * 10}) is None


def test_median_stops_a_trial_worse_than_the_median_of_others() -> None:
    rule = StopRule.from_spec({"median": {"min_trials": 3}})
    others = {2: [0.1, 0.2, 0.3]}
    assert rule.steps_to_compare([1, 2]) == [2]
    # Best so far (0.25 at step 1) is worse than the median (0.2): stop.
    reason = rule.decide([(1, 0.25), (2, 0.4)], [(2, 0.4)], others)
    assert reason is not None and "median 0.2 of 3 other trials" in reason
    # Its best so far (0.15) beats the median: go on.
    assert rule.decide([(1, 0.15), (2, 0.4)], [(2, 0.4)], others) is None
    # Too few others at the step: go on whatever the value.
    assert rule.decide([(2, 9.0)], [(2, 9.0)], {2: [0.1, 0.2]}) is None


def test_median_waits_for_the_warmup_steps() -> None:
    rule = StopRule.from_spec({"median": {"min_trials": 1, "warmup_steps": 3}})
    assert rule.steps_to_compare([1, 2]) == []
    assert rule.steps_to_compare([1, 2, 3, 4]) == [4]
    assert rule.decide([(2, 9.0)], [(2, 9.0)], {2: [0.0]}) is None
    assert rule.decide([(3, 9.0)], [(3, 9.0)], {3: [0.0]}) is not None


def test_asha_keeps_the_top_third_at_each_rung() -> None:
    rule = StopRule.from_spec({"asha": {"min_step": 1, "reduction_factor": 3}})
    assert [s for s in range(1, 30) if rule.steps_to_compare([s])] == [1, 3, 9, 27]
    others = {3: [0.1, 0.5]}
    assert rule.decide([(3, 0.05)], [(3, 0.05)], others) is None  # best of three
    reason = rule.decide([(3, 0.3)], [(3, 0.3)], others)
    assert reason is not None and "best 1 of the 3 trials" in reason
    # Fewer trials than the reduction factor reached the rung: no judgement yet.
    assert rule.decide([(3, 0.9)], [(3, 0.9)], {3: [0.1]}) is None
    # Not a rung: nothing to judge.
    assert rule.decide([(4, 0.9)], [(4, 0.9)], {4: [0.1, 0.1, 0.1]}) is None


def test_threshold_stops_outside_the_bounds_and_on_non_finite_values() -> None:
    rule = StopRule.from_spec({"threshold": {"lower": 0.0, "upper": 10.0}})
    assert rule.decide([], [(1, 5.0)], {}) is None
    assert "above upper=10.0" in (rule.decide([], [(1, 11.0)], {}) or "")
    assert "below lower=0.0" in (rule.decide([], [(1, -1.0)], {}) or "")
    assert rule.stops_non_finite()
    assert not StopRule.from_spec({"median": {}}).stops_non_finite()


def test_rules_are_pure_functions_of_their_inputs() -> None:
    """Two workers asking with the same stored progress get the same answer."""
    spec = {"median": {"min_trials": 2}}
    own, new, others = [(1, 0.5)], [(1, 0.5)], {1: [0.1, 0.3]}
    first = StopRule.from_spec(spec).decide(own, new, others)
    assert first is not None
    assert StopRule.from_spec(spec).decide(own, new, others) == first
    assert spec == {"median": {"min_trials": 2}}  # not modified
    assert (own, new, others) == ([(1, 0.5)], [(1, 0.5)], {1: [0.1, 0.3]})
