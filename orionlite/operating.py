"""Operating an experiment by hand: requeue trials, insert known parameters, change its
limits, delete it. ``orionlite requeue/insert/set/rm`` and ``ExperimentClient.enqueue``
are thin layers over these functions."""

from __future__ import annotations

import ast
import logging
import math
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orionlite.errors import ConfigError, OrionliteError
from orionlite.experiment import Experiment
from orionlite.experiment_settings import limit_notices
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.space import Choices, Space, hash_params
from orionlite.storage import Storage
from orionlite.storage.manage import Requeued

log = logging.getLogger(__name__)

# Statuses a trial can be requeued from: every status of TrialStatus that is neither
# waiting (new), running (reserved) nor a result (completed). New statuses join by
# themselves.
REQUEUEABLE = tuple(
    status
    for status in TrialStatus
    if status not in (TrialStatus.NEW, TrialStatus.RESERVED, TrialStatus.COMPLETED)
)


def requeue(
    experiment: Experiment,
    statuses: Iterable[TrialStatus | str] | None = None,
    trial_ids: Iterable[int] = (),
) -> Requeued:
    """Put trials back to ``new`` (default: the broken ones; with ``trial_ids``, those
    trials, each in one of ``statuses`` or any requeueable status), and reset the broken
    count that max_broken looks at."""
    ids = tuple(trial_ids)
    chosen = tuple(TrialStatus(s) for s in statuses) if statuses else ()
    for status in chosen:
        if status not in REQUEUEABLE:
            raise ConfigError(
                f"Trials with status {status.value!r} cannot be requeued.",
                hint=f"Requeue one of: {', '.join(s.value for s in REQUEUEABLE)}.",
            )
    if not chosen:
        chosen = REQUEUEABLE if ids else (TrialStatus.BROKEN,)
    with _named(experiment):
        return experiment.storage.requeue_trials(experiment.id, chosen, ids)


def parse_assignments(space: Space, assignments: Iterable[str]) -> dict[str, Any]:
    """``["lr=0.01", "opt=adam"]`` as parameters: each value read as a Python literal
    (a bare word is a string)."""
    params: dict[str, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ConfigError(
                f"{item!r} is not NAME=VALUE.",
                hint=f"Give each dimension as NAME=VALUE, e.g. {_example(space)}",
            )
        try:
            params[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[name] = text
    return params


def check_params(space: Space, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` as a point of ``space``: missing dimensions take their default_value,
    numbers take the dimension's type; anything outside the space is a ConfigError."""
    unknown = [name for name in given if name not in space]
    if unknown:
        raise ConfigError(
            f"Unknown dimension{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the "
            f"space has {', '.join(space)}.",
            hint=f"Example: {_example(space)}",
        )
    defaults = space.defaults()
    missing = [name for name in space if name not in given and name not in defaults]
    if missing:
        raise ConfigError(
            f"No value for {', '.join(missing)}, which {'have' if len(missing) > 1 else 'has'} "
            "no default_value.",
            hint=f"Give every dimension: {_example(space)}",
        )
    params: dict[str, Any] = {}
    for name, prior in space.items():
        value = _typed(prior, given[name]) if name in given else defaults[name]
        if not prior.contains(value):
            raise ConfigError(
                f"{name}={given.get(name, value)!r} is outside its prior {prior}.",
                hint=f"Give a value that {prior} can draw.",
            )
        params[name] = value
    return params


def _typed(prior: Any, value: Any) -> Any:
    """Integers for discrete dimensions, floats for continuous ones, the option itself
    for choices: the types the algorithms propose, so the point hashes the same."""
    if isinstance(prior, Choices):
        for option in prior.options:
            if option == value and type(option) in (type(value), int, float):
                return option
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if getattr(prior, "discrete", False):
        return int(value) if float(value).is_integer() else value
    return float(value) if math.isfinite(value) else value


def enqueue(experiment: Experiment, params: Mapping[str, Any]) -> TrialRecord:
    """Insert a trial with ``params`` (checked against the space, defaults filled in): the
    next free worker runs it before any new suggestion. A point the experiment already
    has is a DuplicateTrialError; a spent max_trials a BudgetSpentError."""
    point = check_params(experiment.space, params)
    with _named(experiment):
        trial_id = experiment.storage.enqueue_trial(experiment.id, point, hash_params(point))
    trial = experiment.storage.get_trial(trial_id)
    assert trial is not None
    return trial


def set_limits(
    experiment: Experiment, max_trials: int | None = None, max_broken: int | None = None
) -> list[str]:
    """Change the stored limits without running a worker; the notices that say what
    changed (none when nothing did)."""
    record = experiment.record
    completed = experiment.storage.count_status(record.id, TrialStatus.COMPLETED)
    notices = limit_notices(record, max_trials, max_broken, completed)
    updates: dict[str, Any] = {}
    if max_trials is not None and max_trials != record.max_trials:
        updates["max_trials"] = max_trials
    if max_broken is not None and max_broken != record.max_broken:
        updates["max_broken"] = max_broken
    if updates:
        experiment.storage.update_experiment(record.id, **updates)
        experiment.record = experiment.storage.get_experiment_by_id(record.id) or record
    return notices


@dataclass
class Deletion:
    experiments: list[ExperimentRecord]
    trials: int
    folders: list[Path]


def versions_to_delete(storage: Storage, name: str, version: int | None) -> list[ExperimentRecord]:
    """The versions of experiment ``name`` that ``rm`` deletes: ``version``, or all."""
    records = [r for r in storage.list_experiments() if r.name == name]
    if version is not None:
        records = [r for r in records if r.version == version]
    return records


def delete(
    storage: Storage,
    records: list[ExperimentRecord],
    *,
    force: bool = False,
    delete_folders: bool = False,
) -> Deletion:
    """Delete the experiments and their trials; their trial folders only with
    ``delete_folders``. Refuses while workers hold their trials, unless ``force``."""
    trials = storage.delete_experiments([r.id for r in records], force=force)
    folders = []
    if delete_folders:
        for record in records:
            folder = Experiment(storage, record).working_dir
            if folder.is_dir():
                shutil.rmtree(folder)
                folders.append(folder)
    return Deletion(records, trials, folders)


@contextmanager
def _named(experiment: Experiment) -> Iterator[None]:
    """Errors of the storage name commands with ``-n NAME``: fill in this experiment."""
    try:
        yield
    except OrionliteError as exc:
        which = f"-n {experiment.name}"
        if experiment.version != 1:
            which += f" --version {experiment.version}"
        if exc.hint:
            exc.hint = exc.hint.replace("-n NAME", which)
        raise


def _example(space: Space) -> str:
    return " ".join(f"{name}=VALUE" for name in space)
