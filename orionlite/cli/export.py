"""``export``: one record per trial, for analysis elsewhere."""

from __future__ import annotations

import click

from orionlite.cli.options import name_option, storage_option, version_option


@click.command("export")
@name_option()
@version_option
@storage_option
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of stdout.",
)
def export_command(
    name: str, version: int | None, storage: str | None, fmt: str, output: str | None
) -> None:
    """Every trial of an experiment: id, status, parameters, objective, worker, times."""
    from orionlite.experiment import open_experiment
    from orionlite.exporting import export_json
    from orionlite.storage import Storage

    experiment = open_experiment(Storage(storage), name, version)
    text = export_json(experiment)
    if output:
        with open(output, "w") as handle:
            handle.write(text)
        click.echo(f"Wrote {output}.", err=True)
    else:
        click.echo(text)
