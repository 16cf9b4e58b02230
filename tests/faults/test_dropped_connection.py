"""A connection the server closed while a trial ran (an idle timeout, a proxy, a DBA's
``pg_terminate_backend``) is replaced before its next use: no lost heartbeat, no second
run of the trial, nothing on the user's screen.

PostgreSQL only (SQLite has no connection to lose). The database is the test's own on the
shared server; only that database's sessions are terminated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faultlab import RECLAIM_LINE, Lab, assert_all_terminal, assert_clean_output, first_started

from orionlite.records import TrialStatus

TRIAL_S = "3"


@pytest.fixture
def pg_lab(postgres: Any, tmp_path: Path, bin_path: Path) -> Iterator[Lab]:
    name = postgres.create()
    lab = Lab(postgres.admin_url.rsplit("/", 1)[0] + "/" + name, tmp_path, bin_path)
    try:
        yield lab
    finally:
        lab.close()
        postgres.drop(name)


def _terminate_workers(lab: Lab) -> float:
    """End every session of the lab's database (the workers': the test's own reader is
    closed first); returns the database clock's time after, in seconds."""
    lab.storage.close()
    database = lab.db_url.rsplit("/", 1)[1]
    admin = lab.db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'orionlite'",
            (database,),
        ).fetchall()
        assert any(done for (done,) in rows), "the worker had no session to end"
        (now,) = connection.execute(
            "SELECT extract(epoch FROM clock_timestamp())::float8"
        ).fetchone() or (0.0,)
    return float(now)


@pytest.mark.parametrize(
    "heartbeat",
    [
        pytest.param("0.5", id="next-use-is-a-heartbeat"),
        pytest.param("60", id="next-use-is-the-result"),
    ],
)
def test_a_connection_ended_by_the_server_during_a_trial_is_replaced_unnoticed(
    pg_lab: Lab, heartbeat: str
) -> None:
    lab = pg_lab
    hunt = lab.hunt("--max-trials", "2", "--heartbeat", heartbeat, env={"FAULT_SLEEP": TRIAL_S})
    trial_id, _pid = first_started(lab)
    ended_at = _terminate_workers(lab)
    assert hunt.wait() == 0, hunt.stderr
    assert_clean_output(hunt)
    text = hunt.stderr
    for unwanted in ("unreachable", "lease ran out", RECLAIM_LINE, "Warning", "WARNING"):
        assert unwanted not in text, text
    trial = lab.trial(trial_id)
    assert trial.status is TrialStatus.COMPLETED
    assert trial.attempt == 1  # the lease was never lost: nobody else ran it
    assert [run["trial"] for run in lab.finished_runs()].count(trial_id) == 1
    if heartbeat == "0.5":
        # The lease went on being extended, on a new connection.
        assert trial.heartbeat_at is not None and trial.heartbeat_at > ended_at
    assert lab.count(TrialStatus.COMPLETED) == 2
    assert_all_terminal(lab)
