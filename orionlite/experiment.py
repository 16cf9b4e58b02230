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
from orionlite.errors import (
    ConfigError,
    ExperimentConflictError,
    ExperimentNotFoundError,
    SpaceError,
)
from orionlite.history import TrialHistory
from orionlite.names import check_new_name
from orionlite.objectives import Objectives
from orionlite.records import ExperimentRecord, PendingResult, TrialRecord, TrialStatus
from orionlite.space import Space
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
    FINISHING = "finishing"  # the budget is spent and others' trials still run
    DONE = "done"  # max_trials completed
    EXHAUSTED = "exhausted"  # the algorithm has nothing left to try


class Experiment:
    """A stored experiment opened by one process."""

    def __init__(self, storage: Storage, record: ExperimentRecord) -> None:
        self.storage = storage
        self.record = record
        self.space = Space.from_json(record.space)
        self.objectives = Objectives.from_json(record.objectives)
        self.algorithm: Algorithm = make_algorithm(record.algorithm, self.space)
        self.algorithm.objectives = self.objectives
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

    def history(self, reuse_finish_read: bool = False, max_age_s: float = 0.0) -> list[TrialRecord]:
        """Every trial, refreshed with the rows changed since the last call (or, with
        ``reuse_finish_read``, as read by the :meth:`finish` just before, if any; or as
        read less than ``max_age_s`` ago). The list is the history's own: it changes with
        the next call."""
        return self._history.refresh(reuse_finish_read, max_age_s)

    def finish(self, trial: TrialRecord, status: TrialStatus, **values: Any) -> None:
        """Record a trial's end (``Storage.finish_trial``) and read the history's changes
        in the same round trip where the database allows; the worker's next
        ``history(reuse_finish_read=True)`` then needs no read of its own."""
        self._history.finish(trial, status, values)

    def count(self, status: TrialStatus) -> int:
        """How many trials had ``status`` at the last :meth:`history` refresh (no query)."""
        return self._history.count(status)

    def acquire(
        self,
        worker_id: str,
        lease_s: float,
        history: list[TrialRecord] | None = None,
        pending: PendingResult | None = None,
    ) -> TrialRecord | Wait:
        """Reserve a trial for ``worker_id``: a waiting one first, else a new suggestion.

        There is no lock around suggesting: workers suggest concurrently and the database
        arbitrates (budget shares, unique parameters), so a dead worker can block nobody.
        ``history`` is the caller's fresh :meth:`history`, if it just read it (the worker
        loop does, for --max-broken), so that it is not read twice.

        The common case costs one read (the history) and one write that both reserves and
        creates (``Storage.acquire_trial``): an explicit reservation is tried first only
        when the history shows trials waiting (new or interrupted), so that no suggestion
        is computed for nothing, and whenever the algorithm has nothing to propose, so that
        a dead worker's trial is still taken over once its lease runs out.

        ``pending``, a result taken in with :meth:`remember`, is recorded in that write
        where the storage allows, else first; it is always recorded when this returns.
        """
        try:
            return self._acquire(worker_id, lease_s, history, pending)
        finally:
            if pending is not None:
                self.storage.record_pending(pending)

    def _acquire(
        self,
        worker_id: str,
        lease_s: float,
        history: list[TrialRecord] | None,
        pending: PendingResult | None,
    ) -> TrialRecord | Wait:
        if history is None:
            history = self.history()
        waiting = self.count(TrialStatus.NEW) + self.count(TrialStatus.INTERRUPTED)
        if waiting:
            trial = self.storage.reserve_trial(self.id, worker_id, lease_s)
            if trial is not None:
                return trial
        self.algorithm.salt = 0
        for attempt in range(_MAX_COLLISIONS):
            if attempt:
                history = self.history()
            proposals = self.algorithm.suggest(history, 1)
            if not proposals:
                trial = self.storage.reserve_trial(self.id, worker_id, lease_s)
                if trial is not None:
                    return trial
                return Wait.EXHAUSTED if self.algorithm.is_done(history) else Wait.BUSY
            proposal = proposals[0]
            acquired = self.storage.acquire_trial(
                self.id,
                proposal.params,
                proposal.params_hash,
                worker_id,
                lease_s,
                proposal.parent_trial_id,
                pending,
            )
            pending = None  # recorded by that call: not again after a collision
            if isinstance(acquired, TrialRecord):
                return acquired
            if acquired is CreateRefusal.BUDGET_SPENT:
                return Wait.FINISHING if self.storage.has_unfinished(self.id) else Wait.DONE
            self.algorithm.salt = secrets.randbits(32)
        return Wait.BUSY

    def remember(self, pending: PendingResult) -> None:
        """Take in a result that :meth:`acquire` will record with the next reservation."""
        self._history.remember(pending.trial, pending.status, pending.values)


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
    #: Create or join this child of ``name`` instead (see orionlite.branching).
    branch: str | None = None
    #: The stop rule, normalised (``orionlite.stopping.normalize_early_stop``); None
    #: leaves the stored one (or ``none`` for a new experiment).
    early_stop: dict[str, Any] | None = None
    #: What to optimise (orionlite.objectives.parse_objectives); None: as stored, or one
    #: minimised objective for a new experiment.
    objectives: Objectives | None = None


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
    if settings.branch is not None:
        from orionlite.branching import branch_experiment

        return branch_experiment(storage, settings)
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
    check_new_name(settings.name)
    if not settings.space:
        raise SpaceError(
            "The search space is empty: no argument of the command defines a prior.",
            hint="Mark a hyperparameter with ~ and a prior, e.g. --lr~'loguniform(1e-5, 1)'.",
        )
    algorithm = make_algorithm(settings.algorithm, settings.space)
    objectives = settings.objectives or Objectives()
    check_supported(algorithm, objectives)
    return {
        "name": settings.name,
        "version": settings.version or 1,
        "space": settings.space.to_json(),
        "algorithm": algorithm_spec(algorithm),
        "command": settings.command,
        "max_trials": settings.max_trials,
        "max_broken": DEFAULT_MAX_BROKEN if settings.max_broken is None else settings.max_broken,
        "working_dir": settings.working_dir,
        "metadata": {"orionlite_version": _package_version(), **_early_stop(settings)},
        "objectives": objectives.to_json(),
    }


