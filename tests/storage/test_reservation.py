"""Reservation, budget, leases and fencing on both backends, through the Storage seam."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from orionlite.errors import ReservationLostError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import CreateRefusal, Storage


def _create(storage: Storage, exp: int, x: Any, worker: str = "w1", lease: float = 60.0) -> Any:
    """With nothing waiting to be reserved, acquiring creates the proposed trial."""
    return storage.acquire_trial(exp, {"x": x}, f"hash-{x}", worker, lease)


def test_created_trial_is_reserved_by_its_creator(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    trial = _create(storage, exp, 1)
    assert isinstance(trial, TrialRecord)
    assert (trial.status, trial.reserved_by, trial.attempt) == (TrialStatus.RESERVED, "w1", 1)
    assert trial.params == {"x": 1}


def test_same_parameters_are_refused_and_do_not_use_budget(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=2)
    assert isinstance(_create(storage, exp, 1), TrialRecord)
    assert _create(storage, exp, 1, worker="w2") is CreateRefusal.DUPLICATE
    assert isinstance(_create(storage, exp, 2), TrialRecord)
    assert _create(storage, exp, 3) is CreateRefusal.BUDGET_SPENT


def test_broken_trial_frees_its_budget_slot(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=1)
    trial = _create(storage, exp, 1)
    assert _create(storage, exp, 2) is CreateRefusal.BUDGET_SPENT
    storage.finish_trial(trial, TrialStatus.BROKEN, error="boom", exit_code=1)
    assert isinstance(_create(storage, exp, 2), TrialRecord)


def test_completed_trial_keeps_its_budget_slot(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage, max_trials=1)
    storage.finish_trial(_create(storage, exp, 1), TrialStatus.COMPLETED, objective=0.5)
    assert _create(storage, exp, 2) is CreateRefusal.BUDGET_SPENT
    assert not storage.has_unfinished(exp)


def test_only_live_reservations_means_nothing_to_take_or_create(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """The one read a worker waits with once the budget is spent: true only while
    others' trials run under live leases and no trial or slot is free."""
    exp = new_experiment(storage, max_trials=2)
    assert not storage.only_live_reservations(exp), "nothing runs"
    first = _create(storage, exp, 1)
    assert not storage.only_live_reservations(exp), "a slot is free"
    second = _create(storage, exp, 2, worker="w2", lease=0.05)
    time.sleep(0.2)
    assert not storage.only_live_reservations(exp), "a lease ran out: w2's trial is free"
    taken = storage.reserve_trial(exp, "w3", 60.0)
    assert taken is not None and taken.id == second.id
    assert storage.only_live_reservations(exp)
    storage.finish_trial(taken, TrialStatus.BROKEN, error="boom", exit_code=1)
    assert not storage.only_live_reservations(exp), "the broken trial's slot is free"
    third = _create(storage, exp, 3)
    assert storage.only_live_reservations(exp)
    storage.finish_trial(third, TrialStatus.INTERRUPTED)
    assert not storage.only_live_reservations(exp), "an interrupted trial waits"
    retaken = storage.reserve_trial(exp, "w1", 60.0)
    assert retaken is not None
    storage.finish_trial(retaken, TrialStatus.COMPLETED, objective=0.5)
    storage.finish_trial(first, TrialStatus.COMPLETED, objective=0.5)
    assert not storage.only_live_reservations(exp), "nothing runs: the experiment is done"


