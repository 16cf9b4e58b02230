"""Experiment versions and branches (SPEC §6).

Joining an experiment with a different space, algorithm or command is refused (see
``experiment.find_differences``). ``hunt -n NAME --branch NEW`` instead creates a child
experiment NEW (``parent_id`` = NAME's id) whose history starts with NAME's completed
trials that fit the new space:

- a dimension the child removed is dropped from each copied trial;
- a dimension the child added takes its ``default_value`` (``high`` for a fidelity); a
  new dimension without one is an error naming it, since the parent's trials would have
  no value for it;
- a trial whose values fall outside a changed prior is not copied, nor one that became
  identical to an earlier one once a dimension was dropped.

Copies are real rows of the child (new ids; parameters, results, worker and timings kept),
so every algorithm sees them as history without knowing branches exist. They count
against the child's ``max_trials``; when ``--max-trials`` is not given, the child gets
the parent's ``max_trials`` plus the number of copied trials, i.e. the same number of
new trials as the parent had.

``--branch NAME`` (the parent's own name) creates the next version of NAME, unless the
newest version already has the requested configuration, which is then joined. Many workers
may start with the same ``--branch`` line: the first creates the child, the others join it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from orionlite.errors import ExperimentConflictError, ExperimentNotFoundError, SpaceError
from orionlite.experiment import Experiment, join_experiment
from orionlite.experiment_settings import ExperimentSettings, find_differences, new_values
from orionlite.names import check_new_name
from orionlite.objectives import Objectives
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.space import Space, hash_params
from orionlite.storage import Storage

log = logging.getLogger(__name__)

_ATTEMPTS = 5


def branch_experiment(storage: Storage, settings: ExperimentSettings) -> Experiment:
    """Create the child ``settings.branch`` of ``settings.name`` (at ``settings.version``,
    default the newest), or join it when it already exists."""
    assert settings.branch is not None
    parent = storage.get_experiment(settings.name, settings.version)
    if parent is None:
        which = f"{settings.name!r}" + (
            f" version {settings.version}" if settings.version is not None else ""
        )
        raise ExperimentNotFoundError(
            f"Cannot branch from experiment {which}: it does not exist in {storage.display_url}.",
            hint="Check the name with: orionlite list (a new experiment needs no --branch)",
        )
    child = child_settings(parent, settings)
    for _ in range(_ATTEMPTS):
        existing = _existing_child(storage, parent, child)
        if existing is not None:
            return join_experiment(storage, existing, child)
        check_new_name(child.name)
        values, copies = _branch_values(storage, parent, child)
        created = storage.create_branch(values, copies)
        if created is not None:
            _announce(parent, created, copies, child)
            return Experiment(storage, created)
    raise ExperimentConflictError(f"Could not create or join branch {settings.branch!r}.")


def child_settings(parent: ExperimentRecord, settings: ExperimentSettings) -> ExperimentSettings:
    """The child's settings: what the user gave, the parent's for the rest.

    Without a command, the child runs the parent's, and its space is read again from it
    (so editing the priors of a config file and branching is enough).
    """
    assert settings.branch is not None
    command = settings.command or parent.command
    space = settings.space
    if space is None:
        space = _space_of_command(command) if command else Space.from_json(parent.space)
    return ExperimentSettings(
        name=settings.branch,
        space=space,
        # None (not given) is not compared when joining an existing child; a new child
        # then takes the parent's algorithm (see _branch_values).
        algorithm=settings.algorithm,
        command=command,
        max_trials=settings.max_trials,
        max_broken=settings.max_broken if settings.max_broken is not None else parent.max_broken,
        working_dir=settings.working_dir,
        objectives=settings.objectives or Objectives.from_json(parent.objectives),
    )


def _space_of_command(command: list[str]) -> Space:
    from orionlite.cmdline import parse_command
    from orionlite.configfile import command_space

    return command_space(parse_command(command))


def _existing_child(
    storage: Storage, parent: ExperimentRecord, child: ExperimentSettings
) -> ExperimentRecord | None:
    """The experiment a ``--branch`` line should join instead of creating one, if any."""
    newest = storage.get_experiment(child.name)
    if newest is None:
        return None
    if child.name != parent.name:
        return newest  # joined with the usual checks: a different config is refused
    # Same name: a new version, unless the newest one already has this configuration
    # (typically: another worker started with the same line made it a moment ago).
    return None if find_differences(newest, child) else newest


def _branch_values(
    storage: Storage, parent: ExperimentRecord, child: ExperimentSettings
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    assert child.space is not None
    parent_space = Space.from_json(parent.space)
    _check_new_dimensions(parent, child, parent_space)
    completed = storage.trials(parent.id, (TrialStatus.COMPLETED,))
    copies = copy_trials(completed, parent_space, child.space)
    if child.objectives is not None and child.objectives != Objectives.from_json(parent.objectives):
        # Other objectives: keep the trials whose results hold the child's.
        copies = [
            {**row, "objective": child.objectives.primary_value(row["results"])}
            for row in copies
            if row["results"] and child.objectives.check(row["results"]) is None
        ]
    if child.algorithm is None:
        child = replace(child, algorithm=parent.algorithm)
    values = new_values(child)
    if child.name == parent.name:
        newest = storage.get_experiment(child.name)
        values["version"] = (newest.version if newest else parent.version) + 1
    values["parent_id"] = parent.id
    if child.max_trials is None and parent.max_trials is not None:
        values["max_trials"] = parent.max_trials + len(copies)
    values["metadata"] = {
        **values.get("metadata", {}),
        "branched_from": {"name": parent.name, "version": parent.version},
    }
    return values, copies


def _check_new_dimensions(
    parent: ExperimentRecord, child: ExperimentSettings, parent_space: Space
) -> None:
    assert child.space is not None
    missing = [
        name
        for name, prior in child.space.items()
        if name not in parent_space and prior.default is None
    ]
    if not missing:
        return
    name = missing[0]
    prior = child.space[name]
    example = str(prior).rstrip(")") + ", default_value=...)"
    where = (
        f"in the config file: 'orionlite~{example}'"
        if name.startswith("/")
        else f"--{name}~'{example}'"
    )
    raise SpaceError(
        f"Cannot branch {parent.name!r} v{parent.version} into {child.name!r}: the new "
        f"dimension{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
        "has no default_value, so the parent's trials have no value for it.",
        hint=f"Give each new dimension a default_value, e.g. {where}",
    )


def copy_trials(
    completed: list[TrialRecord], parent_space: Space, child_space: Space
) -> list[dict[str, Any]]:
    """Rows for the child: the parent's completed trials that fit ``child_space``."""
    defaults = child_space.defaults()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for trial in completed:
        params = {
            name: trial.params[name] if name in trial.params else defaults.get(name)
            for name in child_space
        }
        if not child_space.contains(params):
            continue
        params_hash = hash_params(params)
        if params_hash in seen:
            continue
        seen.add(params_hash)
        rows.append(
            {
                "params": params,
                "params_hash": params_hash,
                "status": TrialStatus.COMPLETED.value,
                "attempt": 0,
                "reserved_by": trial.reserved_by,
                "objective": trial.objective,
                "results": trial.results,
                "exit_code": trial.exit_code,
                "retries": 0,
                "created_at": trial.created_at,
                "started_at": trial.started_at,
                "ended_at": trial.ended_at,
                "heartbeat_at": trial.heartbeat_at,
            }
        )
    return rows


def _announce(
    parent: ExperimentRecord,
    created: ExperimentRecord,
    copies: list[dict[str, Any]],
    child: ExperimentSettings,
) -> None:
    log.info(
        "created %r v%d from %r v%d with %d of its completed trials",
        created.name,
        created.version,
        parent.name,
        parent.version,
        len(copies),
        extra={"action": "branch_created"},
    )
    if created.max_trials is not None and created.max_trials <= len(copies):
        log.warning(
            "branch %r starts with %d trials, which --max-trials %d already reaches: "
            "raise --max-trials to run new ones",
            created.name,
            len(copies),
            created.max_trials,
            extra={"action": "branch_budget_spent"},
        )