def _early_stop(settings: ExperimentSettings) -> dict[str, Any]:
    """The stop rule, kept in the experiment's metadata: stored once with the experiment,
    like the algorithm, so that every worker judges trials by the same rule."""
    return {} if settings.early_stop is None else {"early_stop": settings.early_stop}


def stored_early_stop(record: ExperimentRecord) -> dict[str, Any]:
    """The experiment's stop rule as stored, ``{"none": {}}`` when it has none."""
    return dict(record.metadata.get("early_stop") or {"none": {}})


def check_supported(algorithm: Algorithm, objectives: Objectives) -> None:
    """Refuse several objectives for an algorithm that optimises one."""
    if objectives.several and not algorithm.multi_objective:
        from orionlite.algorithms import ALGORITHMS

        able = [name for name in ALGORITHMS if _multi(name)]
        raise ConfigError(
            f"Algorithm {algorithm.name!r} optimises a single objective, and this experiment "
            f"declares {len(objectives.items)} ({', '.join(objectives.names)}).",
            hint=f"Choose one of {', '.join(able)} for several objectives, or declare one.",
        )


def _multi(name: str) -> bool:
    import importlib

    from orionlite.algorithms import ALGORITHMS

    module_name, class_name = ALGORITHMS[name].split(":")
    return bool(getattr(importlib.import_module(module_name), class_name).multi_objective)


def find_differences(
    record: ExperimentRecord, settings: ExperimentSettings
) -> list[tuple[str, Any, Any]]:
    """What ``settings`` change in the stored experiment: (field, stored, given) triples.

    Spaces are compared as Space objects, not JSON, so ``uniform(0, 1)`` equals
    ``uniform(0.0, 1.0)``. Fields the settings leave out (None) are not compared.
    """
    differences: list[tuple[str, Any, Any]] = []
    stored_space = Space.from_json(record.space)
    if settings.space is not None and settings.space != stored_space:
        differences.append(("space", stored_space, settings.space))
    if settings.algorithm is not None:
        space = settings.space or stored_space
        wanted = algorithm_spec(make_algorithm(settings.algorithm, space))
        if wanted != record.algorithm:
            differences.append(("algorithm", record.algorithm, wanted))
    if settings.early_stop is not None and settings.early_stop != stored_early_stop(record):
        differences.append(("early_stop", stored_early_stop(record), settings.early_stop))
    if settings.command is not None and record.command is not None:
        if settings.command != record.command:
            differences.append(("command", record.command, settings.command))
    stored_objectives = Objectives.from_json(record.objectives)
    if settings.objectives is not None and settings.objectives != stored_objectives:
        differences.append(
            ("objectives", _describe(stored_objectives), _describe(settings.objectives))
        )
    return differences


