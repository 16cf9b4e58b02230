"""Fixtures for tests that drive the Storage seam directly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orionlite.storage import Storage


def _new_experiment(storage: Storage, max_trials: int | None = None) -> int:
    """An experiment named "exp" with an empty space; returns its id."""
    record = storage.create_experiment(
        {
            "name": "exp",
            "version": 1,
            "space": {},
            "algorithm": {"random": {"seed": None}},
            "command": None,
            "max_trials": max_trials,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert record is not None
    return record.id


@pytest.fixture
def new_experiment() -> Callable[..., int]:
    return _new_experiment
