"""The Python API (SPEC §4): build or open an experiment, then either reserve and report
trials yourself (``suggest`` / ``observe``), or let ``workon`` call a function with any
number of masterless workers.

Everything goes through the same pieces as ``hunt``: :func:`orionlite.creation.build_experiment`
creates or joins with the same rules, :meth:`Experiment.acquire` reserves, and ``workon``
runs the very :class:`~orionlite.worker.Worker` loop of the command line with a
:class:`~orionlite.function_runner.FunctionRunner` in place of the command runner. So a
script using this API and ``hunt`` workers can share one experiment.

This module opens experiments (``build_experiment``, ``get_experiment``); the client class
is :class:`~orionlite.experiment_client.ExperimentClient` (exported as
``orionlite.ExperimentClient``), the trial :class:`~orionlite.trial.Trial`, and how
``workon`` ends :mod:`orionlite.workon`. ``orionlite.experiment.Experiment`` is the
internal object a client wraps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from orionlite.api_arguments import check_count
from orionlite.creation import build_experiment as _build_experiment
from orionlite.errors import (
    ConfigError,
    ExperimentConflictError,
    ExperimentNotFoundError,
)
from orionlite.experiment import ExperimentSettings, open_experiment
from orionlite.experiment_client import ExperimentClient
from orionlite.objectives import parse_objectives
from orionlite.space import Prior, Space
from orionlite.storage import Storage
from orionlite.trial import Trial
from orionlite.worker import DEFAULT_HEARTBEAT_S
from orionlite.workon import WorkonResult


def build_experiment(
    name: str,
    space: Mapping[str, str | Prior] | Space | None = None,
    algorithm: str | dict[str, Any] | None = None,
    max_trials: int | None = None,
    max_broken: int | None = None,
    storage: str | Storage | None = None,
    working_dir: str | None = None,
    version: int | None = None,
    *,
    branch: str | None = None,
    heartbeat: float = DEFAULT_HEARTBEAT_S,
    early_stop: str | dict[str, Any] | None = None,
    objectives: Mapping[str, str] | Sequence[str] | None = None,
    direction: str | None = None,
) -> ExperimentClient:
    """Create the experiment, or join it: the same rules as ``hunt`` (SPEC §6).

    ``space`` maps names to priors (``{"lr": "loguniform(1e-5, 1)"}``); joining an
    existing experiment needs none. A different space or algorithm than the stored one
    raises ExperimentConflictError showing the difference; ``max_trials``/``max_broken``
    given for an existing experiment replace the stored values. ``storage`` is a URL
    (default ``$ORIONLITE_STORAGE``, else ``sqlite:///orionlite.db``). ``branch``, like
    ``hunt --branch``, creates or joins a child of ``name`` whose history starts with the
    parent's compatible trials. ``heartbeat`` is the interval, in seconds, at which held
    trials are kept alive. ``early_stop``, like ``hunt --early-stop``, is the rule that
    stops trials on the values they report: ``"median"``, ``{"asha": {"min_step": 1}}``...
    (see docs/early-stopping.md); stored with the experiment. ``objectives`` declares what
    trials report, e.g. ``{"loss": "minimize", "accuracy": "maximize"}``;
    ``direction="maximize"`` maximises the one objective. Both are stored; a different
    declaration when joining is a conflict, like a different space.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"The experiment name must be a non-empty string, not {name!r}.")
    for option, value in (("max_trials", max_trials), ("max_broken", max_broken)):
        if value is not None:
            check_count(option, value)
    if version is not None:
        check_count("version", version)
    rule = None
    if early_stop is not None:
        from orionlite.stopping import normalize_early_stop

        rule = normalize_early_stop(early_stop)
    declared = parse_objectives(objectives, direction)
    store = _storage(storage)
    settings = ExperimentSettings(
        name=name,
        space=_space(space),
        algorithm=algorithm,
        command=None,
        max_trials=max_trials,
        max_broken=max_broken,
        working_dir=working_dir,
        version=version,
        branch=branch,
        early_stop=rule,
        objectives=declared,
    )
    try:
        with _api_errors(name, store):
            experiment = _build_experiment(store, settings)
    except BaseException:
        if store is not storage:  # made here: nobody else would close its connections
            store.close()
        raise
    return ExperimentClient(experiment, heartbeat=heartbeat)


@contextlib.contextmanager
def _api_errors(name: str, store: Storage) -> Iterator[None]:
    """Errors of the shared experiment code, with hints in Python terms."""
    try:
        yield
    except ExperimentNotFoundError as exc:
        raise ExperimentNotFoundError(
            f"No experiment {name!r} in {store.display_url} to join, and no space to "
            "create it with.",
            hint=f"Pass the search space: build_experiment({name!r}, "
            "space={'lr': 'loguniform(1e-5, 1)'}).",
        ) from exc
    except ExperimentConflictError as exc:
        raise ExperimentConflictError(
            exc.message,
            hint=f"Start a child experiment that keeps the compatible trials with "
            f"build_experiment({name!r}, ..., branch='NEW_NAME'), open the stored one with "
            f"get_experiment({name!r}), join another version with version=N, or choose "
            "another name.",
        ) from None


def get_experiment(
    name: str, version: int | None = None, storage: str | Storage | None = None
) -> ExperimentClient:
    """An existing experiment, read-only (newest version unless one is given): trials,
    best_trial, stats and to_pandas work; suggest, observe and workon raise."""
    store = _storage(storage)
    try:
        experiment = open_experiment(store, name, version)
    except BaseException:
        if store is not storage:
            store.close()
        raise
    return ExperimentClient(experiment, read_only=True)


def _storage(storage: str | Storage | None) -> Storage:
    if storage is None or isinstance(storage, str):
        return Storage(storage)
    if isinstance(storage, Storage):
        return storage
    raise ConfigError(
        f"storage must be a URL or a Storage, not {storage!r}.",
        hint="Example: storage='sqlite:///tuning.db' or 'postgresql://user@host/db'.",
    )


def _space(space: Mapping[str, str | Prior] | Space | None) -> Space | None:
    if space is None or isinstance(space, Space):
        return space
    if isinstance(space, Mapping):
        return Space.from_priors(dict(space))
    raise ConfigError(
        f"space must map dimension names to priors, not {space!r}.",
        hint="Example: space={'lr': 'loguniform(1e-5, 1)', 'layers': 'choices([1, 2, 3])'}",
    )


__all__ = [
    "ExperimentClient",
    "Trial",
    "WorkonResult",
    "build_experiment",
    "get_experiment",
]
