"""SPEC §2.4: PostgreSQL restarts and dropped connections while four workers run.

These tests restart a server, so they run a throwaway cluster of their own (initdb into
a temporary folder, a free port, deleted at the end), never the shared server on 5432,
and skip, saying why, where no cluster can be made.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlab import (
    Hunt,
    Lab,
    assert_all_terminal,
    assert_clean_output,
    reported_attempt,
    wait_for,
)
from pgcluster import ThrowawayCluster, unavailable_reason

from orionlite.records import TrialStatus

WORKERS = 4
MAX_TRIALS = 16
# Longer than a heartbeat, so heartbeat threads are talking to the server when it goes.
TRIAL_ENV = {"FAULT_SLEEP": "0.6"}
OUTAGE_LINE = re.compile(r"database \S+ unreachable, retrying for up to \d+ s")


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"cannot run a throwaway PostgreSQL cluster: {reason}")
    server = ThrowawayCluster()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def outage_lab(cluster: ThrowawayCluster, tmp_path: Path, bin_path: Path) -> Iterator[Lab]:
    url = cluster.create_database(f"faults_{uuid.uuid4().hex[:8]}")
    lab = Lab(url, tmp_path, bin_path)
    yield lab
    lab.close()


def _start_workers(lab: Lab) -> list[Hunt]:
    workers = [lab.hunt("--max-trials", str(MAX_TRIALS), env=TRIAL_ENV) for _ in range(WORKERS)]
    wait_for(
        lambda: lab.experiment_exists() and lab.count(TrialStatus.COMPLETED) >= MAX_TRIALS // 4,
        "a quarter of the trials to complete",
    )
    return workers


def _assert_nothing_lost(lab: Lab, workers: list[Hunt]) -> None:
    for worker in workers:
        assert worker.wait() == 0, worker.stderr
        assert_clean_output(worker)
    completed = {t.id: t for t in lab.trials() if t.status is TrialStatus.COMPLETED}
    assert len(completed) == MAX_TRIALS
    assert_all_terminal(lab)
    # Every result a worker reported as recorded is in the database, intact, and is the
    # result of the run that owned the trial last.
    for worker in workers:
        for trial_id in re.findall(r"trial (\d+) completed", worker.stderr):
            trial = completed[int(trial_id)]
            assert trial.objective == pytest.approx(float(trial.params["x"]) ** 2)
            assert reported_attempt(trial) == trial.attempt


def test_postgres_restart_while_four_workers_run(
    cluster: ThrowawayCluster, outage_lab: Lab
) -> None:
    workers = _start_workers(outage_lab)
    # Down long enough for every worker to notice (each says so once), then back.
    cluster.stop("fast")
    wait_for(
        lambda: all(OUTAGE_LINE.search(worker.stderr) for worker in workers),
        "every worker to report the outage",
    )
    cluster.start()
    _assert_nothing_lost(outage_lab, workers)
    # The user hears of it in one line per worker and outage, not a traceback.
    for worker in workers:
        assert len(OUTAGE_LINE.findall(worker.stderr)) == 1, worker.stderr
        assert "database reachable again" in worker.stderr


def test_dropped_connections_and_a_quick_restart_go_unnoticed(
    cluster: ThrowawayCluster, outage_lab: Lab
) -> None:
    """Killed sessions are reopened at once, and a restart faster than the first retry
    is healed the same way: no work lost, and nothing for the user to worry about."""
    import psycopg

    workers = _start_workers(outage_lab)
    database = outage_lab.db_url.rsplit("/", 1)[1]
    wait_for(lambda: outage_lab.count(TrialStatus.COMPLETED) >= MAX_TRIALS // 2, "half done")
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    assert sum(1 for (done,) in rows if done) >= WORKERS  # each worker lost a connection
    wait_for(lambda: outage_lab.count(TrialStatus.COMPLETED) >= 3 * MAX_TRIALS // 4, "3/4 done")
    cluster.restart("fast")
    _assert_nothing_lost(outage_lab, workers)
