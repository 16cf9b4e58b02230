"""Option decorators shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def storage_option(function: F) -> F:
    return click.option(
        "--storage",
        metavar="URL",
        envvar="ORIONLITE_STORAGE",
        show_envvar=True,
        help="Database URL: sqlite:///file.db (default sqlite:///orionlite.db), "
        "postgresql://user:password@host/dbname or mysql://user:password@host/dbname.",
    )(function)


def name_option(required: bool = True) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        return click.option(
            "-n", "--name", required=required, metavar="NAME", help="Experiment name."
        )(function)

    return decorate


def version_option(function: F) -> F:
    return click.option(
        "--version",
        "version",
        type=click.IntRange(min=1),
        metavar="N",
        help="Experiment version (default: the newest).",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(function)
