"""Checks of the Python API's arguments, each refusal a ConfigError saying what is
expected."""

from __future__ import annotations

import os

from orionlite.errors import ConfigError
from orionlite.records import TrialStatus
from orionlite.trial import Trial


def absolute_sqlite(url: str) -> str:
    """A relative SQLite path made absolute here, where the caller means it: worker
    processes may run in another folder (a reused joblib worker, a Dask worker)."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        path = url[len(prefix) :]
        if path and not path.startswith(("/", ":memory:", "file:")):
            return prefix + os.path.abspath(path)
    return url


def parse_status(value: str | TrialStatus) -> TrialStatus:
    try:
        return TrialStatus(value)
    except ValueError:
        known = ", ".join(status.value for status in TrialStatus)
        raise ConfigError(
            f"Unknown trial status {value!r}.", hint=f"Use one of: {known}."
        ) from None


def id_of_trial(trial: Trial | int) -> int:
    if isinstance(trial, Trial):
        return trial.id
    if isinstance(trial, int) and not isinstance(trial, bool):
        return trial
    raise ConfigError(f"Expected a Trial (from suggest()) or a trial id, not {trial!r}.")


def check_count(option: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{option} must be a whole number >= 1, not {value!r}.")
