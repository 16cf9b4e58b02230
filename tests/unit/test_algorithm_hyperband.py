"""Hyperband: brackets and synchronous halving, all read back from the history."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from orionlite.algorithms import make_algorithm
from orionlite.algorithms.hyperband import Bracket, Hyperband, plan_brackets
from orionlite.errors import ConfigError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params

SPACE = Space.from_priors({"x": "uniform(0, 1)", "epochs": "fidelity(1, 4)"})


def objective(params: dict[str, Any]) -> float:
    return (params["x"] - 0.3) ** 2 + 1.0 / params["epochs"]


def add(history: list[TrialRecord], proposal: Any, status: TrialStatus) -> TrialRecord:
    params = proposal.params
    trial = TrialRecord(
        len(history) + 1,
        1,
        params,
        hash_params(params),
        status,
        objective=objective(params) if status is TrialStatus.COMPLETED else None,
        parent_trial_id=proposal.parent_trial_id,
    )
    history.append(trial)
    return trial


def finish(history: list[TrialRecord], index: int) -> None:
    trial = history[index]
    history[index] = TrialRecord(
        trial.id,
        1,
        trial.params,
        trial.params_hash,
        TrialStatus.COMPLETED,
        objective=objective(trial.params),
        parent_trial_id=trial.parent_trial_id,
    )


def test_brackets_follow_li_et_al() -> None:
    # R = 81, eta = 3 (5 rungs): n = 81, 34, 15, 8, 5 starting at rungs 0..4.
    assert plan_brackets(5, 3) == [
        Bracket(0, 81, 4),
        Bracket(1, 34, 3),
        Bracket(2, 15, 2),
        Bracket(3, 8, 1),
        Bracket(4, 5, 0),
    ]
    assert [Bracket(0, 81, 4).planned(i, 3) for i in range(5)] == [81, 27, 9, 3, 1]


def test_a_full_run_makes_every_bracket_and_then_is_done() -> None:
    hyperband = make_algorithm({"hyperband": {"seed": 1}}, SPACE)
    history: list[TrialRecord] = []
    while proposals := hyperband.suggest(history, 1):
        assert not hyperband.is_done(history)
        add(history, proposals[0], TrialStatus.COMPLETED)
        assert len(history) <= 14
    assert hyperband.is_done(history)
    # Rungs 1, 2, 4 (base 2). Brackets: 4 -> 2 -> 1 from epochs 1; 3 -> 1 from 2; 3 at 4.
    assert len(history) == 14
    starters = Counter(t.params["epochs"] for t in history if t.parent_trial_id is None)
    assert starters == {1: 4, 2: 3, 4: 3}
    promoted = Counter(t.params["epochs"] for t in history if t.parent_trial_id is not None)
    assert promoted == {2: 2, 4: 2}
    by_id = {t.id: t for t in history}
    for trial in history:
        if trial.parent_trial_id is not None:
            parent = by_id[trial.parent_trial_id]
            assert trial.params["x"] == parent.params["x"]
            assert trial.params["epochs"] == 2 * parent.params["epochs"]
    # The promoted trials of the first bracket are its two best at epochs 1.
    first = sorted(
        (t for t in history if t.parent_trial_id is None and t.params["epochs"] == 1),
        key=lambda t: t.objective or 0.0,
    )
    from_first = {
        t.parent_trial_id for t in history if t.params["epochs"] == 2 and t.parent_trial_id
    }
    assert from_first == {first[0].id, first[1].id}


def test_a_bracket_promotes_only_once_its_whole_rung_has_finished() -> None:
    hyperband = Hyperband(SPACE, seed=0)
    history: list[TrialRecord] = []
    for proposal in hyperband.suggest(history, 4):  # bracket 1: 4 configurations at epochs 1
        add(history, proposal, TrialStatus.RESERVED)
    for index in range(3):
        finish(history, index)
    (nxt,) = hyperband.suggest(history, 1)
    assert nxt.parent_trial_id is None, "one trial of the rung still runs: no promotion"
    assert nxt.params["epochs"] == 2, "meanwhile the next bracket starts"
    finish(history, 3)
    (promotion,) = hyperband.suggest(history, 1)
    best = min(history, key=lambda t: t.objective or 0.0)
    assert promotion.parent_trial_id == best.id
    assert promotion.params == {"x": best.params["x"], "epochs": 2}


def test_waiting_on_running_trials_is_not_done() -> None:
    hyperband = Hyperband(SPACE, seed=0)
    history: list[TrialRecord] = []
    for proposal in hyperband.suggest(history, 10):  # every configuration of every bracket
        add(history, proposal, TrialStatus.RESERVED)
    assert hyperband.suggest(history, 1) == []
    assert not hyperband.is_done(history)


def test_a_new_instance_continues_from_the_history_alone() -> None:
    history: list[TrialRecord] = []
    worker = Hyperband(SPACE, seed=5)
    for _ in range(6):
        (proposal,) = worker.suggest(history, 1)
        add(history, proposal, TrialStatus.COMPLETED)
    restarted = Hyperband(SPACE, seed=5)
    assert restarted.suggest(history, 3) == worker.suggest(history, 3)


def test_repetitions_run_the_brackets_again() -> None:
    hyperband = Hyperband(SPACE, seed=0, repetitions=2)
    history: list[TrialRecord] = []
    while proposals := hyperband.suggest(history, 1):
        add(history, proposals[0], TrialStatus.COMPLETED)
        assert len(history) <= 28
    assert len(history) == 28
    assert hyperband.is_done(history)


def test_broken_trials_are_left_out_of_the_ranking() -> None:
    hyperband = Hyperband(SPACE, seed=0)
    history: list[TrialRecord] = []
    for proposal in hyperband.suggest(history, 4):
        add(history, proposal, TrialStatus.COMPLETED)
    best = min(history, key=lambda t: t.objective or 0.0)
    index = history.index(best)
    history[index] = TrialRecord(
        best.id, 1, best.params, best.params_hash, TrialStatus.BROKEN, error="boom"
    )
    promotions = [p for p in hyperband.suggest(history, 2) if p.parent_trial_id]
    assert len(promotions) == 2
    assert best.id not in {p.parent_trial_id for p in promotions}


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"repetitions": 0}, "repetitions must be a whole number >= 1"),
        ({"num_rungs": "3"}, "num_rungs must be a whole number >= 2"),
        ({"brackets": 2}, "has no option 'brackets'"),
    ],
)
def test_bad_configuration_is_a_config_error(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_algorithm({"hyperband": options}, SPACE)
    assert fragment in caught.value.message
