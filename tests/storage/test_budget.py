"""max_trials as shares (``storage.budget``): exact whatever the shares hold, and creations
that do not queue behind one another.

The budget tests run on SQLite and on PostgreSQL. The lock tests run on PostgreSQL only:
SQLite has one write lock for the whole database and no row locks to spread creations
over (there, creations queue by design, and tests/storage/test_pending_results.py checks
that a held write lock delays an acquisition without failing it).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from waiting import wait_for

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import CreateRefusal, Storage
from orionlite.storage.budget import SHARES, first_share, split


def _acquire(storage: Storage, exp: int, x: int, worker: str = "w") -> Any:
    return storage.acquire_trial(exp, {"x": x}, f"hash-{x}", worker, 60.0)


def _create_until_spent(storage: Storage, exp: int, start: int, workers: list[str]) -> int:
    """Create trials from every worker in turn until the budget is spent; how many."""
    created = 0
    while True:
        outcome = _acquire(storage, exp, start + created, workers[created % len(workers)])
        if outcome is CreateRefusal.BUDGET_SPENT:
            return created
        assert isinstance(outcome, TrialRecord)
        created += 1


def _workers_on_distinct_shares(count: int) -> list[str]:
    """Worker ids whose first shares differ, so that on PostgreSQL their trials land in
    different shares (SQLite fills the shares in order)."""
    workers: dict[int, str] = {}
    n = 0
    while len(workers) < count:
        workers.setdefault(first_share(f"worker-{n}"), f"worker-{n}")
        n += 1
    return list(workers.values())


def test_split_is_even_and_adds_up() -> None:
    assert split(None) == [None] * SHARES
    for total in (0, 1, SHARES - 1, SHARES, 1000):
        parts = split(total)
        assert sum(p for p in parts if p is not None) == total
        assert max(parts) - min(parts) <= 1  # type: ignore[operator]


def test_lowering_and_raising_max_trials_is_exact_however_the_shares_were_used(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """Trials taken from a few shares only, then max_trials lowered: a share's old part
    of the budget must not let more trials in than the new total allows."""
    exp = new_experiment(storage, max_trials=100)
    workers = _workers_on_distinct_shares(3)
    for x in range(7):
        assert isinstance(_acquire(storage, exp, x, workers[x % 3]), TrialRecord)
    storage.update_experiment(exp, max_trials=8)
    assert _create_until_spent(storage, exp, 100, workers) == 1
    storage.update_experiment(exp, max_trials=12)
    assert _create_until_spent(storage, exp, 200, workers) == 4
    storage.update_experiment(exp, max_trials=5)  # below what already counts
    assert _create_until_spent(storage, exp, 300, workers) == 0
    assert len(storage.trials(exp)) == 12


def test_a_limit_set_later_counts_the_trials_made_without_one(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=None)
    workers = _workers_on_distinct_shares(2)
    for x in range(5):
        assert isinstance(_acquire(storage, exp, x, workers[x % 2]), TrialRecord)
    storage.update_experiment(exp, max_trials=6)
    assert _create_until_spent(storage, exp, 100, workers) == 1


def test_broken_trials_give_their_slots_back_whichever_share_they_came_from(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=4)
    workers = _workers_on_distinct_shares(4)
    trials = [_acquire(storage, exp, x, workers[x]) for x in range(4)]
    assert _acquire(storage, exp, 9) is CreateRefusal.BUDGET_SPENT
    for trial in trials[:3]:
        storage.finish_trial(trial, TrialStatus.BROKEN, error="boom", exit_code=1)
    assert _create_until_spent(storage, exp, 100, workers[:1]) == 3


# A process that creates a trial in a transaction it keeps open until told to commit or
# roll back: another worker's creation in flight, waiting for its commit.
_CREATE_AND_HOLD = """
import sys
from orionlite.storage import Storage, reservation
from orionlite.storage.engine import transaction

url, experiment_id, worker, x = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
storage = Storage(url)
new_trial = reservation.new_trial_parameters(
    experiment_id, {"x": x}, f"hash-{x}", worker, 60.0, None
)
with storage.engine.connect() as connection:
    # Held for as long as the test needs, not ended by the server after 10 s.
    connection.connection.dbapi_connection.execute("SET idle_in_transaction_session_timeout = 0")
    with transaction(connection, write=True):
        outcome, _, _ = reservation.acquire_postgresql(connection, new_trial)
        print(outcome, flush=True)
        if sys.stdin.readline().strip() == "rollback":
            connection.rollback()
storage.close()
"""


@contextmanager
def _creation_held_open(
    url: str, exp: int, worker: str = "holder", x: int = -1
) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-c", _CREATE_AND_HOLD, url, str(exp), worker, str(x)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None and p.stdout.readline().strip() == "created"
        try:
            yield p
        finally:
            _release(p, "commit")
    assert p.returncode == 0


def _release(holder: subprocess.Popen[str], how: str) -> None:
    assert holder.stdin is not None
    if not holder.stdin.closed:
        holder.stdin.write(how + "\n")
        holder.stdin.close()
        holder.wait(timeout=30)


def _waiting_for_locks(storage: Storage) -> int:
    """How many sessions on the test's database wait for a lock now."""
    import sqlalchemy as sa

    with storage.engine.connect() as connection:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return int(waiting or 0)