def test_interrupted_trial_is_reserved_again_with_a_new_token(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    trial = _create(storage, exp, 1)
    storage.finish_trial(trial, TrialStatus.INTERRUPTED)
    again = storage.reserve_trial(exp, "w2", 60.0)
    assert again is not None
    assert (again.id, again.reserved_by, again.attempt) == (trial.id, "w2", trial.attempt + 1)
    assert storage.reserve_trial(exp, "w3", 60.0) is None


def test_live_lease_is_not_reclaimed_but_expired_one_is(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    trial = _create(storage, exp, 1, lease=60.0)
    assert storage.reserve_trial(exp, "w2", 60.0) is None
    assert storage.heartbeat(trial, 0.05)
    time.sleep(0.3)
    reclaimed = storage.reserve_trial(exp, "w2", 60.0)
    assert reclaimed is not None and reclaimed.id == trial.id
    assert reclaimed.attempt == trial.attempt + 1


def test_stale_token_cannot_write_or_heartbeat(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    trial = _create(storage, exp, 1, lease=0.05)
    time.sleep(0.3)
    new_owner = storage.reserve_trial(exp, "w2", 60.0)
    assert new_owner is not None
    assert not storage.heartbeat(trial, 60.0)
    with pytest.raises(ReservationLostError, match="reclaimed by another worker"):
        storage.finish_trial(trial, TrialStatus.COMPLETED, objective=99.0)
    storage.finish_trial(new_owner, TrialStatus.COMPLETED, objective=1.0)
    stored = storage.get_trial(trial.id)
    assert stored is not None
    assert (stored.status, stored.objective, stored.reserved_by) == (
        TrialStatus.COMPLETED,
        1.0,
        "w2",
    )


def test_finishing_twice_with_the_same_token_is_idempotent(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    """A retried write whose first commit succeeded (ack lost) must not be an error."""
    exp = new_experiment(storage)
    trial = _create(storage, exp, 1)
    storage.finish_trial(trial, TrialStatus.COMPLETED, objective=0.25)
    storage.finish_trial(trial, TrialStatus.COMPLETED, objective=0.25)
    with pytest.raises(ReservationLostError):
        storage.finish_trial(trial, TrialStatus.BROKEN, error="late")


def test_incremental_reads_return_only_what_changed(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    first = _create(storage, exp, 1)
    second = _create(storage, exp, 2)
    rows, watermark = storage.fetch_changed_trials(exp, 0)
    assert sorted(t.id for t in rows) == [first.id, second.id]
    rows, watermark = storage.fetch_changed_trials(exp, watermark)
    assert rows == []
    storage.heartbeat(first, 60.0)  # heartbeats are not changes readers care about
    assert storage.fetch_changed_trials(exp, watermark)[0] == []
    storage.finish_trial(first, TrialStatus.COMPLETED, objective=0.5)
    rows, watermark = storage.fetch_changed_trials(exp, watermark)
    assert [(t.id, t.status) for t in rows] == [(first.id, TrialStatus.COMPLETED)]


def test_counts_best_and_last_broken(storage: Storage, new_experiment: Callable[..., int]) -> None:
    exp = new_experiment(storage)
    storage.finish_trial(_create(storage, exp, 1), TrialStatus.COMPLETED, objective=0.5)
    storage.finish_trial(_create(storage, exp, 2), TrialStatus.COMPLETED, objective=0.1)
    storage.finish_trial(_create(storage, exp, 3), TrialStatus.BROKEN, error="first")
    storage.finish_trial(_create(storage, exp, 4), TrialStatus.BROKEN, error="second")
    counts = storage.count_by_status(exp)
    assert counts[TrialStatus.COMPLETED] == 2 and counts[TrialStatus.BROKEN] == 2
    best = storage.best_trial(exp)
    assert best is not None and best.params == {"x": 2}
    last = storage.last_broken_trial(exp)
    assert last is not None and last.error == "second"


def test_experiment_name_and_version_are_unique(
    storage: Storage, new_experiment: Callable[..., int]
) -> None:
    new_experiment(storage)
    duplicate = storage.create_experiment(
        {
            "name": "exp",
            "version": 1,
            "space": {},
            "algorithm": {},
            "command": None,
            "max_trials": None,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert duplicate is None


def test_storage_pickles_as_its_url(storage: Storage, new_experiment: Callable[..., int]) -> None:
    import pickle

    exp = new_experiment(storage)
    clone = pickle.loads(pickle.dumps(storage))
    assert clone.url == storage.url
    record = clone.get_experiment_by_id(exp)
    assert record is not None and record.name == "exp"
    clone.close()


def test_postgresql_sessions_cannot_hold_locks_while_idle_in_a_transaction(postgres) -> None:
    """A worker frozen mid-transaction must not block the others beyond a few seconds.
    The limit is set per transaction, never per session: a pooler in transaction mode
    (PgBouncer) may run the next transaction on another server connection."""
    import sqlalchemy as sa

    from orionlite.storage.engine import PG_IDLE_IN_TRANSACTION_MS, transaction

    name = postgres.create()
    storage = Storage(postgres.admin_url.rsplit("/", 1)[0] + "/" + name)
    setting = sa.text("SELECT setting FROM pg_settings WHERE name = :n")
    parameters = {"n": "idle_in_transaction_session_timeout"}
    try:
        with storage.engine.connect() as connection:
            with transaction(connection, write=True):
                inside = connection.execute(setting, parameters).scalar()
            # On the driver: SQLAlchemy would begin a transaction of ours around it.
            driver = connection.connection.dbapi_connection
            assert driver is not None
            (outside,) = driver.execute(str(setting).replace(":n", "%(n)s"), parameters).fetchone()
        assert int(inside) == PG_IDLE_IN_TRANSACTION_MS > 0
        assert int(outside) == 0  # the server's default: nothing stays on the session
    finally:
        storage.close()
        postgres.drop(name)
