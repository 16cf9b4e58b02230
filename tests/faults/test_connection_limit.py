"""Workers at the server's connection limit (issue 19): one connection per worker,
heartbeats included, and a refused connection waited for, never a take-over storm.

PostgreSQL only: the limit is the server's. Each test makes its own role (a superuser
ignores ``CONNECTION LIMIT``) and a database owned by it with a connection limit; the
test itself reads through the superuser, so it takes none of the workers' connections.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faultlab import RECLAIM_LINE, Lab, assert_all_terminal, assert_clean_output
from waiting import wait_for

from orionlite.heartbeat import Heartbeat
from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage

LIMIT_LINE = "refuses more connections (limit reached)"
TRIAL_S = "2.5"  # longer than the lease (1.5 s): each trial needs its heartbeats
MAX_TRIALS = 6


@dataclass
class LimitedDatabase:
    """A database its own non-superuser role may open ``limit`` connections to."""

    admin_url: str
    name: str
    role: str

    def url(self, user: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        scheme, _, host = base.partition("://")
        return f"{scheme}://{user}@{host.rpartition('@')[2]}/{self.name}"

    @property
    def worker_url(self) -> str:
        return self.url(self.role)

    @property
    def observer_url(self) -> str:
        """The superuser's: not counted against the database's limit."""
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql)

    def set_limit(self, limit: int) -> None:
        self.admin(f'ALTER DATABASE "{self.name}" CONNECTION LIMIT {limit}')

    def disconnect_workers(self) -> None:
        self.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE usename = '{self.role}' AND datname = '{self.name}'"
        )


@pytest.fixture
def limited_database(postgres: Any) -> Iterator[Callable[[int], LimitedDatabase]]:
    made: list[LimitedDatabase] = []

    def make(limit: int) -> LimitedDatabase:
        suffix = uuid.uuid4().hex[:10]
        database = LimitedDatabase(postgres.admin_url, f"orionlite_l_{suffix}", f"olr_{suffix}")
        database.admin(f'CREATE ROLE "{database.role}" LOGIN')
        made.append(database)
        database.admin(
            f'CREATE DATABASE "{database.name}" OWNER "{database.role}" CONNECTION LIMIT {limit}'
        )
        return database

    yield make
    for database in made:
        database.admin(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
        database.admin(f'DROP ROLE IF EXISTS "{database.role}"')


@pytest.fixture
def limited_lab(tmp_path: Path, bin_path: Path) -> Iterator[Callable[[LimitedDatabase], Lab]]:
    labs: list[Lab] = []

    def make(database: LimitedDatabase) -> Lab:
        lab = Lab(database.worker_url, tmp_path, bin_path)
        lab.storage = Storage(database.observer_url)  # never connected as the role
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.close()


def _run_to_the_end(lab: Lab, workers: int) -> list[str]:
    hunts = [
        lab.hunt("--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": TRIAL_S})
        for _ in range(workers)
    ]
    codes = [hunt.wait() for hunt in hunts]
    outputs = [hunt.stderr for hunt in hunts]
    assert codes == [0] * workers, outputs
    for hunt in hunts:
        assert_clean_output(hunt)
    assert lab.count(TrialStatus.COMPLETED) == MAX_TRIALS
    assert_all_terminal(lab)
    return outputs


@pytest.mark.slow
def test_as_many_connections_as_workers_is_enough(
    limited_database: Callable[[int], LimitedDatabase],
    limited_lab: Callable[[LimitedDatabase], Lab],
) -> None:
    """Each worker needs one connection, heartbeats included: nothing is ever refused."""
    workers = 3
    lab = limited_lab(limited_database(workers))
    outputs = _run_to_the_end(lab, workers)
    for text in outputs:
        assert LIMIT_LINE not in text, text
        assert RECLAIM_LINE not in text, text
    assert {trial.attempt for trial in lab.trials()} == {1}, "no trial ran twice"
    assert len(lab.finished_runs()) == MAX_TRIALS


@pytest.mark.slow
def test_workers_beyond_the_limit_wait_for_a_connection(
    limited_database: Callable[[int], LimitedDatabase],
    limited_lab: Callable[[LimitedDatabase], Lab],
) -> None:
    """A worker the server refuses waits with one clear line, loses nothing, exits 0."""
    workers = 3
    lab = limited_lab(limited_database(workers - 1))
    outputs = _run_to_the_end(lab, workers)
    assert any(LIMIT_LINE in text for text in outputs), outputs
    assert all(text.count(LIMIT_LINE) <= 1 for text in outputs), outputs
    assert max(trial.attempt for trial in lab.trials()) <= 2
    assert not any("Check that the database server is running" in text for text in outputs)


def test_a_lease_that_runs_out_unrenewed_is_one_warning_and_retries_end_with_the_trial(
    limited_database: Callable[[int], LimitedDatabase],
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = limited_database(5)
    storage = Storage(database.worker_url)
    experiment = storage.create_experiment(
        {
            "name": "exp",
            "version": 1,
            "space": {},
            "algorithm": {"random": {"seed": 1}},
            "command": None,
            "max_trials": None,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert experiment is not None
    trial = storage.acquire_trial(experiment.id, {"x": 1}, "hash-1", "w1", 60.0)
    assert isinstance(trial, TrialRecord)
    heartbeat = Heartbeat(storage, 0.2)  # a lease of 0.6 s
    caplog.set_level(logging.DEBUG, logger="orionlite")
    try:
        with storage.keep_connection():
            storage.get_trial(trial.id)
            # The server now refuses the role, and drops the connection it had.
            database.set_limit(0)
            database.disconnect_workers()
            heartbeat.hold(trial)

            def expired() -> list[logging.LogRecord]:
                return [r for r in caplog.records if getattr(r, "action", "") == "lease_expired"]

            (warning,) = wait_for(expired, "the lease-expired warning", 10.0)
            assert warning.levelno == logging.WARNING
            assert f"Trial {trial.id}: its lease ran out" in warning.getMessage()
            assert "too many connections" in warning.getMessage()
            assert any(getattr(r, "action", "") == "db_connection_limit" for r in caplog.records)

            heartbeat.drop(trial)
            dropped_at = time.time()
            time.sleep(1.0)  # several intervals: a retry still going would log again
            late = [
                r
                for r in caplog.records
                if getattr(r, "trial_id", None) == trial.id and r.created > dropped_at + 0.1
            ]
            assert late == []
            assert len(expired()) == 1
    finally:
        heartbeat.close()
        database.set_limit(5)
        storage.close()
