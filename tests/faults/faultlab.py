"""Helpers for fault tests: real ``hunt`` processes, real signals, a real database.

(A plain module rather than conftest.py, so test modules can import its names.)

Every test here starts ``hunt`` as a subprocess (the installed script), hurts it the way
production would (SIGKILL, SIGSTOP, SIGINT, a database restart), and then checks what the
database holds. Waits are for conditions with generous timeouts, never for durations.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from waiting import TIMEOUT_S, wait_for

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage

TRIAL_SCRIPT = Path(__file__).with_name("trial_script.py")
# Short heartbeats keep the tests quick: a lease is 3 intervals, 1.5 s here.
HEARTBEAT_S = 0.5
LEASE_S = 3 * HEARTBEAT_S
RECLAIM_LINE = "was reclaimed by another worker after this worker's heartbeat expired"


@dataclass
class Hunt:
    """One ``hunt`` process; its output goes to files (a full pipe would block it)."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = TIMEOUT_S) -> int:
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"hunt {self.pid} still running after {timeout_s:.0f} s; stderr:\n{self.stderr}"
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@dataclass
class Lab:
    """A database, a folder, and the processes a test started there (killed at the end)."""

    db_url: str
    root: Path
    bin_path: Path
    name: str = "faults"
    hunts: list[Hunt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.marks = self.root / "marks"
        self.marks.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "trials.jsonl"
        self.storage = Storage(self.db_url)

    def hunt(self, *options: str, env: dict[str, str] | None = None) -> Hunt:
        """Start ``hunt -n faults --storage ... OPTIONS -- python trial_script.py``."""
        index = len(self.hunts)
        environment = {
            **os.environ,
            "FAULT_MARKS": str(self.marks),
            "FAULT_LOG": str(self.log),
            **(env or {}),
        }
        argv = [
            str(self.bin_path / "hunt"),
            "-n",
            self.name,
            "--storage",
            self.db_url,
            "--heartbeat",
            str(HEARTBEAT_S),
            *options,
            "--",
            sys.executable,
            str(TRIAL_SCRIPT),
            "--x~uniform(-10, 10)",
        ]
        stdout_path = self.root / f"hunt{index}.out"
        stderr_path = self.root / f"hunt{index}.err"
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen(argv, cwd=self.root, env=environment, stdout=out, stderr=err)
        hunt = Hunt(process, stdout_path, stderr_path)
        self.hunts.append(hunt)
        return hunt

    # -- what trials did ------------------------------------------------------------

    def started(self) -> dict[tuple[int, int], int]:
        """(trial id, attempt) -> pid of every trial process that started."""
        found = {}
        for path in self.marks.glob("*.started"):
            trial, attempt = path.stem.split("-")
            found[int(trial), int(attempt)] = int(path.read_text())
        return found

    def signal_seen(self, trial_id: int, attempt: int) -> str | None:
        path = self.marks / f"{trial_id}-{attempt}.signal"
        return path.read_text() if path.exists() else None

    def finished_runs(self) -> list[dict[str, Any]]:
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    # -- what the database holds ----------------------------------------------------

    def experiment_id(self) -> int:
        record = self.storage.get_experiment(self.name)
        assert record is not None, "experiment was not created"
        return record.id

    def trials(self) -> list[TrialRecord]:
        return self.storage.trials(self.experiment_id())

    def trial(self, trial_id: int) -> TrialRecord:
        trial = self.storage.get_trial(trial_id)
        assert trial is not None
        return trial

    def lease(self, trial_id: int) -> tuple[float | None, float | None]:
        """(lease length granted at the last heartbeat, lease time left), DB clock only."""
        import sqlalchemy as sa

        from orionlite.storage.sqlfunctions import db_now
        from orionlite.storage.tables import trials

        query = sa.select(
            trials.c.lease_expires_at - trials.c.heartbeat_at,
            trials.c.lease_expires_at - db_now(),
        ).where(trials.c.id == trial_id)
        with self.storage.engine.connect() as connection:
            granted, left = connection.execute(query).one()
        return granted, left

    def count(self, status: TrialStatus) -> int:
        return sum(1 for trial in self.trials() if trial.status is status)

    def experiment_exists(self) -> bool:
        return self.storage.get_experiment(self.name) is not None

    # -- clean-up -------------------------------------------------------------------

    def kill_trial_process(self, pid: int) -> None:
        """SIGKILL a trial's process group, if it is still one of our trial scripts."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if str(TRIAL_SCRIPT).encode() in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for hunt in self.hunts:
            if hunt.process.poll() is None:
                hunt.process.send_signal(signal.SIGCONT)
                hunt.process.kill()
                hunt.process.wait()
        for pid in self.started().values():
            self.kill_trial_process(pid)
        self.storage.close()


def first_started(lab: Lab) -> tuple[int, int]:
    """(trial id, pid) of the first trial process to start; it must be a first attempt."""
    started = wait_for(lab.started, "a trial to start")
    ((trial_id, attempt), pid), *_ = started.items()
    assert attempt == 1
    return trial_id, pid


def reported_attempt(trial: TrialRecord) -> float | None:
    """Which run produced the stored result (the trial script reports its attempt)."""
    for result in trial.results or []:
        if result["name"] == "attempt":
            return float(result["value"])
    return None


def assert_clean_output(hunt: Hunt) -> None:
    """What a user must never see from hunt, whatever happened."""
    text = hunt.stderr
    assert "Traceback" not in text, text
    assert "database is locked" not in text, text


def assert_all_terminal(lab: Lab) -> None:
    """No trial left reserved (or new) once every worker is gone: nothing was lost."""
    stuck = [
        (trial.id, trial.status.value)
        for trial in lab.trials()
        if trial.status in (TrialStatus.RESERVED, TrialStatus.NEW)
    ]
    assert stuck == []


__all__ = [
    "HEARTBEAT_S",
    "LEASE_S",
    "RECLAIM_LINE",
    "Hunt",
    "Lab",
    "assert_all_terminal",
    "assert_clean_output",
    "first_started",
    "reported_attempt",
    "wait_for",
]
