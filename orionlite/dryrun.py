"""``hunt --dry-run``: what a hunt would do, with nothing stored and no file created."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orionlite.algorithms import algorithm_spec, make_algorithm
from orionlite.cmdline import parse_command
from orionlite.command_runner import check_executable
from orionlite.configfile import command_space, find_config_files
from orionlite.errors import ConfigError
from orionlite.names import check_new_name
from orionlite.space import Space


@dataclass
class DryRun:
    name: str
    space: Space
    algorithm: dict[str, Any]
    params: dict[str, Any]
    argv: list[str]
    working_dir: Path
    config_files: list[str]

    def lines(self) -> list[str]:
        lines = [f"Experiment: {self.name} (dry run: nothing is stored)", "Search space:"]
        width = max(len(name) for name in self.space)
        lines += [f"  {name:<{width}}  {prior}" for name, prior in self.space.items()]
        lines.append(f"Algorithm: {algorithm_text(self.algorithm)}")
        lines.append("First trial: " + ", ".join(f"{k}={v!r}" for k, v in self.params.items()))
        lines.append(f"  {shlex.join(self.argv)}")
        for path in self.config_files:
            lines.append(f"  (each trial gets a filled-in copy of {path} in its folder)")
        lines.append(f"Working folder: {self.working_dir}/<trial id>")
        return lines


def algorithm_text(spec: dict[str, Any]) -> str:
    ((name, options),) = spec.items()
    shown = ", ".join(f"{k}={v!r}" for k, v in (options or {}).items())
    return f"{name} ({shown})" if shown else name


def dry_run(
    name: str,
    command: list[str],
    algorithm: str | dict[str, Any] | None = None,
    working_dir: str | None = None,
    version: int | None = None,
) -> DryRun:
    """Parse the command and space, build the algorithm and draw its first point: every
    check a hunt makes before its first trial, without opening the database."""
    if not command:
        raise ConfigError(
            "--dry-run needs the command to check.",
            hint=f"Give it after --: hunt -n {name} --dry-run -- python train.py --lr~'...'",
        )
    check_new_name(name)
    template = parse_command(command)
    check_executable(template.to_json())
    space = command_space(template)
    if not space:
        raise ConfigError(
            "The search space is empty: no argument of the command defines a prior.",
            hint="Mark a hyperparameter with ~ and a prior, e.g. --lr~'loguniform(1e-5, 1)'.",
        )
    built = make_algorithm(algorithm, space)
    proposals = built.suggest([], 1)
    params = proposals[0].params if proposals else space.sample(_rng())
    folder = Path(working_dir or f"orionlite-runs/{name}-v{version or 1}").absolute()
    context = {
        "trial.id": "<trial id>",
        "trial.working_dir": f"{folder}/<trial id>",
        "trial.hash_params": "<hash>",
        "exp.name": name,
        "exp.version": str(version or 1),
        "exp.working_dir": str(folder),
    }
    files = [str(f.path) for f in find_config_files(template.argv, Path.cwd())]
    return DryRun(
        name=name,
        space=space,
        algorithm=algorithm_spec(built),
        params=params,
        argv=template.render(params, context),
        working_dir=folder,
        config_files=files,
    )


def _rng() -> Any:
    import numpy as np

    return np.random.default_rng()
