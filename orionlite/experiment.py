"""An experiment: its stored configuration, its search space and algorithm, and the one
place where a worker obtains its next trial."""

from __future__ import annotations

import enum
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.algorithms import algorithm_spec, make_algorithm
from orionlite.errors import ExperimentConflictError, ExperimentNotFoundError, SpaceError
from orionlite.history import TrialHistory
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.space import Space, hash_params
from orionlite.storage import CreateRefusal, Storage

if TYPE_CHECKING:
    from orionlite.algorithms.base import Algorithm

log = logging.getLogger(__name__)

DEFAULT_MAX_BROKEN = 3
# A suggestion can collide with a point another worker created a moment earlier; after
# this many collisions in a row the worker waits instead of spinning.
_MAX_COLLISIONS = 20


class Wait(enum.Enum):
    """Why no trial was handed out."""

    BUSY = "busy"  # others hold the remaining trials, or the algorithm waits for results
    DONE = "done"  # max_trials completed
    EXHAUSTED = "exhausted"  # the algorithm has nothing left to try


class Experiment:
    """A stored experiment opened by one process."""

    def __init__(self, storage: Storage, record: ExperimentRecord) -> None:
        self.storage = storage
        self.record = record
        self.space = Space.from_json(record.space)
        self.algorithm: Algorithm = make_algorithm(record.algorithm, self.space)
        self._history = TrialHistory(storage, record.id)

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def max_trials(self) -> int | None:
        return self.record.max_trials

    @property
    def working_dir(self) -> Path:
        """Where trial folders go; relative paths are taken from each worker's cwd."""
        default = f"orionlite-runs/{self.name}-v{self.version}"
        return Path(self.record.working_dir or default).absolute()

    def history(self) -> list[TrialRecord]:
        return self._history.refresh()

    def acquire(self, worker_id: str, lease_s: float) -> TrialRecord | Wait:
        """Reserve a trial for ``worker_id``: a waiting one first, else a new suggestion.

        There is no lock around suggesting: workers suggest concurrently and the database
        arbitrates (budget counter, unique parameters), so a dead worker can block nobody.
        """
        trial = self.storage.reserve_trial(self.id, worker_id, lease_s)
        if trial is not None:
            return trial
        self.algorithm.salt = 0
        for _ in range(_MAX_COLLISIONS):
            history = self.history()
            proposals = self.algorithm.suggest(history, 1)
            if not proposals:
                return Wait.EXHAUSTED if self.algorithm.is_done(history) else Wait.BUSY
            proposal = proposals[0]
            created = self.storage.create_trial(
                self.id,
                proposal.params,
                hash_params(proposal.params),
                worker_id,
                lease_s,
                proposal.parent_trial_id,
            )
            if isinstance(created, TrialRecord):
                return created
            if created is CreateRefusal.BUDGET_SPENT:
                return Wait.BUSY if self.storage.has_unfinished(self.id) else Wait.DONE
            self.algorithm.salt = secrets.randbits(32)
        return Wait.BUSY


@dataclass(frozen=True)
class ExperimentSettings:
    """What a user asks for when creating or joining an experiment."""

    name: str
    space: Space | None = None
    algorithm: str | dict[str, Any] | None = None
    command: list[str] | None = None
    max_trials: int | None = None
    max_broken: int | None = None
    working_dir: str | None = None
    version: int | None = None


def open_experiment(storage: Storage, name: str, version: int | None = None) -> Experiment:
    """An existing experiment (newest version unless one is given)."""
    record = storage.get_experiment(name, version)
    if record is None:
        which = f"{name!r} version {version}" if version is not None else repr(name)
        raise ExperimentNotFoundError(
            f"No experiment {which} in {storage.display_url}.",
            hint="List experiments with: orionlite list"
            + (f" --storage {storage.display_url}" if storage.display_url else ""),
        )
    return Experiment(storage, record)


def build_experiment(storage: Storage, settings: ExperimentSettings) -> Experiment:
    """Create the experiment, or join it when the configuration matches (SPEC §6).

    Many workers may start at once: creation races are settled by the unique (name,
    version) constraint, and the loser joins what the winner stored.
    """
    for _ in range(5):
        record = storage.get_experiment(settings.name, settings.version)
        if record is not None:
            return _join(storage, record, settings)
        if settings.space is None:
            raise ExperimentNotFoundError(
                f"No experiment {settings.name!r} in {storage.display_url}, and no search "
                "space to create it with.",
                hint="Give the command with priors, e.g.: hunt -n "
                f"{settings.name} -- python train.py --lr~'loguniform(1e-5, 1)'",
            )
        created = storage.create_experiment(_new_values(settings))
        if created is not None:
            return Experiment(storage, created)
    raise ExperimentConflictError(f"Could not create or join experiment {settings.name!r}.")


def _new_values(settings: ExperimentSettings) -> dict[str, Any]:
    assert settings.space is not None
    if not settings.space:
        raise SpaceError(
            "The search space is empty: no argument of the command defines a prior.",
            hint="Mark a hyperparameter with ~ and a prior, e.g. --lr~'loguniform(1e-5, 1)'.",
        )
    algorithm = make_algorithm(settings.algorithm, settings.space)
    return {
        "name": settings.name,
        "version": settings.version or 1,
        "space": settings.space.to_json(),
        "algorithm": algorithm_spec(algorithm),
        "command": settings.command,
        "max_trials": settings.max_trials,
        "max_broken": DEFAULT_MAX_BROKEN if settings.max_broken is None else settings.max_broken,
        "working_dir": settings.working_dir,
        "metadata": {"orionlite_version": _package_version()},
    }


def _join(storage: Storage, record: ExperimentRecord, settings: ExperimentSettings) -> Experiment:
    differences: list[tuple[str, Any, Any]] = []
    if settings.space is not None and settings.space.to_json() != record.space:
        differences.append(("space", record.space, settings.space.to_json()))
    if settings.algorithm is not None:
        space = settings.space or Space.from_json(record.space)
        wanted = algorithm_spec(make_algorithm(settings.algorithm, space))
        if wanted != record.algorithm:
            differences.append(("algorithm", record.algorithm, wanted))
    if settings.command is not None and record.command is not None:
        if settings.command != record.command:
            differences.append(("command", record.command, settings.command))
    if differences:
        raise ExperimentConflictError(
            f"Experiment {record.name!r} version {record.version} exists with a different "
            "configuration:\n" + format_differences(differences),
            hint=f"Start a child experiment with --branch NEW_NAME, pick a version with "
            f"--version N, or choose another name than {record.name!r}.",
        )
    updates: dict[str, Any] = {}
    if settings.max_trials is not None and settings.max_trials != record.max_trials:
        updates["max_trials"] = settings.max_trials
    if settings.max_broken is not None and settings.max_broken != record.max_broken:
        updates["max_broken"] = settings.max_broken
    if updates:
        storage.update_experiment(record.id, **updates)
        record = storage.get_experiment_by_id(record.id) or record
    return Experiment(storage, record)


def format_differences(differences: list[tuple[str, Any, Any]]) -> str:
    lines = []
    for field, stored, given in differences:
        lines.append(f"  {field}:")
        lines.append(f"    stored: {json.dumps(stored, sort_keys=True)}")
        lines.append(f"    given:  {json.dumps(given, sort_keys=True)}")
    return "\n".join(lines)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("orionlite")
    except PackageNotFoundError:
        return "unknown"


__all__ = [
    "Experiment",
    "ExperimentSettings",
    "TrialStatus",
    "Wait",
    "build_experiment",
    "open_experiment",
]
