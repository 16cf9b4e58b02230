"""``export``: one record per trial, for analysis elsewhere (pandas, a spreadsheet, R)."""

from __future__ import annotations

from pathlib import Path

import click

from orionlite.cli.options import name_option, storage_option, version_option


@click.command("export")
@name_option()
@version_option
@storage_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    help="csv: one row per trial, a column per parameter (params.NAME) and result "
    "(results.NAME). json: a list of trial objects. Default: from -o's extension, else json.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of stdout.",
)
def export_command(
    name: str, version: int | None, storage: str | None, fmt: str | None, output: str | None
) -> None:
    """Every trial of an experiment as CSV or JSON: parameters, results, host, times.

    \b
    Example:
      orionlite export -n mnist -o mnist.csv
    """
    from orionlite.experiment import open_experiment
    from orionlite.exporting import export
    from orionlite.storage import Storage

    if fmt is None:
        fmt = "csv" if output and Path(output).suffix.lower() == ".csv" else "json"
    store = Storage(storage, create=False)
    try:
        text = export(open_experiment(store, name, version), fmt)
    finally:
        store.close()
    if output:
        Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        click.echo(f"Wrote {output}.", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))
