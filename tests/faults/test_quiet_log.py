"""A fault-free run leaves no ERROR line in the PostgreSQL server's log and no deadlock in
MariaDB's (DBAs watch them): eight workers that start one new experiment together, then
run it to its end.

The servers are throwaway ones of the test's own (``pgcluster``, ``mariadbserver``), so
that other tests' errors on the shared servers cannot mix in; a test skips, saying why,
where no such server can be made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultlab import Lab, assert_all_terminal, assert_clean_output
from mariadbserver import ThrowawayMariaDB
from mariadbserver import unavailable_reason as mariadb_unavailable
from pgcluster import ThrowawayCluster, unavailable_reason

from orionlite.records import TrialStatus

WORKERS = 8
MAX_TRIALS = 24
ERROR_LINE = re.compile(r"\b(ERROR|FATAL|PANIC):  ")


@pytest.fixture
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


def _errors_since(cluster: ThrowawayCluster, offset: int) -> list[str]:
    with open(cluster.log, errors="replace") as log:
        log.seek(offset)
        lines = log.read().splitlines()
    return [line for line in lines if ERROR_LINE.search(line)]


@pytest.mark.slow
def test_eight_workers_starting_one_experiment_leave_no_error_in_the_server_log(
    cluster: ThrowawayCluster, tmp_path: Path, bin_path: Path
) -> None:
    url = cluster.create_database("quiet")
    lab = Lab(url, tmp_path, bin_path)
    offset = cluster.log.stat().st_size
    try:
        _eight_workers_run_one_new_experiment(lab)
    finally:
        lab.close()
    assert _errors_since(cluster, offset) == []


@pytest.fixture
def mariadb() -> Iterator[ThrowawayMariaDB]:
    reason = mariadb_unavailable()
    if reason is not None:
        pytest.skip(f"cannot run a throwaway MariaDB server: {reason}")
    server = ThrowawayMariaDB()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def _deadlocks(server: ThrowawayMariaDB) -> int:
    connection: Any = server._connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        return int(cursor.fetchone()[1])
    finally:
        connection.close()


@pytest.mark.slow
def test_eight_workers_starting_one_experiment_cause_no_deadlock_on_mariadb(
    mariadb: ThrowawayMariaDB, tmp_path: Path, bin_path: Path
) -> None:
    url = mariadb.create_database("quiet")
    connection: Any = mariadb._connect()
    connection.cursor().execute("SET GLOBAL innodb_print_all_deadlocks = ON")
    connection.close()
    lab = Lab(url, tmp_path, bin_path)
    try:
        _eight_workers_run_one_new_experiment(lab)
    finally:
        lab.close()
    assert _deadlocks(mariadb) == 0
    assert "deadlock" not in mariadb.log.read_text(errors="replace").lower()


def _eight_workers_run_one_new_experiment(lab: Lab) -> None:
    hunts = [lab.hunt("--max-trials", str(MAX_TRIALS)) for _ in range(WORKERS)]
    for hunt in hunts:
        assert hunt.wait() == 0, hunt.stderr
        assert_clean_output(hunt)
    assert lab.count(TrialStatus.COMPLETED) == MAX_TRIALS
    assert_all_terminal(lab)
    # However the workers' starts happened to interleave, one that comes second
    # always meets the name taken: do what it does.
    record = lab.storage.get_experiment(lab.name)
    assert record is not None
    values = {
        "name": record.name,
        "version": record.version,
        "space": record.space,
        "algorithm": record.algorithm,
        "command": record.command,
        "max_trials": record.max_trials,
        "max_broken": record.max_broken,
        "working_dir": record.working_dir,
        "metadata": record.metadata,
    }
    assert lab.storage.create_experiment(values) is None
