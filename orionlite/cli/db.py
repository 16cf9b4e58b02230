"""``db upgrade`` and ``db check``: schema migrations."""

from __future__ import annotations

import click

from orionlite.cli.options import storage_option


@click.group("db")
def db_group() -> None:
    """Create, upgrade or check the database schema."""


@db_group.command("upgrade")
@storage_option
def upgrade_command(storage: str | None) -> None:
    """Apply every migration this orionlite knows (safe to run again)."""
    from orionlite.storage.admin import upgrade_database

    before, after = upgrade_database(storage)
    if before == after:
        click.echo(f"The database is already at revision {after}.")
    else:
        click.echo(f"Upgraded the database from revision {before or 'empty'} to {after}.")


@db_group.command("check")
@storage_option
def check_command(storage: str | None) -> None:
    """Show the database's revision and this orionlite's; exit 1 if they differ."""
    from orionlite.storage.admin import check_database

    current, head = check_database(storage)
    click.echo(f"database revision: {current or 'none (empty database)'}")
    click.echo(f"expected revision: {head}")
    if current != head:
        raise click.exceptions.Exit(1)
    click.echo("The schema is up to date.")