# Row locks: PostgreSQL only (SQLite has one write lock for the whole database).
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@postgresql_only
def test_a_creation_does_not_wait_for_another_workers_uncommitted_one(
    db_url: str, storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=10)
    # The pool outlives the holder: if the test fails, the holder commits first, so the
    # thread can finish and the pool can be shut down.
    with ThreadPoolExecutor(1) as pool, _creation_held_open(db_url, exp):
        future: Future[Any] = pool.submit(_acquire, storage, exp, 1, "other")
        try:
            created = future.result(timeout=30)
        except TimeoutError:
            pytest.fail("the creation queued behind another worker's uncommitted one")
    assert isinstance(created, TrialRecord)
    assert len(storage.trials(exp)) == 2


@pytest.fixture
def retried(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str | None]]:
    """(thread, SQLSTATE) of every failed try that the storage retries, in this process."""
    from orionlite.storage import retry

    seen: list[tuple[int, str | None]] = []
    before_sleep = retry.RetryPolicy._before_sleep

    def watched(policy: retry.RetryPolicy, state: Any) -> None:
        failure = state.outcome.exception() if state.outcome else None
        if failure is not None:
            seen.append((threading.get_ident(), retry.sqlstate(failure)))
        before_sleep(policy, state)

    monkeypatch.setattr(retry.RetryPolicy, "_before_sleep", watched)
    return seen


def _held_slot_retries(retried: list[tuple[int, str | None]]) -> set[int]:
    """The threads whose creation found the slots it wanted held (lock_not_available)."""
    return {thread for thread, state in retried if state == "55P03"}


@postgresql_only
@pytest.mark.parametrize("how", ["commit", "rollback"])
def test_the_last_slot_held_by_another_creation_is_waited_for(
    how: str,
    db_url: str,
    storage: Storage,
    new_experiment: Callable[..., int],
    retried: list[tuple[int, str | None]],
) -> None:
    """Taken when the other creation rolls back, spent when it commits: never refused
    just because the share with room is locked at the moment. The creation is retried
    meanwhile; it never waits for the lock (see the deadlock test below)."""
    exp = new_experiment(storage, max_trials=1)
    with ThreadPoolExecutor(1) as pool, _creation_held_open(db_url, exp) as holder:
        future: Future[Any] = pool.submit(_acquire, storage, exp, 1, "other")
        wait_for(lambda: _held_slot_retries(retried), "the creation to find the slot held")
        assert _waiting_for_locks(storage) == 0
        assert not future.done()
        _release(holder, how)
        outcome = future.result(timeout=30)
    if how == "commit":
        assert outcome is CreateRefusal.BUDGET_SPENT
        assert [t.params for t in storage.trials(exp)] == [{"x": -1}]
    else:
        assert isinstance(outcome, TrialRecord)
        assert [t.params for t in storage.trials(exp)] == [{"x": 1}]


def _worker_starting_at(share: int) -> str:
    return next(f"worker-{n}" for n in range(10_000) if first_share(f"worker-{n}") == share)


@postgresql_only
def test_creations_wanting_the_last_slots_do_not_deadlock(
    db_url: str,
    storage: Storage,
    new_experiment: Callable[..., int],
    retried: list[tuple[int, str | None]],
) -> None:
    """Two slots left, in shares 0 and 1, both held by creations in flight; two more
    creations want them, one looking at share 0 first, the other at share 1 first.

    When they waited for a held share instead of being retried, each, once the holders
    committed, locked the share it waited for, found it full, and kept that lock while
    it went on to the other share: each then waited for the other, and PostgreSQL broke
    the deadlock only after deadlock_timeout (1 s), as at the end of 8-worker benchmark
    runs. Now both are refused once the holders commit, and none fails with a deadlock.
    """
    exp = new_experiment(storage, max_trials=2)
    assert split(2)[:2] == [1, 1]
    with (
        ThreadPoolExecutor(2) as pool,
        _creation_held_open(db_url, exp, _worker_starting_at(0), -1) as share_0,
        _creation_held_open(db_url, exp, _worker_starting_at(1), -2) as share_1,
    ):
        wanting = [
            pool.submit(_acquire, storage, exp, x, _worker_starting_at(share))
            for x, share in ((1, 0), (2, 1))
        ]
        wait_for(lambda: len(_held_slot_retries(retried)) == 2, "both to find the slots held")
        _release(share_0, "commit")
        _release(share_1, "commit")
        outcomes = [creation.result(timeout=30) for creation in wanting]
    assert outcomes == [CreateRefusal.BUDGET_SPENT] * 2
    assert [state for _, state in retried if state != "55P03"] == []
    assert sorted(t.params["x"] for t in storage.trials(exp)) == [-2, -1]
