"""``requeue``, ``insert``, ``set`` and ``rm``: operating an experiment by hand, with no
worker running. Each is a thin layer over :mod:`orionlite.operating`."""

from __future__ import annotations

import click

from orionlite.cli.options import name_option, storage_option, version_option


def _requeue_choices() -> list[str]:
    """From the project's one list of statuses (TrialStatus; records imports nothing
    heavy), as orionlite.operating.REQUEUEABLE: neither waiting, running nor a result."""
    from orionlite.records import TrialStatus

    skip = {"new", "reserved", "completed"}
    return [status.value for status in TrialStatus if status.value not in skip]


@click.command("requeue")
@name_option()
@version_option
@storage_option
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(_requeue_choices()),
    help="Requeue the trials with this status (repeatable; default: broken).",
)
@click.option(
    "--trial",
    "trial_ids",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="ID",
    help="Requeue this trial only (repeatable); see ids with orionlite export.",
)
def requeue_command(
    name: str,
    version: int | None,
    storage: str | None,
    statuses: tuple[str, ...],
    trial_ids: tuple[int, ...],
) -> None:
    """Put trials back in the queue: same parameters, same trial folder.

    Broken trials take their places in --max-trials again, and the broken count that
    --max-broken looks at starts from zero. The next hunt worker runs them first.

    \b
    Example, after fixing the script:
      orionlite requeue -n mnist && hunt -n mnist
    """
    from orionlite.experiment import open_experiment
    from orionlite.operating import requeue
    from orionlite.storage import Storage

    store = Storage(storage, create=False)
    try:
        experiment = open_experiment(store, name, version)
        done = requeue(experiment, statuses, trial_ids)
    finally:
        store.close()
    label = f"{experiment.name!r} v{experiment.version}"
    if not done.ids:
        which = "/".join(statuses) if statuses else "broken"
        click.echo(f"No {which} trials to requeue in {label}; the broken count is reset.")
        return
    parts = ", ".join(f"{len(ids)} {status}" for status, ids in sorted(done.by_status.items()))
    click.echo(
        f"Requeued {len(done.ids)} trial{'s' if len(done.ids) > 1 else ''} of {label} "
        f"({parts}): {', '.join(map(str, done.ids))}. Workers run them next, each in its "
        "own trial folder."
    )
    click.echo("The broken count that --max-broken looks at is reset.")


@click.command("insert")
@name_option()
@version_option
@storage_option
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
def insert_command(
    name: str, version: int | None, storage: str | None, assignments: tuple[str, ...]
) -> None:
    """Add a trial with known parameters; the next free worker runs it first.

    Values are checked against the search space; dimensions left out take their
    default_value. A point the experiment already has is refused.

    \b
    Example:
      orionlite insert -n mnist lr=0.01 layers=2 opt=adam
    """
    from orionlite.experiment import open_experiment
    from orionlite.operating import enqueue, parse_assignments
    from orionlite.storage import Storage

    store = Storage(storage, create=False)
    try:
        experiment = open_experiment(store, name, version)
        trial = enqueue(experiment, parse_assignments(experiment.space, assignments))
    finally:
        store.close()
    params = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
    click.echo(
        f"Inserted trial {trial.id} into {experiment.name!r} v{experiment.version}: {params}."
    )


@click.command("set")
@name_option()
@version_option
@storage_option
@click.option("--max-trials", type=click.IntRange(min=1), metavar="N", help="New --max-trials.")
@click.option("--max-broken", type=click.IntRange(min=1), metavar="N", help="New --max-broken.")
def set_command(
    name: str,
    version: int | None,
    storage: str | None,
    max_trials: int | None,
    max_broken: int | None,
) -> None:
    """Change an experiment's limits without starting a worker.

    Running workers follow a new --max-trials at once (no trial starts beyond it) and a
    new --max-broken when they next reach the limit.

    \b
    Example:
      orionlite set -n mnist --max-trials 200
    """
    if max_trials is None and max_broken is None:
        raise click.UsageError("Give --max-trials N and/or --max-broken N.")
    from orionlite.experiment import open_experiment
    from orionlite.operating import set_limits
    from orionlite.storage import Storage

    store = Storage(storage, create=False)
    try:
        experiment = open_experiment(store, name, version)
        notices = set_limits(experiment, max_trials, max_broken)
    finally:
        store.close()
    for notice in notices or [f"The limits of {experiment.name!r} are unchanged."]:
        click.echo(notice[0].upper() + notice[1:] + ("" if notice.endswith(".") else "."))


@click.command("rm")
@name_option()
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Delete only this version (default: every version).",
)
@storage_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--force", is_flag=True, help="Delete even while workers are running trials of it.")
@click.option(
    "--delete-folders",
    is_flag=True,
    help="Also delete the trial folders (orionlite-runs/<name>-v<version>, or its "
    "--working-dir) as seen from the current folder.",
)
def rm_command(
    name: str,
    version: int | None,
    storage: str | None,
    yes: bool,
    force: bool,
    delete_folders: bool,
) -> None:
    """Delete an experiment (every version unless --version), its trials and progress.

    Trial folders stay unless --delete-folders. Child experiments (branches) keep their
    trials. Refuses while workers hold trials of it, unless --force.
    """
    from orionlite.errors import ExperimentNotFoundError
    from orionlite.operating import delete, versions_to_delete
    from orionlite.storage import Storage

    store = Storage(storage, create=False)
    try:
        records = versions_to_delete(store, name, version)
        if not records:
            which = f"{name!r}" + (f" version {version}" if version is not None else "")
            raise ExperimentNotFoundError(
                f"No experiment {which} in {store.display_url}.",
                hint=f"List experiments with: orionlite list --storage {store.display_url}",
            )
        counts = {r.id: sum(store.count_by_status(r.id).values()) for r in records}
        versions = ", ".join(f"v{r.version} ({counts[r.id]} trials)" for r in records)
        question = f"Delete experiment {name!r} {versions} from {store.display_url}"
        question += ", and its trial folders?" if delete_folders else "? Trial folders stay."
        if not yes and not _confirmed(question):
            click.echo("Nothing deleted.", err=True)
            raise click.exceptions.Exit(1)
        done = delete(store, records, force=force, delete_folders=delete_folders)
    finally:
        store.close()
    click.echo(
        f"Deleted experiment {name!r} ({', '.join(f'v{r.version}' for r in records)}) "
        f"and its {done.trials} trials."
    )
    for folder in done.folders:
        click.echo(f"Deleted {folder}.")


def _confirmed(question: str) -> bool:
    """Ask on the terminal; no terminal to answer (a script, a job) means no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.exceptions.Abort:
        click.echo("\nNo answer (give --yes to delete without asking).", err=True)
        return False
