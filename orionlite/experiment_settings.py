"""What a user asks of an experiment (ExperimentSettings), the values a new experiment is
stored with, and how given settings differ from a stored experiment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orionlite.algorithms import algorithm_spec, make_algorithm
from orionlite.errors import ConfigError, SpaceError
from orionlite.names import check_new_name
from orionlite.objectives import Objectives
from orionlite.records import ExperimentRecord
from orionlite.space import Space

if TYPE_CHECKING:
    from orionlite.algorithms.base import Algorithm

DEFAULT_MAX_BROKEN = 3


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


def new_values(settings: ExperimentSettings) -> dict[str, Any]:
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


def limit_notices(
    record: ExperimentRecord,
    max_trials: int | None,
    max_broken: int | None,
    completed: int | None = None,
) -> list[str]:
    """One line per limit that changes, and one if max_trials falls to what already
    completed."""
    notices = []
    if max_trials is not None and max_trials != record.max_trials:
        before = record.max_trials if record.max_trials is not None else "none"
        notices.append(
            f"max-trials of {record.name!r} changed from {before} to {max_trials} "
            f"(other workers stop at {max_trials})"
        )
        if completed is not None and completed >= max_trials:
            notices.append(
                f"{completed} trials of {record.name!r} already completed, not fewer than "
                f"the new max-trials {max_trials}: no more trials will run"
            )
    if max_broken is not None and max_broken != record.max_broken:
        notices.append(
            f"max-broken of {record.name!r} changed from {record.max_broken} to "
            f"{max_broken} (workers stop at {max_broken} broken trials)"
        )
    return notices


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
