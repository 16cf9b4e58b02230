"""Bayesian optimisation: dimension mapping, constant liar, purity, options."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from orionlite.algorithms import algorithm_spec, make_algorithm
from orionlite.algorithms.bayes import BayesianOptimizer, Encoding, hyperparameter_fit_size
from orionlite.errors import ConfigError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params

MIXED = Space.from_priors(
    {
        "lr": "loguniform(1e-5, 1)",
        "units": "uniform(8, 512, discrete=True)",
        "opt": "choices(['adam', 'sgd', 'rmsprop'])",
        "dropout": "uniform(0, 0.5)",
        "momentum": "normal(0.9, 0.02)",
        "epochs": "fidelity(1, 27, base=3)",
    }
)


def mixed_objective(params: dict[str, Any]) -> float:
    penalty = {"adam": 0.0, "sgd": 0.3, "rmsprop": 0.1}[params["opt"]]
    return (
        (math.log10(params["lr"]) + 3) ** 2
        + (params["units"] - 100) ** 2 / 1e4
        + (params["dropout"] - 0.2) ** 2
        + penalty
    )


def trial(trial_id: int, params: dict[str, Any], objective: float | None) -> TrialRecord:
    status = TrialStatus.RESERVED if objective is None else TrialStatus.COMPLETED
    return TrialRecord(trial_id, 1, params, hash_params(params), status, objective=objective)


def completed_history(space: Space, objective: Any, count: int, seed: int = 0) -> list[TrialRecord]:
    rng = np.random.default_rng(seed)
    history = []
    for trial_id in range(1, count + 1):
        params = space.sample(rng)
        history.append(trial(trial_id, params, objective(params)))
    return history


def test_dimensions_map_to_scikit_optimize_dimensions() -> None:
    from skopt.space import Categorical, Integer, Real

    dims = {dim.name: dim for dim in Encoding(MIXED).skopt_dimensions()}
    assert set(dims) == {"lr", "units", "opt", "dropout", "momentum"}, "fidelity left out"
    assert isinstance(dims["lr"], Real) and dims["lr"].prior == "log-uniform"
    assert (dims["lr"].low, dims["lr"].high) == (1e-5, 1)
    assert isinstance(dims["units"], Integer) and (dims["units"].low, dims["units"].high) == (
        8,
        512,
    )
    assert isinstance(dims["opt"], Categorical)
    assert list(dims["opt"].categories) == ["adam", "sgd", "rmsprop"]
    assert isinstance(dims["dropout"], Real) and dims["dropout"].prior == "uniform"
    assert dims["momentum"].low == pytest.approx(0.9 - 4 * 0.02)
    assert dims["momentum"].high == pytest.approx(0.9 + 4 * 0.02)


def test_encoding_agrees_with_scikit_optimize_normalisation() -> None:
    from skopt.space import Space as SkoptSpace

    encoding = Encoding(MIXED)
    points = [MIXED.sample(np.random.default_rng(seed)) for seed in range(20)]
    ours = encoding.encode(points)
    numeric = [dim for dim in encoding.skopt_dimensions() if dim.name != "opt"]
    theirs = SkoptSpace(numeric).transform(
        [[min(max(p[d.name], d.low), d.high) for d in numeric] for p in points]
    )
    columns = [dim.column for dim in encoding.dimensions if dim.kind != "cat"]
    np.testing.assert_allclose(ours[:, columns], theirs, atol=1e-12)
    # log scale: 1e-3 lies halfway between 1e-5 and 1e-1... of [1e-5, 1] it is at 2/5.
    assert encoding.encode([{**points[0], "lr": 1e-3}])[0, 0] == pytest.approx(0.4)
    one_hot = ours[:, encoding.dimensions[2].column : encoding.dimensions[2].column + 3]
    assert (one_hot.sum(axis=1) == 1).all()


def test_proposals_are_points_of_the_space_as_trials_receive_them() -> None:
    history = completed_history(MIXED, mixed_objective, 12)
    algorithm = BayesianOptimizer(MIXED, seed=0, n_initial_points=5)
    for proposal in algorithm.suggest(history, 4):
        params = proposal.params
        assert MIXED.contains(params)
        assert isinstance(params["units"], int)
        assert params["opt"] in ("adam", "sgd", "rmsprop")
        assert params["epochs"] == 27, "fidelity at high"
        for name in ("lr", "dropout", "momentum"):
            assert params[name] == float(f"{params[name]:.4g}"), "rounded like the prior"
        assert hash_params(params) not in {t.params_hash for t in history}


def branin_like(params: dict[str, Any]) -> float:
    return (params["a"] - 0.3) ** 2 + (params["b"] - 0.6) ** 2 + 0.1 * math.sin(9 * params["c"])


@pytest.mark.parametrize("liar", ["cl_min", "cl_mean", "cl_max"])
def test_constant_liar_keeps_eight_concurrent_suggestions_apart(liar: str) -> None:
    space = Space.from_priors({"a": "uniform(0, 1)", "b": "uniform(-5, 5)", "c": "uniform(0, 2)"})
    history = completed_history(space, branin_like, 15)
    algorithm = BayesianOptimizer(space, seed=0, liar=liar)
    proposals: list[dict[str, Any]] = []
    for _ in range(8):  # eight workers, each seeing the others' points as reserved
        (proposal,) = algorithm.suggest(history, 1)
        proposals.append(proposal.params)
        history.append(trial(len(history) + 1, proposal.params, None))
    spans = {"a": 1.0, "b": 10.0, "c": 2.0}
    for first, second in itertools.combinations(proposals, 2):
        gap = max(abs(first[k] - second[k]) / span for k, span in spans.items())
        assert gap > 0.01, f"{first} and {second} are within 1% of the range"


def test_suggestions_depend_only_on_seed_and_history_not_on_the_cache() -> None:
    history = completed_history(MIXED, mixed_objective, 25)
    worker = BayesianOptimizer(MIXED, seed=4)
    # The worker's cache has seen other histories; a fresh process has seen none.
    for cut in (12, 18, 25):
        worker.suggest(history[:cut], 1)
    history.append(trial(26, MIXED.sample(np.random.default_rng(9)), None))
    assert worker.suggest(history, 2) == BayesianOptimizer(MIXED, seed=4).suggest(history, 2)


def test_the_first_points_follow_a_space_filling_design_and_skip_taken_points() -> None:
    algorithm = BayesianOptimizer(MIXED, seed=1, n_initial_points=6)
    design = [p.params for p in algorithm.suggest([], 6)]
    assert len({hash_params(p) for p in design}) == 6
    # A worker that sees the first two as reserved proposes the third, not a copy.
    history = [trial(1, design[0], None), trial(2, design[1], None)]
    assert algorithm.suggest(history, 1)[0].params == design[2]


def test_a_finite_space_is_exhausted_without_repeating_broken_points() -> None:
    space = Space.from_priors(
        {"n": "uniform(1, 4, discrete=True)", "c": "choices(['x', 'y'])", "e": "fidelity(1, 8)"}
    )
    algorithm = BayesianOptimizer(space, seed=0, n_initial_points=3)
    history: list[TrialRecord] = []
    while proposals := algorithm.suggest(history, 1):
        params = proposals[0].params
        assert params["e"] == 8
        broken = len(history) % 3 == 1
        status = TrialStatus.BROKEN if broken else TrialStatus.COMPLETED
        objective = None if broken else params["n"] + (params["c"] == "y")
        history.append(
            TrialRecord(
                len(history) + 1, 1, params, hash_params(params), status, objective=objective
            )
        )
        assert len(history) <= 8
    assert len({t.params_hash for t in history}) == len(history) == 8
    assert algorithm.is_done(history)


@pytest.mark.parametrize("estimator", ["RF", "ET"])
def test_tree_estimators_propose_valid_points(estimator: str) -> None:
    history = completed_history(MIXED, mixed_objective, 8)
    algorithm = make_algorithm({"bayes": {"base_estimator": estimator, "seed": 0}}, MIXED)
    history.append(trial(9, MIXED.sample(np.random.default_rng(5)), None))
    proposals = algorithm.suggest(history, 2)
    assert len(proposals) == 2
    assert all(MIXED.contains(p.params) for p in proposals)


def test_hyperparameters_are_refitted_at_checkpoints_that_thin_out() -> None:
    sizes = [hyperparameter_fit_size(n) for n in range(1, 400)]
    assert sizes[:20] == list(range(1, 21))
    assert all(0 < size <= n for n, size in enumerate(sizes, start=1))
    assert sizes == sorted(sizes)
    for n in range(21, 400):
        assert n - hyperparameter_fit_size(n) < max(2, n // 10)
    assert len(set(sizes[99:200])) < 20, "about one refit per 8 results around 100"


def test_beyond_max_model_points_the_kernel_is_refitted_only_at_checkpoints() -> None:
    """The posterior uses a subset beyond max_model_points, but the kernel comes from the
    whole history: one fit for results 60-63 (one checkpoint), not one per result."""
    history = completed_history(MIXED, mixed_objective, 66)
    worker = BayesianOptimizer(MIXED, seed=2, max_model_points=20)
    assert {hyperparameter_fit_size(n) for n in range(60, 64)} == {60}
    for n in range(60, 64):
        worker.suggest(history[:n], 1)
    assert len(worker._kernels) == 1
    worker.suggest(history[:64], 1)
    assert len(worker._kernels) == 2


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"base_estimator": "GBRT"}, "'GBRT' is not offered"),
        ({"base_estimator": "svm"}, "base_estimator must be one of GP, RF, ET"),
        ({"acq_func": "gp_hedge"}, "acq_func must be one of EI, PI, LCB"),
        ({"liar": "cl_median"}, "liar must be one of cl_min, cl_mean, cl_max"),
        ({"n_initial_points": -1}, "n_initial_points must be a whole number >= 0"),
        ({"xi": "big"}, "xi must be a finite number"),
        ({"n_initial": 3}, "has no option 'n_initial'"),
    ],
)
def test_bad_options_are_config_errors_that_name_the_option(
    options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_algorithm({"bayes": options}, MIXED)
    assert fragment in caught.value.message


def test_options_are_case_insensitive_and_stored_canonically() -> None:
    algorithm = make_algorithm({"bayes": {"base_estimator": "gp", "acq_func": "ei"}}, MIXED)
    spec = algorithm_spec(algorithm)
    assert spec["bayes"]["base_estimator"] == "GP"
    assert spec["bayes"]["acq_func"] == "EI"
    assert algorithm_spec(make_algorithm(spec, MIXED)) == spec
