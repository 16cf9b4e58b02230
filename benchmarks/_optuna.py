"""Optuna's side of the benchmarks: ``study.optimize`` over its RDBStorage, defaults kept.

Each process loads the study and optimises its share of the trials, which is how Optuna's
documentation parallelises over processes. Only the per-trial log line is silenced (as
orionlite's are, since the benchmark configures no logging); everything else is Optuna's
default: RDBStorage's own engine settings, RandomSampler for random search.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from _common import WARM_UP_TRIALS, WorkerResult, objective

# Errors a worker may hit and retry: every other exception ends the worker.
_MAX_ERRORS = 50


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: Any) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", 1e-4, 1, log=True)
    return objective(x, y)


def create(url: str, name: str, seed: int | None = None) -> None:
    import optuna

    _quiet()
    storage = optuna.storages.RDBStorage(url)
    optuna.create_study(
        storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    storage.remove_session()
    storage.engine.dispose()


def worker(
    url: str, name: str, n_trials: int, keep_stamps: bool = False
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """One process optimising ``n_trials`` of the shared study.

    A storage error inside ``optimize`` (for example SQLite's "database is locked") ends
    that call; it is counted and the worker resumes with the trials it still owes, so
    the run finishes and the errors a user would have seen are reported.
    """

    def prepare() -> Any:
        import os

        import optuna

        _quiet()
        storage = optuna.storages.RDBStorage(url)
        study = optuna.load_study(
            storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler()
        )
        study.trials  # connects, like the first thing a worker does  # noqa: B018
        # One-time costs left out of trials/s, as for orionlite (_orionlite._warm_up).
        # Best effort: SQLite may refuse a write here ("database is locked") while the
        # other workers warm up too; a worker left cold only counts against Optuna.
        with contextlib.suppress(Exception):
            warm = optuna.create_study(
                storage=storage,
                study_name=f"warm-up-{os.getpid()}",
                sampler=optuna.samplers.RandomSampler(),
                load_if_exists=True,
            )
            warm.optimize(_objective, n_trials=WARM_UP_TRIALS, catch=(Exception,))
        return study

    def run(study: Any, result: WorkerResult) -> None:
        stamps: list[float] = []
        done = 0

        def counted(trial: Any) -> float:
            nonlocal done
            if keep_stamps:
                stamps.append(time.perf_counter())
            value = _objective(trial)
            done += 1
            return value

        while done < n_trials and len(result.errors) < _MAX_ERRORS:
            try:
                study.optimize(counted, n_trials=n_trials - done)
            except Exception as exc:
                result.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        result.trials = done
        if keep_stamps:
            result.extra["stamps"] = stamps

    return prepare, run


def integrity(url: str, name: str) -> dict[str, Any]:
    import optuna

    _quiet()
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(storage=storage, study_name=name)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    points = [tuple(sorted(t.params.items())) for t in complete]
    storage.remove_session()
    storage.engine.dispose()
    return {
        "completed": len(complete),
        "other_status": len(trials) - len(complete),
        "duplicates": len(points) - len(set(points)),
    }


def fill(url: str, name: str, n: int, seed: int = 0) -> None:
    """Add ``n`` completed trials to the study in one transaction, through Optuna's own
    table definitions (``optuna.storages._rdb.models``).

    ``study.add_trials`` commits per trial and manages about 100 trials/s here, so a
    10,000-trial history would take minutes per backend; rows written in bulk are the
    same rows, and the trials measured afterwards run through ``study.optimize`` as usual.
    """
    import datetime
    import random

    import optuna
    from optuna.distributions import FloatDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    _quiet()
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name(name)
    rng = random.Random(seed)
    distributions = {"x": FloatDistribution(-5, 5), "y": FloatDistribution(1e-4, 1, log=True)}
    as_json = {key: distribution_to_json(d) for key, d in distributions.items()}
    now = datetime.datetime.now()
    trial_table = models.TrialModel.__table__
    with storage.engine.begin() as connection:
        start = len(storage.get_all_trials(study_id, deepcopy=False))
        connection.execute(
            trial_table.insert(),
            [
                {
                    "number": start + i,
                    "study_id": study_id,
                    "state": TrialState.COMPLETE,
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for i in range(n)
            ],
        )
        ids = [
            row[0]
            for row in connection.execute(
                trial_table.select()
                .with_only_columns(trial_table.c.trial_id)
                .where(trial_table.c.study_id == study_id, trial_table.c.number >= start)
            )
        ]
        params, values = [], []
        for trial_id in ids:
            point = {"x": rng.uniform(-5, 5), "y": 10 ** rng.uniform(-4, 0)}
            for key, value in point.items():
                params.append(
                    {
                        "trial_id": trial_id,
                        "param_name": key,
                        "param_value": distributions[key].to_internal_repr(value),
                        "distribution_json": as_json[key],
                    }
                )
            values.append(
                {
                    "trial_id": trial_id,
                    "objective": 0,
                    "value": objective(**point),
                    "value_type": models.TrialValueModel.TrialValueType.FINITE,
                }
            )
        connection.execute(models.TrialParamModel.__table__.insert(), params)
        connection.execute(models.TrialValueModel.__table__.insert(), values)
    storage.remove_session()
    storage.engine.dispose()