def _describe(objectives: Objectives) -> str:
    return ", ".join(item.label() for item in objectives.items)


def _join(storage: Storage, record: ExperimentRecord, settings: ExperimentSettings) -> Experiment:
    differences = find_differences(record, settings)
    if differences:
        raise ExperimentConflictError(
            f"Experiment {record.name!r} version {record.version} exists with a different "
            "configuration:\n" + format_differences(differences, record.version),
            hint="Start a child experiment that keeps the compatible trials with "
            f"--branch NEW_NAME (--branch {record.name} makes version {record.version + 1}), "
            f"join another version with --version N, or choose another name than "
            f"{record.name!r}.",
        )
    updates: dict[str, Any] = {}
    if settings.max_trials is not None and settings.max_trials != record.max_trials:
        updates["max_trials"] = settings.max_trials
    if settings.max_broken is not None and settings.max_broken != record.max_broken:
        updates["max_broken"] = settings.max_broken
    if updates:
        from orionlite.operating import limit_notices

        for notice in limit_notices(record, settings.max_trials, settings.max_broken):
            log.warning("%s", notice, extra={"action": "limit_changed"})
        storage.update_experiment(record.id, **updates)
        record = storage.get_experiment_by_id(record.id) or record
    return Experiment(storage, record)


_ABSENT = "(none)"
# Wider values are shown stacked (stored above given) instead of in two columns.
_SIDE_BY_SIDE_MAX = 40


def _difference_rows(differences: list[tuple[str, Any, Any]]) -> list[tuple[str, str, str]]:
    """One row per changed dimension, algorithm or command: (what, stored, given)."""
    import shlex

    rows: list[tuple[str, str, str]] = []
    for field, stored, given in differences:
        if field == "space":
            for name in [*stored, *(name for name in given if name not in stored)]:
                old, new = stored.get(name), given.get(name)
                if old != new:
                    rows.append(
                        (
                            f"dimension {name}",
                            _ABSENT if old is None else str(old),
                            _ABSENT if new is None else str(new),
                        )
                    )
        elif field == "command":
            rows.append((field, shlex.join(stored), shlex.join(given)))
        elif field == "objectives":
            rows.append((field, stored, given))
        else:
            rows.append(
                (
                    field,
                    json.dumps(stored, sort_keys=True, separators=(", ", ": ")),
                    json.dumps(given, sort_keys=True, separators=(", ", ": ")),
                )
            )
    return rows


def format_differences(differences: list[tuple[str, Any, Any]], version: int | None = None) -> str:
    """The differences side by side: what, stored, given (long values stacked).

    Example::

          what             stored (v1)            given
          dimension lr     loguniform(1e-05, 1)   loguniform(1e-05, 0.1)
          dimension wd     (none)                 uniform(0, 0.1)
    """
    rows = _difference_rows(differences)
    stored_title = f"stored (v{version})" if version is not None else "stored"
    short = [row for row in rows if max(len(row[1]), len(row[2])) <= _SIDE_BY_SIDE_MAX]
    long = [row for row in rows if row not in short]
    lines: list[str] = []
    if short:
        width_what = max(len("what"), *(len(row[0]) for row in short))
        width_old = max(len(stored_title), *(len(row[1]) for row in short))
        lines.append(f"  {'what':<{width_what}}   {stored_title:<{width_old}}   given")
        for what, old, new in short:
            lines.append(f"  {what:<{width_what}}   {old:<{width_old}}   {new}")
    for what, old, new in long:
        lines.append(f"  {what}:")
        lines.append(f"    {stored_title + ':':<{len(stored_title) + 1}} {old}")
        lines.append(f"    {'given:':<{len(stored_title) + 1}} {new}")
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
