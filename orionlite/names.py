"""Experiment names: they become folder names (``orionlite-runs/<name>-v<version>``), so a
new experiment's name must stay one plain path component."""

from __future__ import annotations

import unicodedata

from orionlite.errors import ConfigError

MAX_NAME_LENGTH = 200


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new experiment, or None when it can."""
    if not name.strip():
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    if "/" in name or "\\" in name:
        return "it holds a path separator (/ or \\)"
    if ".." in name or name == ".":
        return "it holds '..' or is '.'"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "it holds a control character (a newline, a tab, ...)"
    return None


def check_new_name(name: str) -> None:
    """Refuse a name for a new experiment that could not be a folder name of its own.

    Only new experiments are checked: an existing one keeps opening whatever its name.
    """
    problem = name_problem(name)
    if problem is not None:
        raise ConfigError(
            f"The experiment name {name!r} cannot be used: {problem}. Trial folders are "
            "named after the experiment, so its name must be a single folder name.",
            hint="Use letters, digits, '-', '_' or '.', e.g. -n mnist-lr-search.",
        )
