"""ASHA and the budget ladder: rungs and promotions read from hand-made histories."""

from __future__ import annotations

from typing import Any

import pytest

from orionlite.algorithms import make_algorithm
from orionlite.algorithms.asha import ASHA
from orionlite.algorithms.ladder import budgets
from orionlite.errors import ConfigError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Fidelity, Space, hash_params

SPACE = Space.from_priors({"lr": "uniform(0, 1)", "epochs": "fidelity(1, 9, base=3)"})


def record(
    trial_id: int,
    lr: float,
    epochs: float,
    objective: float | None = None,
    status: TrialStatus = TrialStatus.COMPLETED,
    parent: int | None = None,
) -> TrialRecord:
    params = {"lr": lr, "epochs": epochs}
    return TrialRecord(
        trial_id,
        1,
        params,
        hash_params(params),
        status,
        objective=objective if status is TrialStatus.COMPLETED else None,
        parent_trial_id=parent,
    )


def rung0(objectives: list[float]) -> list[TrialRecord]:
    """One completed trial per objective at the lowest budget; lr = id / 100."""
    return [record(i, i / 100, 1, value) for i, value in enumerate(objectives, start=1)]


@pytest.mark.parametrize(
    ("prior", "expected"),
    [
        (Fidelity(1, 81, base=3), [1, 3, 9, 27, 81]),
        (Fidelity(1, 16), [1, 2, 4, 8, 16]),
        (Fidelity(1, 100), [1, 2, 5, 10, 22, 46, 100]),
        (Fidelity(0.1, 1.0, base=3), [0.1, 0.316228, 1.0]),
    ],
)
def test_rung_budgets_go_from_low_to_high_by_about_base(
    prior: Fidelity, expected: list[Any]
) -> None:
    assert budgets(prior) == expected
    assert all(prior.contains(value) for value in expected)
    assert [type(v) for v in expected] == [type(prior.low)] * len(expected)


def test_the_top_third_is_promoted_best_first_then_new_configurations() -> None:
    asha = ASHA(SPACE, seed=0)
    history = rung0([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4])  # 9 // 3 = 3 promotions
    order = []
    for next_id in range(10, 13):
        (proposal,) = asha.suggest(history, 1)
        assert proposal.parent_trial_id is not None
        parent = history[proposal.parent_trial_id - 1]
        assert proposal.params == {"lr": parent.params["lr"], "epochs": 3}
        order.append(proposal.parent_trial_id)
        history.append(
            record(
                next_id,
                parent.params["lr"],
                3,
                status=TrialStatus.RESERVED,
                parent=proposal.parent_trial_id,
            )
        )
    assert order == [2, 6, 4], "objectives 0.1, 0.2, 0.3 in that order"
    (fresh,) = asha.suggest(history, 1)
    assert fresh.parent_trial_id is None
    assert fresh.params["epochs"] == 1
    assert fresh.params["lr"] not in {t.params["lr"] for t in history}


def test_only_completed_trials_count_and_ties_go_to_the_older_trial() -> None:
    asha = ASHA(SPACE, seed=0)
    history = [
        *rung0([0.3, 0.3]),
        record(3, 0.03, 1, status=TrialStatus.RESERVED),
        record(4, 0.04, 1, status=TrialStatus.BROKEN),
        record(5, 0.05, 1, status=TrialStatus.INTERRUPTED),
    ]
    # Two completed trials: 2 // 3 = 0 promotions, whatever the others will give.
    assert asha.suggest(history, 1)[0].parent_trial_id is None
    history.append(record(6, 0.06, 1, 0.3))
    (proposal,) = asha.suggest(history, 1)
    assert proposal.parent_trial_id == 1, "equal objectives: the older trial wins"


