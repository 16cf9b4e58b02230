"""max_trials as one counter per experiment (``storage.budget``): exact when the limit
changes and when trials break, and exact when creations race for the last slot.

The budget tests run on every backend. The lock tests run where creations can be in
flight at once (PostgreSQL, MySQL): SQLite has one write lock for the whole database, and
tests/storage/test_pending_results.py checks that a held write lock delays an acquisition
without failing it.
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

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import CreateRefusal, Storage

WORKERS = ["worker-0", "worker-1", "worker-2"]


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


def test_lowering_and_raising_max_trials_is_exact(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """max_trials lowered below, then raised above, what already counts."""
    exp = new_experiment(storage, max_trials=100)
    workers = WORKERS
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
    workers = WORKERS[:2]
    for x in range(5):
        assert isinstance(_acquire(storage, exp, x, workers[x % 2]), TrialRecord)
    storage.update_experiment(exp, max_trials=6)
    assert _create_until_spent(storage, exp, 100, workers) == 1


def test_broken_trials_give_their_slots_back(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=4)
    workers = WORKERS
    trials = [_acquire(storage, exp, x, workers[x % 3]) for x in range(4)]
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

url, experiment_id, x = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
storage = Storage(url)
new_trial = reservation.new_trial_parameters(
    experiment_id, {"x": x}, f"hash-{x}", "holder", 60.0, None
)
with storage.engine.connect() as connection:
    with transaction(connection, write=True):
        if storage.backend.name == "mysql":  # its acquisition, less the COMMIT it ends with
            from orionlite.storage.backends import mysql
            from orionlite.storage.engine import Script

            script = Script(*mysql._acquire_script(None).statements[:-1])
            outcome = script.run(connection, new_trial)[0][0]
        else:
            outcome, _, _ = storage.backend.acquire(connection, new_trial)
        print(outcome, flush=True)
        if sys.stdin.readline().strip() == "rollback":
            connection.rollback()
storage.close()
"""


@contextmanager
def _creation_held_open(url: str, exp: int, x: int = -1) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-c", _CREATE_AND_HOLD, url, str(exp), str(x)]
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


def _stays_waiting(future: Future[Any]) -> bool:
    """Whether ``future`` is still waiting half a second from now."""
    try:
        future.result(timeout=0.5)
    except TimeoutError:
        return True
    return False


# Creations in flight at once: the backends with row locks.
row_locks = pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)


@row_locks
@pytest.mark.parametrize("how", ["commit", "rollback"])
def test_the_last_slot_taken_by_a_creation_in_flight_is_waited_for(
    how: str,
    db_url: str,
    storage: Storage,
    new_experiment: Callable[..., int],
    retried: list[tuple[int, str | None]],
) -> None:
    """Taken when the other creation rolls back, spent when it commits: never refused
    while the outcome is unknown, and never taken twice. Two creations wait; neither is
    retried nor fails with a deadlock."""
    exp = new_experiment(storage, max_trials=2)
    assert isinstance(_acquire(storage, exp, 0), TrialRecord)
    with ThreadPoolExecutor(2) as pool, _creation_held_open(db_url, exp) as holder:
        waiting = [pool.submit(_acquire, storage, exp, x, f"w{x}") for x in (1, 2)]
        assert all(_stays_waiting(creation) for creation in waiting)
        _release(holder, how)
        outcomes = [creation.result(timeout=30) for creation in waiting]
    created = [outcome for outcome in outcomes if isinstance(outcome, TrialRecord)]
    spent = [outcome for outcome in outcomes if outcome is CreateRefusal.BUDGET_SPENT]
    assert (len(created), len(spent)) == ((0, 2) if how == "commit" else (1, 1))
    assert len(storage.trials(exp)) == 2
    assert retried == []
