"""Terminal output: log lines for workers, aligned tables for listings.

Results go to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

_LOGGERS = ("orionlite",)


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        return f"[{stamp}] {record.getMessage()}"


def configure_logging(*, verbose: bool, quiet: bool) -> None:
    """Plain timestamped lines on stderr: trial starts and ends, outages, warnings."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormatter())
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


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