def test_higher_rungs_are_promoted_first_and_the_top_rung_never() -> None:
    asha = ASHA(SPACE, seed=0)
    history = rung0([0.5, 0.4, 0.3, 0.2, 0.1, 0.6])  # top 6 // 3 = 2: trials 5 and 4
    history += [
        record(7, 0.05, 3, 0.05, parent=5),
        record(8, 0.04, 3, 0.04, parent=4),
        record(9, 0.03, 3, 0.5, parent=3),  # rung 1: top 3 // 3 = 1 is trial 8
        record(10, 0.5, 9, 0.0),  # a top-rung trial has nowhere to go
        record(11, 0.11, 1, 0.7),
        record(12, 0.12, 1, 0.8),
        record(13, 0.13, 1, 0.05),  # rung 0 now has 9: top 3 are trials 13, 5, 4
    ]
    due = asha.promotions(history)
    assert [(p.parent_trial_id, p.params["epochs"]) for p in due] == [(8, 9), (13, 3)]
    (first,) = asha.suggest(history, 1)
    assert first == due[0]
    history.append(record(14, 0.04, 9, status=TrialStatus.RESERVED, parent=8))
    assert [p.parent_trial_id for p in asha.promotions(history)] == [13]


def test_a_broken_promotion_is_not_retried_and_its_parent_stays_promoted() -> None:
    asha = ASHA(SPACE, seed=0)
    history = [*rung0([0.1, 0.5, 0.6]), record(4, 0.01, 3, status=TrialStatus.BROKEN, parent=1)]
    (proposal,) = asha.suggest(history, 1)
    assert proposal.parent_trial_id is None, "trial 1 was promoted already (its child broke)"
    assert proposal.params["epochs"] == 1


def test_suggestions_are_a_function_of_seed_and_history() -> None:
    history = rung0([0.5, 0.4])
    first = ASHA(SPACE, seed=3).suggest(history, 2)
    assert first == ASHA(SPACE, seed=3).suggest(history, 2)
    assert len({hash_params(p.params) for p in first}) == 2


def test_a_finite_space_is_done_once_every_configuration_went_as_far_as_it_can() -> None:
    space = Space.from_priors({"c": "choices(['a', 'b', 'c'])", "epochs": "fidelity(1, 4)"})
    asha = make_algorithm({"asha": {"seed": 0}}, space)
    history: list[TrialRecord] = []
    objectives = {"a": 0.3, "b": 0.1, "c": 0.2}
    while proposals := asha.suggest(history, 1):
        proposal = proposals[0]
        params = proposal.params
        history.append(
            TrialRecord(
                len(history) + 1,
                1,
                params,
                hash_params(params),
                TrialStatus.COMPLETED,
                objective=objectives[params["c"]] / params["epochs"],
                parent_trial_id=proposal.parent_trial_id,
            )
        )
        assert len(history) < 20
    assert asha.is_done(history)
    # Rung 1 (epochs 1): 3 // 2 = 1 promotion, of the best; rung 2 then holds a single
    # trial, and 1 // 2 = 0: nobody reaches the top rung.
    assert sorted((t.params["c"], t.params["epochs"]) for t in history) == [
        ("a", 1),
        ("b", 1),
        ("b", 2),
        ("c", 1),
    ]


def test_asha_is_never_done_in_a_continuous_space() -> None:
    asha = ASHA(SPACE, seed=0)
    assert not asha.is_done(rung0([0.1] * 30))


@pytest.mark.parametrize(
    ("space", "options", "fragment"),
    [
        ({"lr": "uniform(0, 1)"}, {}, "needs a fidelity dimension"),
        ({"e": "fidelity(1, 1.5)"}, {}, "has a single rung"),
        ({"e": "fidelity(1, 16)"}, {"num_rungs": 1}, "num_rungs must be a whole number >= 2"),
        ({"e": "fidelity(1, 16)"}, {"rungs": 3}, "has no option 'rungs'"),
        ({"e": "fidelity(1, 16)"}, {"seed": -1}, "seed must be a whole number >= 0"),
    ],
)
def test_bad_configuration_is_a_config_error(
    space: dict[str, str], options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_algorithm({"asha": options}, Space.from_priors(space))
    assert fragment in caught.value.message
