"""``hunt``: start a worker (or ``--n-workers`` of them) on an experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from orionlite.cli.options import storage_option

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
    help="Stop once N trials have completed (all workers together).",
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
@click.option("--algorithm", metavar="NAME", help="random (default), grid, bayes, asha, hyperband.")
@click.option(
    "--algorithm-config", metavar="JSON", help="Algorithm options, e.g. '{\"n_values\": 5}'."
)
@click.option("--seed", type=int, help="Seed of the algorithm (reproducible with one worker).")
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
    "--working-dir",
    metavar="DIR",
    help="Experiment folder; each trial runs in DIR/<trial id> "
    "(default: orionlite-runs/<name>-v<version>).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML or JSON file with experiment settings (options override it).",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Join this version of the experiment.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings and the final summary.")
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
    from orionlite.hunting import hunt

    configure_logging(verbose=options["verbose"], quiet=options["quiet"])
    settings = _settings(options)
    result = hunt(settings)
    from orionlite.cli.closing import print_closing

    return print_closing(result)


def _settings(options: dict[str, Any]) -> Any:
    from orionlite.hunting import HuntSettings
    from orionlite.worker import WorkerSettings

    file_settings = _read_config(options["config_file"]) if options["config_file"] else {}
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

    return HuntSettings(
        name=name,
        command=list(options["command"]) or list(file_settings.get("command") or []),
        storage=pick("storage"),
        algorithm=spec,
        max_trials=pick("max_trials"),
        max_broken=pick("max_broken"),
        working_dir=pick("working_dir"),
        version=pick("version"),
        n_workers=options["n_workers"],
        verbose=options["verbose"],
        worker=WorkerSettings(
            heartbeat_s=options["heartbeat"],
            worker_max_trials=options["worker_max_trials"],
            idle_timeout_s=options["idle_timeout"],
            max_retries=options["max_retries"],
        ),
    )


_CONFIG_KEYS = {
    "name",
    "storage",
    "algorithm",
    "max_trials",
    "max_broken",
    "working_dir",
    "version",
    "command",
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
    unknown = sorted(set(data) - _CONFIG_KEYS)
    if unknown:
        raise click.BadParameter(
            f"{path} has unknown settings {', '.join(unknown)}; known: "
            f"{', '.join(sorted(_CONFIG_KEYS))}.",
            param_hint="--config",
        )
    return data


def _parse_json(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{text!r} is not JSON: {exc}.", param_hint=option) from exc
    if not isinstance(value, dict):
        raise click.BadParameter(f"{text!r} must be a JSON object.", param_hint=option)
    return value
