"""A short trial's result recorded with the worker's next reservation, and the history
that must not lose a result it knows before the database does. Each test runs on SQLite
and on PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from orionlite.experiment import Experiment
from orionlite.history import TrialHistory
from orionlite.outcome import RunControls, TrialOutcome
from orionlite.records import ExperimentRecord, PendingResult, TrialRecord, TrialStatus
from orionlite.storage import CreateRefusal, Storage
from orionlite.worker import Worker, WorkerSettings


def _acquire(
    storage: Storage, exp: int, x: Any, worker: str = "w1", pending: PendingResult | None = None
) -> Any:
    return storage.acquire_trial(exp, {"x": x}, f"hash-{x}", worker, 60.0, pending=pending)


def _completed(trial: TrialRecord, objective: float = 0.5) -> PendingResult:
    values = {"objective": objective, "results": None, "exit_code": 0, "error": None}
    return PendingResult(trial, TrialStatus.COMPLETED, values)


@contextlib.contextmanager
def _counting_writes(url: str) -> Iterator[tuple[Storage, list[int]]]:
    """A new storage on ``url`` and, once the block ends, the number of write transactions
    committed meanwhile (each an fsync; on SQLite each also takes the write lock).

    SQLite: explicit ``BEGIN IMMEDIATE`` transactions and single writes alike, traced.
    PostgreSQL: the transaction ids assigned during the block, as only a transaction that
    writes gets one (the server is otherwise quiet while a test runs).
    """
    count = [0]

    def trace(dbapi_connection: Any, _record: Any) -> None:
        inside = [False]

        def statement(sql: str) -> None:
            word = sql.lstrip().split(None, 1)[0].upper()
            if word == "BEGIN":
                inside[0] = "IMMEDIATE" in sql.upper()
                count[0] += inside[0]
            elif word in ("COMMIT", "ROLLBACK"):
                inside[0] = False
            elif word in ("INSERT", "UPDATE", "DELETE") and not inside[0]:
                count[0] += 1

        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(statement)
        elif type(dbapi_connection).__module__.startswith("pymysql"):
            # Every statement but the driver's COMMIT goes through query(), several at
            # once in a script: a transaction that writes counts once, as does a write
            # outside any.
            query, wrote = dbapi_connection.query, [False]

            def traced(sql: Any, unbuffered: bool = False) -> Any:
                text = sql.decode() if isinstance(sql, bytes) else sql
                for part in text.split(";\n"):
                    word = part.lstrip().split(None, 1)[0].upper()
                    if word in ("BEGIN", "START"):
                        inside[0], wrote[0] = True, False
                    elif word in ("COMMIT", "ROLLBACK"):
                        inside[0] = False
                    elif word in ("INSERT", "UPDATE", "DELETE") and not (inside[0] and wrote[0]):
                        count[0] += 1
                        wrote[0] = True
                return query(sql, unbuffered)

            dbapi_connection.query = traced

    def next_transaction_id() -> int:
        # Takes an id itself: the next call's value is one higher when nothing else wrote.
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            value = connection.execute(sa.text("SELECT pg_current_xact_id()::text")).scalar()
        engine.dispose()
        return int(value)

    postgresql = url.startswith("postgresql")
    sa.event.listen(sa.pool.Pool, "connect", trace)
    storage = Storage(url)
    try:
        storage.engine  # noqa: B018 - connects, so the trace is in place
        before = next_transaction_id() if postgresql else 0
        yield storage, count
        if postgresql:
            count[0] = next_transaction_id() - before - 1
    finally:
        storage.close()
        sa.event.remove(sa.pool.Pool, "connect", trace)


@pytest.mark.serial  # counts the server's transaction ids, which parallel tests share
def test_a_pending_result_is_recorded_with_the_next_reservation(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    first = _acquire(storage, exp, 1)
    pending = _completed(first)
    with _counting_writes(storage.url) as (counted, writes):
        second = _acquire(counted, exp, 2, pending=pending)
    assert isinstance(second, TrialRecord) and second.status is TrialStatus.RESERVED
    assert pending.lost is False
    recorded = storage.get_trial(first.id)
    assert recorded is not None
    assert (recorded.status, recorded.objective) == (TrialStatus.COMPLETED, 0.5)
    assert writes[0] == 1, "one write transaction for the result and the reservation"


def test_a_result_refused_as_lost_does_not_stop_the_reservation(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    mine = _acquire(storage, exp, 1)
    # Another worker took the trial over (as after an expired lease): the token moved on.
    storage.finish_trial(mine, TrialStatus.INTERRUPTED)
    theirs = storage.reserve_trial(exp, "w2", 60.0)
    assert theirs is not None and theirs.id == mine.id
    pending = _completed(mine)
    nxt = _acquire(storage, exp, 2, pending=pending)
    assert isinstance(nxt, TrialRecord) and nxt.reserved_by == "w1"
    assert pending.lost is True
    current = storage.get_trial(mine.id)
    assert current is not None
    assert (current.status, current.reserved_by, current.objective) == (
        TrialStatus.RESERVED,
        "w2",
        None,
    )


def test_a_duplicate_proposal_keeps_the_result_and_uses_no_budget(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=3)
    mine = _acquire(storage, exp, 1)
    _acquire(storage, exp, 2, worker="w2")
    pending = _completed(mine)
    assert _acquire(storage, exp, 2, pending=pending) is CreateRefusal.DUPLICATE
    assert pending.lost is False
    counts = storage.count_by_status(exp)
    assert (counts[TrialStatus.COMPLETED], counts[TrialStatus.RESERVED]) == (1, 1)
    # Two slots used of three: the third creation succeeds, a fourth does not.
    assert isinstance(_acquire(storage, exp, 3), TrialRecord)
    assert _acquire(storage, exp, 4) is CreateRefusal.BUDGET_SPENT


# Another process that holds the write lock (SQLite) or the experiment's row (its budget on
# PostgreSQL; MySQL's writers take turns on it) for half a second, far longer than SQLite's
# busy timeout.
_HOLD_THE_LOCK = """
import sys, time
url, experiment_id = sys.argv[1], int(sys.argv[2])
if url.startswith("sqlite"):
    import sqlite3
    connection = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
