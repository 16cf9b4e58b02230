"""Fixtures for tests that drive the Storage seam directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orionlite.records import ExperimentRecord
from orionlite.space import Space
from orionlite.storage import Storage


def _experiment_record(
    storage: Storage,
    max_trials: int | None = None,
    space: dict[str, Any] | None = None,
    seed: int | None = None,
) -> ExperimentRecord:
    """An experiment named "exp", random search, over ``space`` (default: empty)."""
    record = storage.create_experiment(
        {
            "name": "exp",
            "version": 1,
            "space": space or {},
            "algorithm": {"random": {"seed": seed}},
            "command": None,
            "max_trials": max_trials,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert record is not None
    return record


def _new_experiment(storage: Storage, max_trials: int | None = None) -> int:
    """An experiment with an empty space; returns its id."""
    return _experiment_record(storage, max_trials).id


@pytest.fixture
def new_experiment() -> Callable[..., int]:
    return _new_experiment


@pytest.fixture
def sampled_experiment() -> Callable[[Storage, int], ExperimentRecord]:
    """Makes an experiment over x ~ uniform(0, 1), random search seeded 1, of
    ``max_trials``: one a Worker can run to its end."""

    def make(storage: Storage, max_trials: int) -> ExperimentRecord:
        space = Space.from_priors({"x": "uniform(0, 1)"}).to_json()
        return _experiment_record(storage, max_trials, space, seed=1)

    return make
