"""A short trial's result recorded with the worker's next reservation (SQLite), and the
history that must not lose a result it knows before the database does. Each test runs on
SQLite and on PostgreSQL (where a pending result is simply recorded first)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from orionlite.experiment import Experiment
from orionlite.history import TrialHistory
from orionlite.outcome import RunControls, TrialOutcome
from orionlite.records import PendingResult, TrialRecord, TrialStatus
from orionlite.storage import CreateRefusal, Storage
from orionlite.worker import Worker


def _acquire(
    storage: Storage, exp: int, x: Any, worker: str = "w1", pending: PendingResult | None = None
) -> Any:
    return storage.acquire_trial(exp, {"x": x}, f"hash-{x}", worker, 60.0, pending=pending)


def _completed(trial: TrialRecord, objective: float = 0.5) -> PendingResult:
    values = {"objective": objective, "results": None, "exit_code": 0, "error": None}
    return PendingResult(trial, TrialStatus.COMPLETED, values)


@contextlib.contextmanager
def _counting_writes(url: str) -> Iterator[tuple[Storage, list[int]]]:
    """A new storage on ``url`` and the number of write transactions it commits on SQLite
    (each takes the write lock and fsyncs): explicit ones and single writes alike."""
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

    sa.event.listen(sa.pool.Pool, "connect", trace)
    storage = Storage(url)
    try:
        storage.engine  # noqa: B018 - connects, so the trace is in place
        yield storage, count
    finally:
        storage.close()
        sa.event.remove(sa.pool.Pool, "connect", trace)


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
    if storage.records_with_acquisition:
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


def test_a_worker_of_short_trials_writes_once_per_trial(storage: Storage) -> None:
    from orionlite.space import Space

    trials = 12
    exp = storage.create_experiment(
        {
            "name": "short",
            "version": 1,
            "space": Space.from_priors({"x": "uniform(0, 1)"}).to_json(),
            "algorithm": {"random": {"seed": 1}},
            "command": None,
            "max_trials": trials,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert exp is not None
    with _counting_writes(storage.url) as (counted, writes):
        report = Worker(Experiment(counted, exp), _Instant()).run()
    assert (report.reason.value, report.completed, report.lost) == ("done", trials, 0)
    done = storage.trials(exp.id, (TrialStatus.COMPLETED,))
    assert len(done) == trials
    assert all(t.objective == float(t.id) for t in done), "each result on its own trial"
    if storage.records_with_acquisition:
        # One per trial (its result goes with the next reservation), plus the last try
        # that finds the budget spent and takes the last result along.
        assert writes[0] == trials + 1
