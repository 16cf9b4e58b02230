"""Workers behind PgBouncer in transaction-pooling mode (Debian's 1.18: no startup
options, no protocol-level prepared statements), with fewer server connections than
workers: each transaction may land on another server connection.

The test starts its own pgbouncer on a free port in front of a database of its own on the
test server; it skips, saying why, where pgbouncer is not installed (CI installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bouncer import Bouncer, unavailable_reason
from faultlab import Lab, assert_all_terminal, assert_clean_output

from orionlite.records import TrialStatus
from orionlite.storage import Storage

WORKERS = 16
# Eight trials a worker: psycopg prepares a statement on its fifth run.
MAX_TRIALS = 128
# Fewer server connections than workers, so that transactions really change hands.
SERVER_CONNECTIONS = 4
# Longer than a heartbeat (0.5 s): leases are extended through the pooler too.
TRIAL_ENV = {"FAULT_SLEEP": "0.6"}


def _start_bouncer(postgres: Any, **settings: str) -> Iterator[Bouncer]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("ORIONLITE_REQUIRE_PG") == "1":
            pytest.fail(f"cannot run PgBouncer: {reason} (ORIONLITE_REQUIRE_PG=1)")
        pytest.skip(f"cannot run PgBouncer: {reason}")
    name = postgres.create()
    server_url = postgres.admin_url.rsplit("/", 1)[0] + "/" + name
    started = Bouncer(server_url, pool_size=SERVER_CONNECTIONS, settings=settings)
    try:
        started.start()
        yield started
    finally:
        started.destroy()
        postgres.drop(name)


@pytest.fixture
def bouncer(postgres: Any) -> Iterator[Bouncer]:
    yield from _start_bouncer(postgres)


@pytest.fixture
def impatient_bouncer(postgres: Any) -> Iterator[Bouncer]:
    """Closes a client's connection after a second without a query."""
    yield from _start_bouncer(postgres, client_idle_timeout="1")


def _server_url(bouncer: Bouncer, postgres: Any) -> str:
    return postgres.admin_url.rsplit("/", 1)[0] + "/" + bouncer.database


@pytest.mark.slow
def test_sixteen_workers_behind_pgbouncer_in_transaction_mode(
    bouncer: Bouncer, postgres: Any, tmp_path: Path, bin_path: Path
) -> None:
    lab = Lab(f"{bouncer.url()}?pgbouncer=true", tmp_path, bin_path)
    lab.storage = Storage(_server_url(bouncer, postgres))  # the test reads directly
    try:
        # Separate processes, so that each is one worker and ends with the test.
        hunts = [lab.hunt("--max-trials", str(MAX_TRIALS), env=TRIAL_ENV) for _ in range(WORKERS)]
        for hunt in hunts:
            assert hunt.wait() == 0, hunt.stderr
            assert_clean_output(hunt)
            assert "error" not in hunt.stderr.lower(), hunt.stderr
        trials = lab.trials()
        assert_all_terminal(lab)
    finally:
        lab.close()
    # Exact counts, each trial run once, no point twice, numbers 1..N.
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * MAX_TRIALS
    assert {t.attempt for t in trials} == {1}
    assert len({t.params_hash for t in trials}) == MAX_TRIALS
    assert sorted(t.number for t in trials) == list(range(1, MAX_TRIALS + 1))
    runs = lab.finished_runs()
    assert sorted(run["trial"] for run in runs) == sorted(t.id for t in trials)
    # The pooler refused nothing, and the server reported no error to any client.
    log = bouncer.output()
    assert "pooler error" not in log, log
    assert "unsupported startup parameter" not in log, log


def test_no_statement_is_prepared_on_the_server_behind_a_pooler(bouncer: Bouncer) -> None:
    """A prepared statement lives on one server connection, and the pooler may give the
    next transaction another one: through it, orionlite's statements are never prepared
    (psycopg would prepare those run 5 times)."""
    storage = Storage(f"{bouncer.url()}?pgbouncer=true")
    try:
        for _ in range(12):
            storage.get_experiment("none")
        with storage.engine.connect() as connection:
            for _ in range(12):
                connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            prepared = connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            assert prepared.scalar() == 0
    finally:
        storage.close()


def test_a_connection_the_pooler_closed_during_a_trial_is_replaced_unnoticed(
    impatient_bouncer: Bouncer, postgres: Any, tmp_path: Path, bin_path: Path
) -> None:
    """No heartbeat during the trial (its interval is longer): the pooler drops the idle
    client connection, and the result is recorded on a new one, quietly."""
    lab = Lab(f"{impatient_bouncer.url()}?pgbouncer=true", tmp_path, bin_path)
    lab.storage = Storage(_server_url(impatient_bouncer, postgres))
    try:
        hunt = lab.hunt("--max-trials", "2", "--heartbeat", "60", env={"FAULT_SLEEP": "3"})
        assert hunt.wait() == 0, hunt.stderr
        assert_clean_output(hunt)
        trials = lab.trials()
    finally:
        lab.close()
    for unwanted in ("unreachable", "lease ran out", "Warning", "WARNING"):
        assert unwanted not in hunt.stderr, hunt.stderr
    assert [(t.status, t.attempt) for t in trials] == [(TrialStatus.COMPLETED, 1)] * 2
    assert "client_idle_timeout" in impatient_bouncer.output()


def test_the_dashboard_reads_through_the_pooler(bouncer: Bouncer) -> None:
    """Its read-only engine sends no startup options there (PgBouncer 1.18 refuses them)."""
    from orionlite.storage.readonly import check_readable, readonly_engine

    writer = Storage(f"{bouncer.url()}?pgbouncer=true")
    writer.list_experiments()  # creates the schema
    writer.close()
    engine, display = readonly_engine(f"{bouncer.url()}?pgbouncer=true")
    try:
        check_readable(engine, display)
        assert "pgbouncer" in display  # the URL shown is the one given
    finally:
        engine.dispose()
