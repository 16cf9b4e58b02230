"""``dashboard``: a live, read-only web view of the experiments in a database."""

from __future__ import annotations

import click

from orionlite.cli.options import storage_option


def _base_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value and (not value.startswith("/") or "//" in value or "?" in value or "#" in value):
        raise click.BadParameter(
            f"{value!r} is not a path prefix: give one such as /orionlite (leading slash, "
            "no host, query or fragment), or leave it out to serve at the root.",
            ctx=ctx,
            param=param,
        )
    return value.rstrip("/")


@click.command("dashboard")
@storage_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default is reachable from this machine only; "
    "0.0.0.0 shows every experiment, its command lines and trial output to anyone who "
    "can reach the port, without a password.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one (printed).",
)
@click.option(
    "--base-url",
    default="",
    metavar="/PREFIX",
    callback=_base_url,
    help="Serve under this path, e.g. /orionlite behind a reverse proxy.",
)
def dashboard_command(storage: str | None, host: str, port: int, base_url: str) -> None:
    """Serve a live, read-only web dashboard of the database (needs the 'dashboard' extra).

    Pages: every experiment with its status counts, best objective and live workers;
    one experiment's plots and trials table (sorted, filtered, paginated); one trial's
    parameters, results, history, command and output. Pages update while workers run.
    The dashboard never writes: it creates no database and opens it read-only.

    \b
    Example:
      orionlite dashboard --storage sqlite:///orionlite.db
      # then open http://127.0.0.1:8080/
    """
    from orionlite.dashboard.server import serve

    serve(storage, host, port, base_url, lambda text: click.echo(text, err=True), click.echo)
    click.echo("Dashboard stopped.", err=True)
