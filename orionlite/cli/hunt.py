"""``hunt``: start a worker (or ``--n-workers`` of them) on an experiment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from orionlite.algorithm_names import algorithm_help
from orionlite.cli.options import storage_option

# = orionlite.storage.retry.OUTAGE_DEADLINE_ENV, without importing SQLAlchemy for --help.
DB_RETRY_DEADLINE_ENV = "ORIONLITE_DB_RETRY_DEADLINE"

CONTEXT = {
    "help_option_names": ["-h", "--help"],
    # Everything from the first argument that is not ours belongs to the user's command.
    "allow_interspersed_args": False,
    "ignore_unknown_options": False,
}


@click.command("hunt", context_settings=CONTEXT)
@click.option("-n", "--name", metavar="NAME", help="Experiment name (required unless in --config).")
@storage_option
@click.option(
    "--max-trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop once N trials have completed (all workers together). Without it, hunt runs "
    "until stopped (Ctrl-C) or the search space is exhausted.",
)
@click.option(
    "--max-broken",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop every worker once N trials broke (default 3).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Run a broken trial again up to N times before it counts as broken.",
)
@click.option(
    "--algorithm",
    metavar="NAME",
    help=algorithm_help(),
)
@click.option(
    "--objective",
    "objectives",
    multiple=True,
    metavar="NAME[:min|:max]",
    help="Declare an objective the trials report (repeat for several; minimised unless "
    ":max). Stored with the experiment.",
)
@click.option(
    "--maximize",
    is_flag=True,
    default=False,
    help="Maximise the objective instead of minimising it (one objective).",
)
@click.option(
    "--algorithm-config", metavar="JSON", help="Algorithm options, e.g. '{\"n_values\": 5}'."
)
@click.option("--seed", type=int, help="Seed of the algorithm (reproducible with one worker).")
@click.option(
    "--early-stop",
    metavar="RULE",
    help="Stop hopeless trials early: none (default), median, asha or threshold, judged "
    "on the values trials report to $ORIONLITE_PROGRESS_PATH. Stored with the experiment.",
)
@click.option(
    "--early-stop-config",
    metavar="JSON",
    help='Options of the rule, e.g. \'{"min_trials": 5, "warmup_steps": 2}\' (median), '
    '\'{"min_step": 3, "reduction_factor": 3}\' (asha), \'{"upper": 10}\' (threshold).',
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="A stopped trial gets this long after its stop file before SIGTERM, and as long "
    "again before SIGKILL.",
)
@click.option(
    "--n-workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes started by this command.",
)
@click.option(
    "--worker-max-trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="This worker leaves after running N trials.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Leave when no trial could be reserved for this long (default: wait "
    "while other workers hold unfinished trials).",
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Heartbeat interval; a trial whose worker missed 3 intervals is given to another worker.",
)
@click.option(
    "--trial-timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop a trial running longer (SIGTERM, then SIGKILL after 10 s) and record it "
    "broken, with reason timeout.",
)
@click.option(
    "--max-duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="This worker leaves after SECONDS (e.g. before a job's time limit); its running "
    "trial goes back to the pool.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the parsed space, the algorithm, the first trial's command line and the "
    "working folder, then exit: nothing is stored, no file is created.",
)
@click.option(
    "--db-retry-deadline",
    type=click.FloatRange(min=0),
    envvar=DB_RETRY_DEADLINE_ENV,
    show_envvar=True,
    metavar="SECONDS",
    help="How long a worker retries while the database is unreachable (restart, dropped "
    "connection) before it gives up  [default: 300].",
)
@click.option(
    "--working-dir",
    metavar="DIR",
    help="Experiment folder; each trial runs in DIR/<trial id> "
    "(default: orionlite-runs/<name>-v<version>).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML or JSON file with experiment settings (options override it). If it holds "
    "'orionlite~' priors it is also your script's config: each trial gets a filled copy.",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Join this version of the experiment (with --branch: branch from it).",
)
@click.option(
    "--branch",
    metavar="NEW",
    help="Start experiment NEW as a child of -n NAME: it begins with NAME's completed "
    "trials that fit the new space (new dimensions need a default_value). NEW equal to "
    "NAME makes the next version.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only warnings and the final summary (no live progress line).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show each trial's output live, debug lines, and tracebacks.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND [ARGS]...")
def hunt_command(**options: Any) -> int:
    """Run trials of COMMAND; arguments like --lr~'loguniform(1e-5, 1)' define the search.

    \b
    Example:
      hunt -n mnist --max-trials 50 -- python train.py --lr~'loguniform(1e-5, 1)'
    Start the same command in more terminals or jobs to add workers.
    """
    from orionlite.cli.output import configure_logging
    from orionlite.launch import hunt
    from orionlite.progress_line import progress_display, use_live_display

    configure_logging(verbose=options["verbose"], quiet=options["quiet"])
    if options["dry_run"]:
        return _dry_run(options)
    if options["db_retry_deadline"] is not None:
        # Read by every Storage this process and its worker processes open.
        os.environ[DB_RETRY_DEADLINE_ENV] = repr(options["db_retry_deadline"])
    live = use_live_display(quiet=options["quiet"], verbose=options["verbose"])
    settings = _settings(options, live=live)
    watched = settings.branch or settings.name
    version = None if settings.branch else settings.version
    with progress_display(settings.storage, watched, version, live=live):
        result = hunt(settings)
    from orionlite.cli.closing import print_closing

    return print_closing(result)


def _settings(options: dict[str, Any], live: bool = False) -> Any:
    from orionlite.launch import HuntSettings
    from orionlite.worker import WorkerSettings

    file_settings = _read_config(options["config_file"]) if options["config_file"] else {}
    command = list(options["command"]) or list(file_settings.get("command") or [])
    if options["config_file"] and file_settings.pop(_HOLDS_PRIORS, False):
        command = _pass_config_file(command, options["config_file"])
    name = options["name"] or file_settings.get("name")
    if not name:
        raise click.UsageError("Missing option '-n' / '--name' (or 'name' in --config).")
    algorithm = options["algorithm"] or file_settings.get("algorithm")
    algorithm_options: dict[str, Any] = {}
    if isinstance(algorithm, dict):
        from orionlite.algorithms import normalize_algorithm

        algorithm, algorithm_options = normalize_algorithm(algorithm)
    if options["algorithm_config"]:
        algorithm_options.update(_parse_json(options["algorithm_config"], "--algorithm-config"))
    if options["seed"] is not None:
        algorithm_options["seed"] = options["seed"]
    spec: str | dict[str, Any] | None = algorithm
    if algorithm_options:
        spec = {algorithm or "random": algorithm_options}

    def pick(key: str, file_key: str | None = None) -> Any:
        value = options.get(key)
        return value if value is not None else file_settings.get(file_key or key)

    early_stop = _early_stop(options["early_stop"], options["early_stop_config"])
    from orionlite.objectives import parse_objectives

    declared = list(options["objectives"]) or file_settings.get("objectives")
    direction = "maximize" if options["maximize"] else file_settings.get("direction")
    return HuntSettings(
        name=name,
        early_stop=early_stop,
        stop_grace_s=options["stop_grace"],
        objectives=parse_objectives(declared, direction),
        command=command,
        storage=pick("storage"),
        algorithm=spec,
        max_trials=pick("max_trials"),
        max_broken=pick("max_broken"),
        working_dir=pick("working_dir"),
        version=pick("version"),
        branch=options["branch"],
        n_workers=options["n_workers"],
        trial_timeout_s=options["trial_timeout"],
        verbose=options["verbose"],
        # Worker processes under the live line print warnings only (see orionlite.progress_line).
        quiet=options["quiet"] or live,
        worker=WorkerSettings(
            heartbeat_s=options["heartbeat"],
            worker_max_trials=options["worker_max_trials"],
            idle_timeout_s=options["idle_timeout"],
            max_retries=options["max_retries"],
            max_duration_s=options["max_duration"],
        ),
    )


def _dry_run(options: dict[str, Any]) -> int:
    """--dry-run: the checks and first suggestion of a hunt, printed; the database is
    never opened."""
    from orionlite.dryrun import dry_run

    settings = _settings(options)
    result = dry_run(
        settings.branch or settings.name,
        settings.command,
        settings.algorithm,
        settings.working_dir,
        settings.version,
    )
    for line in result.lines():
        click.echo(line)
    return 0


# Internal marker in _read_config's result: the file is also the script's config.
_HOLDS_PRIORS = "__holds_priors__"
CONFIG_PREFIX = "orionlite~"  # = orionlite.space.CONFIG_PREFIX, without importing numpy

_CONFIG_KEYS = {
    "name",
    "storage",
    "algorithm",
    "max_trials",
    "max_broken",
    "working_dir",
    "version",
    "command",
    "objectives",
    "direction",
}


def _read_config(path: str) -> dict[str, Any]:
    import yaml

    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text) if not path.endswith(".json") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise click.BadParameter(
            f"{path} is not valid YAML/JSON: {exc}", param_hint="--config"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold a mapping of settings.", param_hint="--config")
    if CONFIG_PREFIX in text:
        # The user's own config file with priors (SPEC §1): its other keys are the
        # script's business, and the script receives a filled copy (_pass_config_file).
        settings = {key: value for key, value in data.items() if key in _CONFIG_KEYS}
        return {**settings, _HOLDS_PRIORS: True}
    unknown = sorted(set(data) - _CONFIG_KEYS)
    if unknown:
        raise click.BadParameter(
            f"{path} has unknown settings {', '.join(unknown)}; known: "
            f"{', '.join(sorted(_CONFIG_KEYS))}.",
            param_hint="--config",
        )
    return data


def _pass_config_file(command: list[str], path: str) -> list[str]:
    """Give hunt's --config file, which holds priors, to the user's script.

    If the command already names the file (``--config my.yaml``, ``--cfg=my.yaml``), that
    argument is what each trial sees replaced by its copy; otherwise ``--config FILE`` is
    appended to the command, which is where scripts conventionally take it.
    """
    target = Path(path).resolve()
    for argument in command[1:]:
        value = argument.partition("=")[2] if argument.startswith("-") else argument
        if value and Path(value).resolve() == target:
            return command
    if not command:
        return command  # joining: the stored command already passes the file
    return [*command, "--config", path]


def _early_stop(rule: str | None, config: str | None) -> dict[str, Any] | None:
    """The rule, checked before anything is stored (exit 2 when unusable)."""
    if rule is None and config is None:
        return None
    from orionlite.errors import ConfigError
    from orionlite.stopping import normalize_early_stop

    if rule is None:
        raise click.BadParameter(
            "--early-stop-config needs --early-stop RULE (median, asha or threshold).",
            param_hint="--early-stop-config",
        )
    try:
        return normalize_early_stop(rule, config)
    except ConfigError as exc:
        message = exc.message + (f" {exc.hint}" if exc.hint else "")
        raise click.BadParameter(message, param_hint="--early-stop") from None


def _parse_json(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{text!r} is not JSON: {exc}.", param_hint=option) from exc
    if not isinstance(value, dict):
        raise click.BadParameter(f"{text!r} must be a JSON object.", param_hint=option)
    return value