elif url.startswith("mysql"):
    import pymysql, sqlalchemy
    parts = sqlalchemy.make_url(url)
    connection = pymysql.connect(
        host=parts.host, port=parts.port or 3306, user=parts.username,
        password=parts.password or "", database=parts.database,
    )
    connection.cursor().execute(
        "SELECT id FROM experiments WHERE id = %s FOR UPDATE", (experiment_id,)
    )
else:
    import psycopg
    connection = psycopg.connect(url)
    connection.execute("SELECT id FROM experiments WHERE id = %s FOR UPDATE", (experiment_id,))
print("held", flush=True)
time.sleep(0.5)
connection.commit()
"""


def test_a_lock_held_by_another_process_delays_the_acquisition_without_failing_it(
    db_url: str, storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """On SQLite the acquisition's ``BEGIN IMMEDIATE`` finds the database locked, times
    out and is tried again until the holder commits; elsewhere the creation waits for the
    experiment's row. Either way the result is recorded and the next trial created."""
    exp = new_experiment(storage)
    pending = _completed(_acquire(storage, exp, 1))
    command = [sys.executable, "-c", _HOLD_THE_LOCK, db_url, str(exp)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = _acquire(storage, exp, 2, pending=pending)
    assert holder.returncode == 0
    assert isinstance(second, TrialRecord) and second.status is TrialStatus.RESERVED
    assert pending.lost is False
    recorded = storage.get_trial(pending.trial.id)
    assert recorded is not None and recorded.status is TrialStatus.COMPLETED


_REFUSE_BAD_HASH = {
    "sqlite": [
        "CREATE TRIGGER refuse_bad BEFORE INSERT ON trials WHEN NEW.params_hash = 'hash-bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.params_hash = 'hash-bad' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_bad BEFORE INSERT ON trials FOR EACH ROW "
        "EXECUTE FUNCTION refuse_bad()",
    ],
    "mysql": [
        "CREATE TRIGGER refuse_bad BEFORE INSERT ON trials FOR EACH ROW BEGIN "
        "IF NEW.params_hash = 'hash-bad' THEN "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'; END IF; END"
    ],
}


def test_a_step_that_fails_leaves_neither_the_result_nor_the_slot(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """The creation fails after the result was recorded and a slot claimed (on SQLite,
    steps of one write transaction): all of it is rolled back, and the same connection
    then records the result with the next acquisition."""
    exp = new_experiment(storage, max_trials=3)
    mine = _acquire(storage, exp, 1)
    with storage.engine.begin() as connection:
        for statement in _REFUSE_BAD_HASH[storage.dialect]:
            connection.execute(sa.text(statement))
    pending = _completed(mine)
    with storage.keep_connection():
        with pytest.raises(sa.exc.DBAPIError, match="refused by the test"):
            _acquire(storage, exp, "bad", pending=pending)
        current = storage.get_trial(mine.id)
        assert current is not None
        assert (current.status, current.objective) == (TrialStatus.RESERVED, None)
        assert pending.lost is None, "nothing was written"
        second = _acquire(storage, exp, 2, pending=pending)
    assert isinstance(second, TrialRecord) and pending.lost is False
    recorded = storage.get_trial(mine.id)
    assert recorded is not None and recorded.status is TrialStatus.COMPLETED
    # Two slots used of three, so the failed creation's claim was rolled back.
    assert isinstance(_acquire(storage, exp, 3), TrialRecord)
    assert _acquire(storage, exp, 4) is CreateRefusal.BUDGET_SPENT


def test_the_history_keeps_its_own_result_over_its_reservation_read_back(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    history = TrialHistory(storage, exp)
    history.refresh()
    trial = _acquire(storage, exp, 1)  # not read yet
    history.remember(trial, TrialStatus.COMPLETED, {"objective": 0.25})
    history.refresh()  # brings the reservation, which is older than the known end
    assert [(t.status, t.objective) for t in history.trials] == [(TrialStatus.COMPLETED, 0.25)]
    assert (history.count(TrialStatus.COMPLETED), history.count(TrialStatus.RESERVED)) == (1, 0)
    # Taken over before the result was written: the new owner's version wins.
    storage.finish_trial(trial, TrialStatus.INTERRUPTED)
    storage.reserve_trial(exp, "w2", 60.0)
    history.refresh()
    assert [(t.status, t.reserved_by) for t in history.trials] == [(TrialStatus.RESERVED, "w2")]


class _Instant:
    """A trial that ends at once: only coordination is left."""

    def run(self, trial: TrialRecord, controls: RunControls) -> TrialOutcome:
        return TrialOutcome(TrialStatus.COMPLETED, objective=float(trial.id))


@pytest.mark.serial  # counts the server's transaction ids, which parallel tests share
def test_a_worker_of_short_trials_writes_once_per_trial(
    storage: Storage, sampled_experiment: Callable[[Storage, int], ExperimentRecord]
) -> None:
    trials = 12
    exp = sampled_experiment(storage, trials)
    with _counting_writes(storage.url) as (counted, writes):
        report = Worker(Experiment(counted, exp), _Instant()).run()
    assert (report.reason.value, report.completed, report.lost) == ("done", trials, 0)
    done = storage.trials(exp.id, (TrialStatus.COMPLETED,))
    assert len(done) == trials
    assert all(t.objective == float(t.id) for t in done), "each result on its own trial"
    # One per trial (its result goes with the next reservation), plus the last try that
    # finds the budget spent and takes the last result along.
    assert writes[0] == trials + 1


def test_a_pending_result_whose_lease_ran_out_is_recorded_not_reserved_again(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """The trial being recorded is reservable in the statement's snapshot once its lease
    has expired: it must be recorded, and the worker handed another trial."""
    exp = new_experiment(storage)
    mine = storage.acquire_trial(exp, {"x": 1}, "hash-1", "w1", 0.05)
    assert isinstance(mine, TrialRecord)
    time.sleep(0.2)
    pending = _completed(mine)
    nxt = _acquire(storage, exp, 2, pending=pending)
    assert isinstance(nxt, TrialRecord) and nxt.id != mine.id
    assert pending.lost is False
    recorded = storage.get_trial(mine.id)
    assert recorded is not None
    assert (recorded.status, recorded.attempt, recorded.objective) == (
        TrialStatus.COMPLETED,
        mine.attempt,
        0.5,
    )


def test_a_read_younger_than_max_age_stands_in_for_a_new_one(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    history = TrialHistory(storage, exp)
    assert history.refresh() == []
    theirs = _acquire(storage, exp, 1, worker="w2")
    assert history.refresh(max_age_s=60.0) == [], "read less than a minute ago: not again"
    assert [t.id for t in history.refresh(max_age_s=0.0)] == [theirs.id]


class _Reads(Storage):
    """Counts the worker's history reads (a real storage underneath)."""

    reads = 0

    def fetch_changed_trials(self, experiment_id: int, since: Any) -> Any:
        self.reads += 1
        return super().fetch_changed_trials(experiment_id, since)


@pytest.mark.parametrize(("max_age_s", "reads"), [(0.0, 13), (60.0, 1)])
def test_after_a_short_trial_the_worker_reads_the_history_once_per_max_age(
    storage: Storage,
    sampled_experiment: Callable[[Storage, int], ExperimentRecord],
    max_age_s: float,
    reads: int,
) -> None:
    """12 instant trials: with no window, one read per trial and the last try; with a
    window longer than the run, the first read serves them all (each worker knows its own
    results, and the database refuses what it does not know of the others')."""
    exp = sampled_experiment(storage, 12)
    counted = _Reads(storage.url)
    try:
        settings = WorkerSettings(history_max_age_s=max_age_s)
        report = Worker(Experiment(counted, exp), _Instant(), settings).run()
    finally:
        counted.close()
    assert (report.reason.value, report.completed) == ("done", 12)
    assert counted.reads == reads
