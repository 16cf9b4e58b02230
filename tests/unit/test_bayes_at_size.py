"""bayes at a thousand trials: the model keeps to the best and most recent trials, the
kernel is fitted on few of them and only at checkpoints, the switch is an option, and
experiments created before it keep their configuration."""

from __future__ import annotations

import numpy as np

from orionlite.algorithms import algorithm_spec, make_algorithm
from orionlite.algorithms.bayes import (
    MAX_FIT_POINTS,
    MAX_MODEL_POINTS,
    BayesianOptimizer,
    best_and_recent,
    hyperparameter_fit_size,
)
from orionlite.objectives import Objective, Objectives
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params

SPACE = Space.from_priors({f"x{i}": "uniform(0, 1)" for i in range(3)})


def history(count: int, pending: int = 0) -> list[TrialRecord]:
    rng = np.random.default_rng(0)
    trials = []
    for trial_id in range(1, count + pending + 1):
        params = SPACE.sample(rng)
        done = trial_id <= count
        trials.append(
            TrialRecord(
                trial_id,
                1,
                params,
                hash_params(params),
                TrialStatus.COMPLETED if done else TrialStatus.RESERVED,
                objective=float(sum((v - 0.3) ** 2 for v in params.values())) if done else None,
            )
        )
    return trials


def test_subset_is_the_best_half_and_the_most_recent_rest() -> None:
    trials = history(100)
    kept = best_and_recent(trials, Objectives(), 20)
    assert len(kept) == 20
    assert [t.id for t in kept] == sorted(t.id for t in kept), "history order kept"
    best = sorted(trials, key=lambda t: t.objective or 0.0)[:10]
    assert {t.id for t in best} <= {t.id for t in kept}
    assert {91, 92, 93, 94, 95, 96, 97, 98, 99, 100} - {t.id for t in best} <= {t.id for t in kept}
    assert best_and_recent(trials, Objectives(), 100) is trials


def test_subset_follows_the_direction() -> None:
    trials = history(100)
    kept = best_and_recent(trials, Objectives((Objective(None, "maximize"),)), 20)
    worst_by_minimum = max(trials, key=lambda t: t.objective or 0.0)
    assert worst_by_minimum in kept


def test_a_thousand_trials_with_four_pending_give_new_points() -> None:
    trials = history(1000, pending=4)
    algorithm = make_algorithm({"bayes": {"seed": 0, "n_points": 200}}, SPACE)
    (proposal,) = algorithm.suggest(trials, 1)
    assert SPACE.contains(proposal.params)
    assert proposal.params_hash not in {t.params_hash for t in trials}


def test_the_switch_is_stored_only_when_changed() -> None:
    default = algorithm_spec(make_algorithm("bayes", SPACE))["bayes"]
    assert "max_model_points" not in default, "older experiments still match"
    changed = algorithm_spec(make_algorithm({"bayes": {"max_model_points": 50}}, SPACE))
    assert changed["bayes"]["max_model_points"] == 50
    assert MAX_MODEL_POINTS == 300


def test_the_kernel_is_fitted_on_few_trials_and_only_at_checkpoints() -> None:
    """A refit costs O(n^3) per likelihood evaluation: the kernel sees at most
    MAX_FIT_POINTS trials (never a pending one), and a worker whose history grows refits
    only when the count of completed trials crosses a checkpoint (every 64 here)."""
    trials = history(1090, pending=4)
    completed, running = trials[:1090], trials[1090:]
    algorithm = make_algorithm({"bayes": {"seed": 0, "n_points": 200}}, SPACE)
    assert isinstance(algorithm, BayesianOptimizer)
    for count in (1020, 1023, 1024, 1030, 1087, 1088, 1090):
        algorithm.suggest(completed[:count] + running, 1)
    fits = algorithm.fitted_on()
    assert [hyperparameter_fit_size(c) for c in (1020, 1024, 1088)] == [960, 1024, 1088]
    assert len(fits) == 3, "one fit per checkpoint: 960, 1024 and 1088"
    for ids, checkpoint in zip(fits, (960, 1024, 1088), strict=True):
        assert len(ids) == MAX_FIT_POINTS == 64
        assert max(ids) <= checkpoint, "only trials the checkpoint covers"
        assert not set(ids) & {t.id for t in running}


def test_a_large_seed_fits_the_kernel() -> None:
    """The fit's random state is derived from the seed and must stay below 2**32."""
    algorithm = make_algorithm({"bayes": {"seed": 10**6, "n_points": 50}}, SPACE)
    (proposal,) = algorithm.suggest(history(15), 1)
    assert SPACE.contains(proposal.params)
