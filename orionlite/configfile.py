"""Priors inside the user's own config file (SPEC §1).

A training script often reads its settings from a YAML or JSON file. Any string value of
that file written ``'orionlite~uniform(0, 1)'`` is a dimension, named by its path in the
file (``/model/layers/1``, JSON-pointer style: ``~`` is written ``~0`` and ``/`` is ``~1``
inside a key). Each trial gets a filled-in copy in its own folder, and the argument of the
command that named the file is replaced by the copy's path.

Which arguments count: an argument of the user's command (or the value of ``--opt=FILE``)
that names an existing ``.yaml``/``.yml``/``.json`` file, taken relative to the folder
``hunt`` was started in, and whose text holds ``orionlite~`` at least once. Any option
name works (``--config``, ``--cfg``, a positional file): users of other tools pass their
configs in many ways, and a file without priors is left alone, so detection costs nothing
to those who do not use it. The file is read by every worker when it starts, like the
script itself; the experiment stores its priors in the space (so a changed prior is a
changed space, see SPEC §6) but not the rest of its content.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.errors import ConfigError, PriorError, SpaceError
from orionlite.space import CONFIG_PREFIX, Prior, Space, parse_prior

if TYPE_CHECKING:
    from orionlite.cmdline import CommandTemplate

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def escape_key(key: str) -> str:
    """JSON-pointer escaping, so a key holding ``/`` cannot fake a deeper path."""
    return key.replace("~", "~0").replace("/", "~1")


def find_priors(data: Any, path: str = "") -> dict[str, str]:
    """Every ``orionlite~`` string in nested dicts and lists: path -> prior text.

    Raises PriorError naming the path when a prior does not parse, before anything runs.
    """
    found: dict[str, str] = {}
    for where, value in _leaves(data, path):
        if isinstance(value, str) and value.strip().startswith(CONFIG_PREFIX):
            text = value.strip()[len(CONFIG_PREFIX) :].strip()
            try:
                parse_prior(text)
            except PriorError as exc:
                raise PriorError(
                    f"Config value at {where!r}: {exc.message}", hint=exc.hint
                ) from None
            found[where] = text
    return found


def _leaves(data: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _leaves(value, f"{path}/{escape_key(str(key))}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, f"{path}/{index}")
    else:
        yield path or "/", data


def fill(data: Any, params: Mapping[str, Any], path: str = "") -> Any:
    """A copy of ``data`` with each prior string replaced by its parameter's value."""
    if isinstance(data, Mapping):
        return {
            key: fill(value, params, f"{path}/{escape_key(str(key))}")
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [fill(value, params, f"{path}/{index}") for index, value in enumerate(data)]
    where = path or "/"
    if isinstance(data, str) and data.strip().startswith(CONFIG_PREFIX):
        if where not in params:
            raise ConfigError(f"No value for config-file dimension {where!r}.")
        return params[where]
    return data


@dataclass(frozen=True)
class ConfigFile:
    """One config file of the command: where it is named, its content and its priors."""

    argument: str
    """The command argument naming the file, as written (``my.yaml``, ``--config=my.yaml``)."""
    prefix: str
    """What precedes the path inside ``argument`` (``--config=``), usually empty."""
    path: Path
    data: Any
    priors: dict[str, str]

    @property
    def is_json(self) -> bool:
        return self.path.suffix.lower() == ".json"

    def render(self, params: Mapping[str, Any]) -> str:
        """The filled-in file text, in the original format (YAML comments are not kept)."""
        filled = fill(self.data, params)
        if self.is_json:
            return json.dumps(filled, indent=2) + "\n"
        import yaml

        text: str = yaml.safe_dump(filled, sort_keys=False, default_flow_style=False)
        return text

    def write_copy(self, folder: Path, params: Mapping[str, Any]) -> Path:
        """Write the trial's copy into its folder (same file name) and return its path."""
        target = folder / self.path.name
        target.write_text(self.render(params), encoding="utf-8")
        return target


def read_config_data(path: Path) -> Any:
    """Load YAML or JSON; an unreadable file is a ConfigError naming it."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise ConfigError(f"Config file {path} is not valid JSON: {exc}.") from None
    except Exception as exc:  # yaml.YAMLError; yaml is imported lazily
        raise ConfigError(
            f"Config file {path} is not valid YAML: {exc}.",
            hint="Fix the file, or quote the prior: lr: 'orionlite~loguniform(1e-5, 1)'",
        ) from None


def _candidate(argument: str) -> tuple[str, str] | None:
    """(prefix, path text) when ``argument`` may name a config file, else None."""
    prefix, value = "", argument
    if argument.startswith("-") and "=" in argument:
        head, _, value = argument.partition("=")
        prefix = head + "="
    if value.lower().endswith(CONFIG_SUFFIXES) and "{" not in value:
        return prefix, value
    return None


def find_config_files(argv: Sequence[str], launch_dir: Path | None = None) -> list[ConfigFile]:
    """The arguments of ``argv`` naming config files that hold priors (see module doc)."""
    base = launch_dir or Path.cwd()
    files: list[ConfigFile] = []
    seen: dict[str, ConfigFile] = {}
    for argument in argv[1:]:
        candidate = _candidate(argument)
        if candidate is None:
            continue
        prefix, value = candidate
        path = Path(os.path.expanduser(value))
        path = path if path.is_absolute() else base / path
        try:
            if not path.is_file() or CONFIG_PREFIX not in path.read_text(encoding="utf-8"):
                continue
        except (OSError, UnicodeError):
            continue
        data = read_config_data(path)
        try:
            priors = find_priors(data)
        except PriorError as exc:
            raise PriorError(f"{path}: {exc.message}", hint=exc.hint) from None
        if not priors:
            continue
        resolved = str(path.resolve())
        if resolved in seen:
            continue  # the same file named twice gets one set of dimensions
        config = ConfigFile(argument, prefix, path, data, priors)
        seen[resolved] = config
        for other in files:
            common = set(other.priors) & set(priors)
            if common:
                raise SpaceError(
                    f"Config files {other.path} and {path} both define "
                    f"{', '.join(sorted(common))}; a dimension needs one home.",
                    hint="Move the priors into one file, or nest one file's settings "
                    "under a different key.",
                )
        files.append(config)
    return files


def command_space(template: CommandTemplate, launch_dir: Path | None = None) -> Space:
    """The command line's dimensions plus those of the config files it names.

    Raises SpaceError when neither defines a dimension, or when a name is defined twice.
    """
    files = find_config_files(template.argv, launch_dir)
    priors: dict[str, str | Prior] = dict(template.priors)
    for config in files:
        for name, text in config.priors.items():
            if name in priors:
                raise SpaceError(
                    f"Dimension {name!r} is defined both on the command line and in {config.path}.",
                    hint="Keep one of the two priors.",
                )
            priors[name] = text
    if not priors:
        return template.space()  # raises the command line's "no dimension" error
    return Space.from_priors(priors)


def fill_arguments(
    argv: Sequence[str],
    files: Sequence[ConfigFile],
    params: Mapping[str, Any],
    trial_dir: Path,
) -> list[str]:
    """Write each config file's copy for this trial and point the command to it."""
    if not files:
        return list(argv)
    replacements = {}
    for config in files:
        copy = config.write_copy(trial_dir, params)
        replacements[config.argument] = f"{config.prefix}{copy}"
    return [replacements.get(argument, argument) for argument in argv]
