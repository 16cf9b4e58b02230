"""Fixtures of the user-facing tests (see ux_helpers)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from ux_helpers import add_trial, make_experiment

from orionlite.experiment import Experiment
from orionlite.records import TrialStatus


@pytest.fixture
def quadratic_experiment(storage: Any) -> Experiment:
    """20 completed trials and a broken one; the loss depends most on opt, then lr."""
    experiment = make_experiment(
        storage,
        "quad",
        {
            "lr": "loguniform(1e-4, 1)",
            "layers": "uniform(1, 5, discrete=True)",
            "opt": "choices(['adam', 'sgd'])",
        },
        max_trials=30,
    )
    for i in range(20):
        lr = 10 ** (-4 + 4 * ((i * 7) % 20) / 19)
        layers = 1 + i % 5
        opt = "sgd" if i % 2 else "adam"
        lr = float(f"{lr:.4g}")
        loss = 0.1 * (math.log10(lr) + 2) ** 2 + 0.05 * layers + (0.0 if opt == "adam" else 1.0)
        add_trial(
            experiment,
            {"lr": lr, "layers": layers, "opt": opt},
            loss,
            extra_results=[{"name": "accuracy", "type": "statistic", "value": 1 - loss / 10}],
        )
    add_trial(experiment, {"lr": 0.5, "layers": 2, "opt": "sgd"}, None, status=TrialStatus.BROKEN)
    return experiment


@pytest.fixture(scope="module")
def sqlite_quadratic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Experiment]:
    """The same experiment on SQLite, built once per module, for tests of what is drawn
    or computed from trials (the storage round trips are tested on both backends)."""
    from orionlite.storage import Storage

    folder = tmp_path_factory.mktemp("quad")
    storage = Storage(f"sqlite:///{folder / 'orionlite.db'}")
    yield quadratic_experiment.__wrapped__(storage)  # type: ignore[attr-defined]
    storage.close()


@pytest.fixture
def sqlite_storage(tmp_path: Any) -> Iterator[Any]:
    """SQLite only, for behaviour that does not depend on the backend (the statements
    involved are tested on both backends elsewhere in this folder)."""
    from orionlite.storage import Storage

    store = Storage(f"sqlite:///{tmp_path / 'orionlite.db'}")
    yield store
    store.close()
