"""``plot``: a regret curve, parallel coordinates or parameter importance, to a file."""

from __future__ import annotations

import click

from orionlite.cli.options import name_option, storage_option, version_option


@click.command("plot")
@name_option()
@version_option
@storage_option
@click.option(
    "--kind",
    type=click.Choice(["regret", "parallel", "importance", "curves", "pareto"]),
    default="regret",
    show_default=True,
    help="regret: best objective so far against trials completed; parallel: parallel "
    "coordinates of parameters and objective; importance: how much the objective depends "
    "on each parameter (random forest); curves: the values each trial reported per step, "
    "pruned trials marked; pareto: the trials by two or three objectives, the Pareto front "
    "marked.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="FILE.png, .svg or .pdf (matplotlib) or FILE.html (plotly, interactive).",
)
def plot_command(
    name: str, version: int | None, storage: str | None, kind: str, output: str
) -> None:
    """Plot an experiment's completed trials into FILE (needs the 'plot' extra).

    \b
    Example:
      orionlite plot -n mnist --kind regret -o regret.png
    """
    from orionlite.experiment import open_experiment
    from orionlite.plotting import plot
    from orionlite.storage import Storage

    store = Storage(storage, create=False)
    try:
        path = plot(open_experiment(store, name, version), kind, output)
    finally:
        store.close()
    click.echo(f"Wrote {path}.", err=True)
