"""Terminal output: log lines for workers, aligned tables for listings.

Results go to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from orionlite.logs import configure_logging


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
) -> None:
    """An aligned table that fits the terminal ($COLUMNS, else its width; never cut when
    piped): see orionlite.cli.tables."""
    from orionlite.cli.tables import available_width, render

    if title:
        click.echo(title)
    cells = [[format_value(v) for v in row] for row in rows]
    for line in render(list(headers), cells, available_width()):
        click.echo(line)


def echo_err(message: str) -> None:
    click.echo(message, err=True)


__all__ = ["configure_logging", "echo_err", "format_value", "print_table"]
