"""The worker's hot path made fast (issue 8) keeps the guarantees of SPEC §2.

``Storage.acquire_trial`` reserves or creates in one unit of work, ``TrialHistory`` keeps
its order and counts incrementally, and the heartbeat reuses pooled connections. Each test
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from orionlite.history import TrialHistory
from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import CreateRefusal, Storage


def _acquire(storage: Storage, exp: int, x: Any, worker: str = "w1", lease: float = 60.0) -> Any:
    return storage.acquire_trial(exp, {"x": x}, f"hash-{x}", worker, lease)


def _budget_used(storage: Storage, exp: int) -> int:
    counts = storage.count_by_status(exp)
    return sum(n for status, n in counts.items() if status is not TrialStatus.BROKEN)


def test_acquire_creates_the_proposal_when_nothing_waits(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    trial = _acquire(storage, exp, 1)
    assert isinstance(trial, TrialRecord)
    assert (trial.params, trial.status, trial.reserved_by, trial.attempt) == (
        {"x": 1},
        TrialStatus.RESERVED,
        "w1",
        1,
    )
    assert trial.created_at is not None and trial.heartbeat_at is not None


def test_acquire_takes_a_waiting_trial_instead_of_creating(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=5)
    first = _acquire(storage, exp, 1)
    storage.finish_trial(first, TrialStatus.INTERRUPTED)
    again = _acquire(storage, exp, 2, worker="w2")
    assert isinstance(again, TrialRecord)
    assert (again.id, again.params, again.reserved_by, again.attempt) == (
        first.id,
        {"x": 1},
        "w2",
        2,
    )
    assert len(storage.trials(exp)) == 1, "the proposal was not created"


def test_acquire_takes_over_an_expired_lease_before_creating(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=1)
    dead = _acquire(storage, exp, 1, lease=0.05)
    time.sleep(0.3)
    taken = _acquire(storage, exp, 2, worker="w2")
    assert isinstance(taken, TrialRecord)
    assert (taken.id, taken.attempt, taken.reserved_by) == (dead.id, 2, "w2")


def test_acquire_refuses_duplicates_and_spent_budget_without_using_it(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=2)
    assert isinstance(_acquire(storage, exp, 1), TrialRecord)
    assert _acquire(storage, exp, 1, worker="w2") is CreateRefusal.DUPLICATE
    assert _budget_used(storage, exp) == 1
    assert isinstance(_acquire(storage, exp, 2), TrialRecord)
    assert _acquire(storage, exp, 3) is CreateRefusal.BUDGET_SPENT
    assert len(storage.trials(exp)) == 2


def test_broken_trial_gives_its_slot_back_to_acquire(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=1)
    trial = _acquire(storage, exp, 1)
    assert _acquire(storage, exp, 2) is CreateRefusal.BUDGET_SPENT
    storage.finish_trial(trial, TrialStatus.BROKEN, error="boom", exit_code=1)
    assert isinstance(_acquire(storage, exp, 2), TrialRecord)
    assert _acquire(storage, exp, 3) is CreateRefusal.BUDGET_SPENT


def _hammer(url: str, exp: int, seed: int, results: Any) -> None:
    """A worker that keeps proposing points of a 12-point space until refused."""
    rng = random.Random(seed)
    storage = Storage(url)
    created = duplicates = 0
    while True:
        x = rng.randrange(12)
        outcome = storage.acquire_trial(exp, {"x": x}, f"hash-{x}", f"w{seed}", 60.0)
        if outcome is CreateRefusal.BUDGET_SPENT:
            break
        if outcome is CreateRefusal.DUPLICATE:
            duplicates += 1
            continue
        created += 1
        storage.finish_trial(outcome, TrialStatus.COMPLETED, objective=float(x))
    storage.close()
    results.put((created, duplicates))


@pytest.mark.slow
def test_concurrent_acquire_makes_exactly_max_trials_despite_collisions(
    db_url: str, new_experiment: Callable[..., int]
) -> None:
    """Six processes draw from 12 points with a budget of 8: many proposals collide,
    and no collision may cost budget or make a trial too many."""
    storage = Storage(db_url)
    exp = new_experiment(storage, max_trials=8)
    context = multiprocessing.get_context("spawn")
    results = context.SimpleQueue()
    workers = [
        context.Process(target=_hammer, args=(db_url, exp, seed, results)) for seed in range(6)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    outcomes = [results.get() for _ in workers]
    trials = storage.trials(exp)
    storage.close()
    assert sum(created for created, _ in outcomes) == 8
    assert len(trials) == 8
    assert all(t.status is TrialStatus.COMPLETED for t in trials)
    assert len({t.params_hash for t in trials}) == 8


def test_history_keeps_id_order_and_counts_as_trials_change(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    history = TrialHistory(storage, exp)
    first, second, third = (_acquire(storage, exp, x) for x in (1, 2, 3))
    assert [t.id for t in history.refresh()] == [first.id, second.id, third.id]
    assert history.count(TrialStatus.RESERVED) == 3
    storage.finish_trial(second, TrialStatus.COMPLETED, objective=0.5)
    storage.finish_trial(third, TrialStatus.BROKEN, error="boom")
    trials = history.refresh()
    assert [(t.id, t.status) for t in trials] == [
        (first.id, TrialStatus.RESERVED),
        (second.id, TrialStatus.COMPLETED),
        (third.id, TrialStatus.BROKEN),
    ]
    assert (
        history.count(TrialStatus.RESERVED),
        history.count(TrialStatus.COMPLETED),
        history.count(TrialStatus.BROKEN),
    ) == (1, 1, 1)
    assert history.refresh() == trials, "nothing changed, nothing moves"


def test_history_reads_give_the_records_that_a_listing_gives(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """The history decodes every read's JSON in one go: values whose text holds commas,
    brackets, quotes or escapes, and a missing ``results``, must come back as stored."""
    exp = new_experiment(storage)
    awkward = ["a,b]", '{"x": [1, 2]}', "é\\n\u2028", None, [[], {}], 1e-300]
    for i, value in enumerate(awkward):
        storage.acquire_trial(exp, {"x": value, "i": i}, f"hash-{i}", "w1", 60.0)
    completed, broken = storage.trials(exp)[:2]
    results = [{"name": "loss", "type": "objective", "value": 0.5}, {"name": "s,]", "value": []}]
    storage.finish_trial(completed, TrialStatus.COMPLETED, objective=0.5, results=results)
    storage.finish_trial(broken, TrialStatus.BROKEN, error="boom")
    history = TrialHistory(storage, exp)
    read = history.refresh()
    assert read == storage.trials(exp)
    assert [t.params["x"] for t in read] == awkward
    assert (read[0].results, read[1].results, read[2].results) == (results, None, None)


def test_history_hands_out_its_own_list_which_later_reads_update(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """Not a copy per suggestion, which would cost time in proportion to the history."""
    exp = new_experiment(storage)
    history = TrialHistory(storage, exp)
    first = _acquire(storage, exp, 1)
    trials = history.refresh()
    second = _acquire(storage, exp, 2)
    assert history.refresh() is trials
    assert [t.id for t in trials] == [first.id, second.id]


def test_history_places_trials_that_arrive_out_of_id_order() -> None:
    """PostgreSQL may commit trial 5 before trial 4: the later read must slot it in."""

    def record(trial_id: int, status: TrialStatus) -> TrialRecord:
        return TrialRecord(trial_id, 1, {"x": trial_id}, f"h{trial_id}", status)

    history = TrialHistory(None, 1)  # type: ignore[arg-type]  # merge needs no storage
    history.merge([record(1, TrialStatus.COMPLETED), record(5, TrialStatus.RESERVED)])
    history.merge([record(4, TrialStatus.RESERVED), record(2, TrialStatus.RESERVED)])
    history.merge([record(5, TrialStatus.COMPLETED)])
    assert [(t.id, t.status) for t in history.trials] == [
        (1, TrialStatus.COMPLETED),
        (2, TrialStatus.RESERVED),
        (4, TrialStatus.RESERVED),
        (5, TrialStatus.COMPLETED),
    ]
    assert history.count(TrialStatus.RESERVED) == 2
    assert history.count(TrialStatus.COMPLETED) == 2
    assert len(history) == 4


def test_heartbeats_use_the_workers_own_connection(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """A beat goes through the worker's kept connection: beating many times while the
    worker keeps using it opens no other connection (issue 19)."""
    from orionlite.heartbeat import Heartbeat

    exp = new_experiment(storage)
    trial = _acquire(storage, exp, 1)
    with storage.keep_connection():
        storage.get_trial(trial.id)
        opened = storage.connections_opened
        heartbeat = Heartbeat(storage, 0.02)
        heartbeat.hold(trial)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            storage.get_trial(trial.id)  # the worker's own thread keeps using it
        heartbeat.close()
        beats = storage.get_trial(trial.id)
        assert storage.connections_opened == opened
    assert beats is not None and beats.heartbeat_at is not None
    assert beats.heartbeat_at > (trial.heartbeat_at or 0.0), "the heartbeat ran"


def _pg_url(postgres: Any, database: str) -> str:
    base, _, _ = postgres.admin_url.rpartition("/")
    return f"{base}/{database}"


def test_postgres_reads_stay_incremental_while_another_transaction_lasts(
    postgres: Any, new_experiment: Callable[..., int]
) -> None:
    """A transaction left open on the server, even in another database, holds back the
    snapshot's xmin: a watermark taken from xmin would make every read fetch again all
    that changed since it began."""
    import psycopg

    database = postgres.create()
    storage = Storage(_pg_url(postgres, database))
    pin = psycopg.connect(postgres.admin_url)
    try:
        pin.execute("SELECT pg_current_xact_id()")  # an open transaction with an id
        exp = new_experiment(storage)
        for x in range(5):
            storage.finish_trial(_acquire(storage, exp, x), TrialStatus.COMPLETED, objective=0.0)
        rows, watermark = storage.fetch_changed_trials(exp, 0)
        assert len(rows) == 5
        latest = _acquire(storage, exp, 99)
        rows, watermark = storage.fetch_changed_trials(exp, watermark)
        assert [t.id for t in rows] == [latest.id]
        assert storage.fetch_changed_trials(exp, watermark)[0] == []
    finally:
        pin.rollback()
        pin.close()
        storage.close()
        postgres.drop(database)


def test_postgres_reads_catch_a_change_committed_after_the_read(
    postgres: Any, new_experiment: Callable[..., int]
) -> None:
    """A change made by a transaction still running when the reader read (so invisible
    to it, with an id below the snapshot's xmax) must come with the next read."""
    import psycopg

    database = postgres.create()
    url = _pg_url(postgres, database)
    storage = Storage(url)
    writer = psycopg.connect(url)
    try:
        exp = new_experiment(storage)
        trial = _acquire(storage, exp, 1)
        _, watermark = storage.fetch_changed_trials(exp, 0)
        writer.execute(
            "UPDATE trials SET objective = 7.0, change_seq = pg_current_xact_id()::text::int8 "
            "WHERE id = %s",
            (trial.id,),
        )
        later = _acquire(storage, exp, 2)  # a transaction after the writer's, committed
        rows, watermark = storage.fetch_changed_trials(exp, watermark)
        assert [(t.id, t.objective) for t in rows] == [(later.id, None)]
        writer.commit()
        rows, watermark = storage.fetch_changed_trials(exp, watermark)
        assert [(t.id, t.objective) for t in rows] == [(trial.id, 7.0)]
        assert storage.fetch_changed_trials(exp, watermark)[0] == []
    finally:
        writer.close()
        storage.close()
        postgres.drop(database)
