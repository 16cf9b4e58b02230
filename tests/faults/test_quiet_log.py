"""A fault-free run leaves no ERROR line in the PostgreSQL server's log (DBAs watch it):
eight workers that start one new experiment together, then run it to its end.

The log is that of a throwaway cluster of the test's own (``pgcluster``), so that other
tests' errors on the shared server cannot mix in; it skips, saying why, where no cluster
can be made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlab import Lab, assert_all_terminal, assert_clean_output
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
    finally:
        lab.close()
    assert _errors_since(cluster, offset) == []
