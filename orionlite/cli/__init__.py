"""Command line: a root group whose commands load only when used.

``orionlite --help`` and ``hunt --help`` import click and this package's CLI modules only;
SQLAlchemy, numpy and scikit-optimize load inside the command callbacks.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from orionlite.errors import OrionliteError

COMMANDS = {
    "hunt": "orionlite.cli.hunt:hunt_command",
    "status": "orionlite.cli.status:status_command",
    "list": "orionlite.cli.status:list_command",
    "info": "orionlite.cli.status:info_command",
    "export": "orionlite.cli.export:export_command",
    "plot": "orionlite.cli.plot:plot_command",
    "db": "orionlite.cli.db:db_group",
    "requeue": "orionlite.cli.manage:requeue_command",
    "insert": "orionlite.cli.manage:insert_command",
    "set": "orionlite.cli.manage:set_command",
    "rm": "orionlite.cli.manage:rm_command",
    "dashboard": "orionlite.cli.dashboard:dashboard_command",
}

EXIT_INTERRUPTED = 130


class LazyGroup(click.Group):
    """Imports a command's module only when that command is listed or run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orionlite")
def cli() -> None:
    """orionlite: masterless hyperparameter tuning over SQLite, PostgreSQL or MySQL.

    Start as many `hunt` workers as you like, anywhere that reaches the database; they
    share one trial history and need no master.
    """


def run(command: click.Command, args: list[str] | None = None) -> int:
    """The one place that turns errors into messages and exit codes (SPEC §1).

    Library errors print their message and next step (exit 1); click usage errors exit 2;
    a traceback appears only with --verbose.
    """
    argv = sys.argv[1:] if args is None else args
    own = argv[: argv.index("--")] if "--" in argv else argv
    verbose = "-v" in own or "--verbose" in own
    try:
        result = command.main(args=argv, prog_name=_prog_name(command), standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except OrionliteError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(exc.hint, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


def _prog_name(command: click.Command) -> str:
    return "hunt" if command.name == "hunt" and command is not cli else "orionlite"


def main(args: list[str] | None = None) -> Any:
    sys.exit(run(cli, args))


def hunt_main(args: list[str] | None = None) -> Any:
    from orionlite.cli.hunt import hunt_command

    sys.exit(run(hunt_command, args))
