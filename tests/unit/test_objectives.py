"""Declared objectives, constraints, best trial and Pareto front (orionlite.objectives)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orionlite.algorithms.ranking import (
    best_by_hypervolume,
    constrained_ranks,
    crowding_distance,
    greedy_hypervolume_subset,
    hypervolume,
    nondominated_ranks,
)
from orionlite.errors import ConfigError
from orionlite.objectives import (
    Objective,
    Objectives,
    best_of,
    declared,
    dominates,
    feasible,
    nondominated,
    pareto_front,
    parse_objectives,
    violation,
)
from orionlite.outcome import TrialOutcome
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import hash_params

TWO = Objectives((Objective("loss"), Objective("acc", "maximize")))


def trial(trial_id: int, results: list[dict[str, Any]], first: float) -> TrialRecord:
    params = {"i": trial_id}
    return TrialRecord(
        trial_id,
        1,
        params,
        hash_params(params),
        TrialStatus.COMPLETED,
        objective=first,
        results=results,
    )


def two(trial_id: int, loss: float, acc: float, *constraints: float | None) -> TrialRecord:
    results = [
        {"name": "loss", "type": "objective", "value": loss},
        {"name": "acc", "type": "objective", "value": acc},
    ]
    results += [
        {"name": f"c{i}", "type": "constraint", "value": v} for i, v in enumerate(constraints)
    ]
    return trial(trial_id, results, loss)


def one(trial_id: int, value: float, *constraints: float | None) -> TrialRecord:
    results = [{"name": "loss", "type": "objective", "value": value}]
    results += [
        {"name": f"c{i}", "type": "constraint", "value": v} for i, v in enumerate(constraints)
    ]
    return trial(trial_id, results, value)


def test_parse_command_line_and_api_forms() -> None:
    assert parse_objectives(None, None) is None
    assert parse_objectives(["loss", "acc:max"]) == TWO
    assert parse_objectives({"loss": "minimize", "acc": "maximize"}) == TWO
    assert parse_objectives(None, "maximize") == Objectives((Objective(None, "maximize"),))
    assert parse_objectives(["acc:max"]).first == Objective("acc", "maximize")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("objectives", "direction", "phrase"),
    [
        (["loss:up"], None, "The direction of objective 'loss' is 'up'"),
        (["loss", "loss:max"], None, "Objective 'loss' is declared twice"),
        ([":max"], None, "An objective needs a name"),
        (["a", "b"], "maximize", "direction (--maximize) applies to a single objective"),
        (None, "sideways", "The direction of direction is 'sideways'"),
    ],
)
def test_bad_declarations_are_config_errors(
    objectives: Any, direction: str | None, phrase: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_objectives(objectives, direction)
    assert phrase in info.value.message


def test_stored_form_round_trips_and_default_is_null() -> None:
    assert Objectives().to_json() is None
    assert Objectives.from_json(None) == Objectives()
    assert Objectives.from_json(TWO.to_json()) == TWO


def test_results_checked_against_the_declaration_name_the_difference() -> None:
    loss = {"name": "loss", "type": "objective", "value": 1.0}
    acc = {"name": "acc", "type": "objective", "value": 0.5}
    other = {"name": "f1", "type": "objective", "value": 0.5}
    assert TWO.check([loss, acc]) is None
    assert TWO.check([loss]) == "declared 'loss', 'acc'; missing 'acc'"
    assert TWO.check([loss, other]) == "declared 'loss', 'acc'; missing 'acc'; not declared 'f1'"
    assert Objectives().check([other]) is None, "an undeclared single objective takes any name"
    problem = Objectives().check([loss, acc])
    assert problem is not None and "one objective, but the results hold 2" in problem


def test_a_mismatching_outcome_is_broken_with_the_message() -> None:
    loss = {"name": "loss", "type": "objective", "value": 1.0}
    outcome = declared(TrialOutcome(TrialStatus.COMPLETED, 1.0, [loss]), TWO)
    assert outcome.status is TrialStatus.BROKEN
    assert (
        outcome.error
        == "Results do not match the declared objectives: declared 'loss', 'acc'; missing 'acc'."
    )
    acc = {"name": "acc", "type": "objective", "value": 0.25}
    fine = declared(TrialOutcome(TrialStatus.COMPLETED, 0.25, [acc, loss]), TWO)
    assert fine.status is TrialStatus.COMPLETED and fine.objective == 1.0, "the first declared"


def test_constraints_are_satisfied_at_or_below_zero() -> None:
    assert feasible(one(1, 0.0, 0.0, -3.0))
    assert violation(one(1, 0.0, 0.5, 2.0, -1.0)) == 2.5
    assert violation(one(1, 0.0, None)) == float("inf"), "a NaN constraint (stored null)"
    assert feasible(one(1, 0.0)), "a trial reporting no constraint is not held to one"


def test_best_skips_infeasible_trials_and_follows_the_direction() -> None:
    trials = [one(1, 0.1, 5.0), one(2, 0.5), one(3, 0.9)]
    assert best_of(trials, Objectives()).id == 2  # type: ignore[union-attr]
    maximise = Objectives((Objective(None, "maximize"),))
    assert best_of(trials, maximise).id == 3  # type: ignore[union-attr]
    assert best_of([one(1, 0.1, 1.0)], Objectives()) is None


def test_pareto_front_by_directions_without_infeasible_trials() -> None:
    trials = [
        two(1, 1.0, 0.9),  # front
        two(2, 0.5, 0.5),  # front
        two(3, 0.6, 0.4),  # dominated by 2
        two(4, 0.1, 0.99, 1.0),  # would dominate all: infeasible
        two(5, 0.2, 0.1),  # front
    ]
    assert [t.id for t in pareto_front(trials, TWO)] == [5, 2, 1]


@pytest.mark.parametrize("dimensions", [2, 3])
def test_the_front_is_what_pairwise_dominance_says(dimensions: int) -> None:
    """The two-objective sweep and the general loop against the definition, with ties
    and repeated points (a coarse grid makes many)."""
    rng = np.random.default_rng(dimensions)
    # A trade-off (the last loss falls as the others grow), on a coarse grid.
    free = rng.integers(0, 10, size=(60, dimensions - 1))
    last = 10 * (dimensions - 1) - free.sum(axis=1) + rng.integers(0, 3, size=60)
    losses = np.column_stack([free, last]).astype(float).tolist()
    points = [(point, trial_id) for trial_id, point in enumerate(losses)]
    expected = sorted(
        (point, trial_id)
        for point, trial_id in points
        if not any(dominates(other, point) for other, _ in points)
    )
    assert [points[i] for i in nondominated(points)] == expected
    # A front of many points, some repeated: the test can tell orders apart.
    assert len(expected) > 5 and len({tuple(p) for p, _ in expected}) < len(expected)


def test_nondominated_sort_crowding_and_constrained_ranks() -> None:
    losses = np.array([[1, 3], [2, 2], [3, 1], [3, 3], [4, 4]], dtype=float)
    assert nondominated_ranks(losses).tolist() == [0, 0, 0, 1, 2]
    crowding = crowding_distance(losses[:3])
    assert np.isinf(crowding[0]) and np.isinf(crowding[2]) and crowding[1] == pytest.approx(2.0)
    violations = np.array([0.0, 0.0, 2.0, 0.0, 1.0])
    assert constrained_ranks(losses, violations).tolist() == [0, 0, 3, 1, 2]


def test_hypervolume_exact_in_two_and_three_dimensions() -> None:
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), [4, 4]) == 6.0
    assert hypervolume(np.array([[5, 5]]), [4, 4]) == 0.0
    points = np.random.default_rng(0).random((30, 3))
    samples = np.random.default_rng(1).random((100_000, 3))
    estimate = (points[None] <= samples[:, None]).all(axis=2).any(axis=1).mean()
    assert hypervolume(points, [1, 1, 1]) == pytest.approx(estimate, abs=0.01)


def test_single_objective_models_see_infeasible_trials_past_the_worst_feasible() -> None:
    from orionlite.algorithms.common import penalised_losses

    trials = [one(1, 1.0), one(2, 3.0), one(3, 0.5, 2.0), one(4, 0.2, 0.25)]
    losses = penalised_losses(trials, Objectives())
    assert losses[:2] == [1.0, 3.0]
    assert losses[2] == pytest.approx(3.0 + 2.0 * 1.1), "capped violation: one range"
    assert losses[3] == pytest.approx(3.0 + 2.0 * 0.35)
    maximise = Objectives((Objective(None, "maximize"),))
    assert penalised_losses([one(1, 1.0), one(2, 3.0)], maximise) == [-1.0, -3.0]


def test_bayes_maximises_when_the_experiment_does() -> None:
    from orionlite.algorithms import make_algorithm
    from orionlite.space import Space

    space = Space.from_priors({"x": "uniform(0, 1)"})
    algorithm = make_algorithm({"bayes": {"seed": 0, "n_initial_points": 5}}, space)
    algorithm.objectives = Objectives((Objective(None, "maximize"),))
    history: list[TrialRecord] = []
    for trial_id in range(1, 16):
        (proposal,) = algorithm.suggest(history, 1)
        value = -((proposal.params["x"] - 0.8) ** 2)
        history.append(trial(trial_id, [], value))
        history[-1] = TrialRecord(
            trial_id,
            1,
            proposal.params,
            proposal.params_hash,
            TrialStatus.COMPLETED,
            objective=value,
        )
    best = max(history, key=lambda t: t.objective or -1.0)
    assert abs(best.params["x"] - 0.8) < 0.01


def _naive_greedy(points: np.ndarray, size: int) -> list[int]:
    """Greedy hypervolume subset selection written plainly, with the exact hypervolume."""
    worst = points.max(axis=0)
    reference = worst + np.maximum(0.1 * np.abs(worst), 1e-12)
    picked: list[int] = []
    for _ in range(size):
        gains = [
            -np.inf if i in picked else hypervolume(points[[*picked, i]], reference)
            for i in range(len(points))
        ]
        picked.append(int(np.argmax(gains)))
    return sorted(picked)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_hypervolume_subset_in_two_objectives_is_the_plain_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, np.pi / 2, 30))
    front = np.column_stack([1 - np.cos(angles), 1 - np.sin(angles)])  # concave front
    front = front[rng.permutation(30)]
    assert greedy_hypervolume_subset(front, 7).tolist() == _naive_greedy(front, 7)


def test_greedy_hypervolume_subset_in_three_objectives_keeps_most_of_the_volume() -> None:
    """The bounded greedy (three objectives) keeps at least 93 % of the plain greedy's
    hypervolume (95-99 % measured), and more than crowding distance keeps."""
    rng = np.random.default_rng(0)
    for _ in range(6):
        front = np.abs(rng.normal(size=(40, 3)))
        front /= np.linalg.norm(front, axis=1, keepdims=True)
        reference = front.max(axis=0) * 1.1
        chosen = greedy_hypervolume_subset(front, 8)
        plain = _naive_greedy(front, 8)
        crowded = np.argsort(-crowding_distance(front), kind="stable")[:8]
        volume = hypervolume(front[chosen], reference)
        assert len(set(chosen.tolist())) == 8
        assert volume >= 0.93 * hypervolume(front[plain], reference)
        assert volume > hypervolume(front[crowded], reference)


def test_the_below_set_fills_whole_fronts_then_picks_by_hypervolume() -> None:
    # Front 0: rows 0-4 (two extremes and three middle points); front 1: rows 5-6.
    losses = np.array(
        [[0.0, 1.0], [1.0, 0.0], [0.3, 0.32], [0.32, 0.3], [0.6, 0.1], [0.5, 0.5], [0.7, 0.6]]
    )
    feasible = np.zeros(len(losses))
    assert best_by_hypervolume(losses, feasible, 6).tolist() == [0, 1, 2, 3, 4, 5]
    # Three of front 0, by hypervolume contribution: not both extremes, which crowding
    # distance keeps whatever they add.
    assert best_by_hypervolume(losses, feasible, 3).tolist() == [0, 2, 4]
    # Infeasible rows come after every feasible one, by violation.
    violations = np.array([0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0])
    assert best_by_hypervolume(losses, violations, 6).tolist() == [0, 1, 3, 4, 5, 6]
