"""``status``, ``list`` and ``info``: what the database holds, as tables or JSON."""

from __future__ import annotations

import json
from typing import Any

import click

from orionlite.cli.options import json_option, name_option, storage_option, version_option


@click.command("status")
@name_option(required=False)
@storage_option
@json_option
def status_command(name: str | None, storage: str | None, as_json: bool) -> None:
    """Trials by status and the best objective, per experiment."""
    from orionlite.cli.output import print_table
    from orionlite.experiment import open_experiment
    from orionlite.storage import Storage
    from orionlite.summary import best_cell, summarize

    store = Storage(storage, create=False)
    records = (
        [open_experiment(store, name).record] if name is not None else store.list_experiments()
    )
    summaries = [summarize(store, record) for record in records]
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2))
        return
    if not summaries:
        click.echo(f"No experiments in {store.display_url}.")
        return
    from orionlite.records import STATUS_ORDER

    statuses = [status.value for status in STATUS_ORDER]
    rows = [
        [
            s.name,
            s.version,
            *(s.counts[k] for k in statuses),
            s.max_trials,
            best_cell(s),
            s.best_trial_number or s.best_trial_id,
        ]
        for s in summaries
    ]
    print_table(["experiment", "version", *statuses, "max", "best objective", "best trial"], rows)


@click.command("list")
@storage_option
@json_option
def list_command(storage: str | None, as_json: bool) -> None:
    """Experiments: name, version, trials and best objective."""
    from orionlite.cli.output import print_table
    from orionlite.storage import Storage
    from orionlite.summary import best_cell, summarize

    store = Storage(storage, create=False)
    records = store.list_experiments()
    by_id = {record.id: record for record in records}
    tree = branch_tree(records)
    summaries = [summarize(store, record) for record, _ in tree]
    if as_json:
        items = []
        for (record, _), summary in zip(tree, summaries, strict=True):
            parent = by_id.get(record.parent_id) if record.parent_id is not None else None
            items.append(
                {
                    **summary.to_json(),
                    "parent": {"name": parent.name, "version": parent.version} if parent else None,
                }
            )
        click.echo(json.dumps(items, indent=2))
        return
    if not summaries:
        click.echo(f"No experiments in {store.display_url}.")
        return
    rows = [
        [
            ("   " * (depth - 1) + "└─ " if depth else "") + s.name,
            s.version,
            s.total,
            best_cell(s),
        ]
        for (_, depth), s in zip(tree, summaries, strict=True)
    ]
    headers = ["experiment", "version", "trials", "best objective"]
    if any(s.counts.get("pruned") for s in summaries):  # only where early stopping is used
        headers.insert(3, "pruned")
        for row, s in zip(rows, summaries, strict=True):
            row.insert(3, s.counts["pruned"])
    print_table(headers, rows)


def branch_tree(records: list[Any]) -> list[tuple[Any, int]]:
    """Experiments in tree order with their depth: each child (a branch or a later
    version, see orionlite.branching) right under its parent, indented one level."""
    ids = {record.id for record in records}
    children: dict[int | None, list[Any]] = {}
    for record in records:
        parent = record.parent_id if record.parent_id in ids else None
        children.setdefault(parent, []).append(record)
    ordered: list[tuple[Any, int]] = []

    def visit(parent: int | None, depth: int) -> None:
        for record in children.get(parent, []):
            ordered.append((record, depth))
            visit(record.id, depth + 1)

    visit(None, 0)
    return ordered


@click.command("info")
@name_option()
@version_option
@storage_option
@json_option
def info_command(name: str, version: int | None, storage: str | None, as_json: bool) -> None:
    """Space, algorithm, limits, best trial and command of one experiment."""
    from orionlite.cli.output import format_value, print_table
    from orionlite.experiment import open_experiment, stored_early_stop
    from orionlite.storage import Storage
    from orionlite.summary import summarize

    store = Storage(storage, create=False)
    experiment = open_experiment(store, name, version)
    record = experiment.record
    summary = summarize(store, record)
    info: dict[str, Any] = {
        "name": record.name,
        "version": record.version,
        "storage": store.display_url,
        "command": record.command,
        "space": {key: str(prior) for key, prior in experiment.space.items()},
        "algorithm": record.algorithm,
        "early_stop": stored_early_stop(record),
        "max_trials": record.max_trials,
        "max_broken": record.max_broken,
        "working_dir": str(experiment.working_dir),
        "trials": summary.counts,
        "best": {
            "trial": summary.best_trial_id,
            "number": summary.best_trial_number,
            "objective": summary.best_objective,
            "params": summary.best_params,
        },
        "objectives": summary.objectives,
        "pareto_front": summary.pareto_front,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    rows: list[list[Any]] = [
        ["name", record.name],
        ["version", record.version],
        ["storage", store.display_url],
        ["command", " ".join(record.command or [])],
        ["algorithm", json.dumps(record.algorithm)],
        ["early stop", json.dumps(stored_early_stop(record))],
        ["objectives", ", ".join(summary.objectives)],
        ["max trials", record.max_trials],
        ["max broken", record.max_broken],
        ["working dir", info["working_dir"]],
        ["trials", ", ".join(f"{k} {v}" for k, v in summary.counts.items() if v) or "none"],
    ]
    rows += [[f"space: {key}", prior] for key, prior in info["space"].items()]
    for point in summary.pareto_front or []:
        values = ", ".join(format_value(v) for v in point["values"])
        rows.append([f"front: trial {point['trial']}", values])
    if summary.best_trial_id is not None and summary.pareto_front is None:
        number = summary.best_trial_number
        rows.append(["best trial", f"{number} (id {summary.best_trial_id})"])
        rows.append(["best objective", summary.best_objective])
        rows += [[f"best: {k}", format_value(v)] for k, v in (summary.best_params or {}).items()]
    print_table(["", ""], rows)
