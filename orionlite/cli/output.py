"""Terminal output: log lines for workers, aligned tables for listings.

Results go to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import logging
import shutil
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
    """An aligned table; never wrapped or cut when piped (width grows to fit)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(format_value(v) for v in row))
    width = None if sys.stdout.isatty() else max(shutil.get_terminal_size().columns, 240)
    Console(width=width, highlight=False, soft_wrap=False).print(table)


def echo_err(message: str) -> None:
    click.echo(message, err=True)
