"""Grid search: the full product, once each, in a history-determined order."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from orionlite.algorithms import algorithm_spec, make_algorithm
from orionlite.algorithms.grid import GridSearch
from orionlite.errors import ConfigError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params


def record(trial_id: int, params: dict[str, Any], status: TrialStatus) -> TrialRecord:
    return TrialRecord(trial_id, 1, params, hash_params(params), status, objective=0.0)


def run_out(algorithm: GridSearch) -> list[dict[str, Any]]:
    """Suggest one point at a time, recording each as reserved, until none is left."""
    history: list[TrialRecord] = []
    while proposals := algorithm.suggest(history, 1):
        assert not algorithm.is_done(history)
        history.append(record(len(history) + 1, proposals[0].params, TrialStatus.RESERVED))
        assert len(history) <= algorithm.size, "suggested more points than the grid has"
    assert algorithm.is_done(history)
    return [trial.params for trial in history]


SPACE = Space.from_priors(
    {
        "lr": "loguniform(1e-4, 1e-1)",
        "opt": "choices(['adam', 'sgd'])",
        "layers": "uniform(1, 3, discrete=True)",
        "epochs": "fidelity(1, 16)",
    }
)


def test_grid_visits_every_combination_once_then_is_done() -> None:
    algorithm = make_algorithm({"grid": {"n_values": 3}}, SPACE)
    assert isinstance(algorithm, GridSearch)
    points = run_out(algorithm)
    expected = itertools.product(SPACE["lr"].grid(3), ["adam", "sgd"], [1, 2, 3], [16])
    as_tuples = [(p["lr"], p["opt"], p["layers"], p["epochs"]) for p in points]
    assert sorted(as_tuples, key=repr) == sorted(expected, key=repr)
    assert len(set(as_tuples)) == len(points) == 3 * 2 * 3
    assert all(SPACE.contains(point) for point in points)
    assert {point["epochs"] for point in points} == {16}, "fidelity stays at high"


def test_grid_skips_points_already_in_history_whatever_their_status() -> None:
    algorithm = GridSearch(SPACE, n_values=2)
    first_three = [p.params for p in algorithm.suggest([], 3)]
    history = [
        record(1, first_three[0], TrialStatus.COMPLETED),
        record(2, first_three[1], TrialStatus.BROKEN),
        record(3, first_three[2], TrialStatus.INTERRUPTED),
    ]
    (nxt,) = algorithm.suggest(history, 1)
    assert nxt.params not in first_three
    assert nxt.params == algorithm.point(3)


def test_per_dimension_n_values() -> None:
    space = Space.from_priors({"a": "uniform(0, 1)", "b": "uniform(0, 1)"})
    algorithm = GridSearch(space, n_values={"a": 2})
    assert algorithm.size == 2 * 5  # b keeps the default of 5
    assert sorted({p["a"] for p in run_out(algorithm)}) == [0.0, 1.0]


def test_seeded_order_is_a_reproducible_permutation() -> None:
    space = Space.from_priors({"a": "uniform(0, 1)", "b": "uniform(0, 10)"})
    plain = run_out(GridSearch(space, n_values=4))
    seeded = run_out(GridSearch(space, n_values=4, seed=7))
    assert seeded == run_out(GridSearch(space, n_values=4, seed=7))
    assert seeded != plain
    assert sorted(seeded, key=repr) == sorted(plain, key=repr)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"n_values": 0}, "n_values must be a whole number >= 1"),
        ({"n_values": "five"}, "n_values must be a whole number >= 1"),
        ({"n_values": {"nope": 3}}, "'nope', which is not a dimension"),
        ({"n_values": {"lr": 1.5}}, "n_values['lr'] must be a whole number"),
        ({"n_value": 3}, "has no option 'n_value'"),
    ],
)
def test_bad_options_are_config_errors_that_name_the_option(
    options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_algorithm({"grid": options}, SPACE)
    assert fragment in caught.value.message


def test_configuration_round_trips_through_the_stored_spec() -> None:
    algorithm = make_algorithm({"grid": {"n_values": {"lr": 4}, "seed": 3}}, SPACE)
    spec = algorithm_spec(algorithm)
    assert spec == {"grid": {"seed": 3, "n_values": {"lr": 4}}}
    assert algorithm_spec(make_algorithm(spec, SPACE)) == spec
