"""Helpers for the Python API tests (a plain module, so tests and the worker processes
they start can import its functions by name).

Functions handed to ``workon`` live here rather than in test modules: worker processes
(loky, spawn, Dask) import them by reference, and importing this small module is cheaper
than importing a test module with its fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from waiting import TIMEOUT_S

from orionlite.client import ExperimentClient
from orionlite.records import TrialStatus

SPACE = {"x": "uniform(-5, 5)", "n": "choices([1, 2, 3, 4])"}
HERE = Path(__file__).parent


def quadratic(x: float, n: int) -> float:
    return (x - 1.0) ** 2 + n


def _arrive(folder: str, parties: int) -> None:
    """Block a worker's first call until ``parties`` workers are inside a trial at once.

    Proves the workers really ran side by side (a fast worker cannot take every trial
    while the others still start up), with no assumption about durations.
    """
    me = Path(folder, f"{os.getpid()}-{threading.get_ident()}")
    if me.exists():
        return
    me.touch()
    deadline = time.monotonic() + TIMEOUT_S
    while len(os.listdir(folder)) < parties and time.monotonic() < deadline:
        time.sleep(0.02)


def rendezvous_quadratic(x: float, n: int, *, folder: str, parties: int) -> float:
    _arrive(folder, parties)
    return quadratic(x, n)


def fail_once_then_sleep(x: float, n: int, *, folder: str, sleep_s: float) -> float:
    """With two workers: the first to get here raises once both hold a trial; the other
    sleeps (and must be interrupted, else its trial would complete)."""
    _arrive(folder, 2)
    try:
        fd = os.open(os.path.join(folder, "failed"), os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        time.sleep(sleep_s)
        return quadratic(x, n)
    os.close(fd)
    raise ValueError(f"diverged at x={x}")


def assert_exact(exp: ExperimentClient, completed: int) -> None:
    """Exactly ``completed`` trials completed, none left reserved, no point twice."""
    trials = exp.trials()
    counts = Counter(trial.status for trial in trials)
    assert counts[TrialStatus.COMPLETED] == completed, counts
    assert counts[TrialStatus.RESERVED] == 0, counts
    hashes = [trial.record.params_hash for trial in trials if trial.record is not None]
    assert len(set(hashes)) == len(trials), "a parameter set was created twice"


def distinct_workers(exp: ExperimentClient) -> int:
    return len(
        {
            trial.record.reserved_by
            for trial in exp.trials(status="completed")
            if trial.record is not None
        }
    )


def python_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORIONLITE_")}
    env["ORIONLITE_STORAGE"] = db_url
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Python:
    """A Python script in its own process; output goes to a file (a full pipe would
    block it)."""

    process: subprocess.Popen[bytes]
    log: Path

    def wait(self, timeout_s: float = TIMEOUT_S) -> int:
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.process.args} still running after {timeout_s} s:\n{self.output}")

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_python(
    script: Path, db_url: str, *args: str, cwd: Path, new_session: bool = False
) -> Python:
    log = cwd / f"{script.stem}-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(script), *args],
            cwd=cwd,
            env=python_env(db_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    return Python(process, log)
