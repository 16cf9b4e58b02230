"""Workers at MySQL's per-user connection limit (``max_user_connections``): a worker the
server refuses waits with the same one line as on PostgreSQL, and nothing is lost.

MySQL only: the limit is the user's. Each test makes its own user limited to fewer
connections than there are workers, and a database for it; the test reads through root,
which takes none of the workers' connections.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultlab import Lab, assert_all_terminal, assert_clean_output

from orionlite.records import TrialStatus
from orionlite.storage import Storage

LIMIT_LINE = "refuses more connections (limit reached)"
TRIAL_S = "2.5"  # longer than the lease (1.5 s): each trial needs its heartbeats
MAX_TRIALS = 6
WORKERS = 3


@pytest.fixture
def limited_url(mysql: Any) -> Iterator[tuple[str, str]]:
    """(the limited user's URL, root's URL) of a new database; the user may open one
    connection fewer than there are workers."""
    suffix = uuid.uuid4().hex[:10]
    name, user = f"orionlite_l_{suffix}", f"olr_{suffix}"
    mysql._admin(f"CREATE DATABASE `{name}`")
    mysql._admin(f"CREATE USER '{user}'@'%' WITH MAX_USER_CONNECTIONS {WORKERS - 1}")
    mysql._admin(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%'")
    base, _, _ = mysql.admin_url.rpartition("/")
    scheme, _, host = base.partition("://")
    try:
        yield f"{scheme}://{user}@{host.rpartition('@')[2]}/{name}", f"{base}/{name}"
    finally:
        mysql._admin(f"DROP USER IF EXISTS '{user}'@'%'")
        mysql.drop(name)


@pytest.mark.slow
def test_workers_beyond_the_user_limit_wait_for_a_connection(
    limited_url: tuple[str, str], tmp_path: Path, bin_path: Path
) -> None:
    worker_url, root_url = limited_url
    Storage(root_url).close()
    lab = Lab(worker_url, tmp_path, bin_path)
    lab.storage = Storage(root_url)
    try:
        hunts = [
            lab.hunt("--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": TRIAL_S})
            for _ in range(WORKERS)
        ]
        codes = [hunt.wait() for hunt in hunts]
        outputs = [hunt.stderr for hunt in hunts]
        assert codes == [0] * WORKERS, outputs
        for hunt in hunts:
            assert_clean_output(hunt)
        assert lab.count(TrialStatus.COMPLETED) == MAX_TRIALS
        assert_all_terminal(lab)
        assert any(LIMIT_LINE in text for text in outputs), outputs
        assert all(text.count(LIMIT_LINE) <= 1 for text in outputs), outputs
        assert max(trial.attempt for trial in lab.trials()) <= 2
    finally:
        lab.close()
