"""The heartbeat: one thread per worker, beating exactly the trials it holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from waiting import wait_for

from orionlite.heartbeat import Heartbeat
from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage

INTERVAL_S = 0.05
WAIT_S = 5.0


@pytest.fixture
def heartbeat(storage: Storage) -> Iterator[Heartbeat]:
    beating = Heartbeat(storage, INTERVAL_S)
    yield beating
    beating.close()


def _take(storage: Storage, exp: int, x: int, worker: str = "w1") -> TrialRecord:
    trial = storage.acquire_trial(exp, {"x": x}, f"hash-{x}", worker, 60.0)
    assert isinstance(trial, TrialRecord)
    return trial


def _beaten(storage: Storage, trial: TrialRecord) -> bool:
    current = storage.get_trial(trial.id)
    assert current is not None and current.heartbeat_at is not None
    return current.heartbeat_at > (trial.heartbeat_at or 0.0)


def _heartbeat_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "heartbeat")


def test_one_thread_beats_every_trial_in_turn(
    storage: Storage, heartbeat: Heartbeat, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    before = _heartbeat_threads()
    for x in range(4):
        trial = _take(storage, exp, x)
        lost = heartbeat.hold(trial)
        wait_for(lambda trial=trial: _beaten(storage, trial), f"a beat of trial {x}", WAIT_S)
        assert not lost.is_set()
        heartbeat.drop(trial)
        storage.finish_trial(trial, TrialStatus.COMPLETED, objective=1.0)
        assert _heartbeat_threads() == before + 1


def test_a_dropped_trial_is_beaten_no_more(
    storage: Storage, heartbeat: Heartbeat, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    kept, dropped = _take(storage, exp, 1), _take(storage, exp, 2)
    heartbeat.hold(kept)
    heartbeat.hold(dropped)
    heartbeat.drop(dropped)
    wait_for(lambda: _beaten(storage, kept), "a beat of the kept trial", WAIT_S)
    time.sleep(3 * INTERVAL_S)
    assert not _beaten(storage, dropped)


def test_a_trial_taken_over_by_another_worker_is_reported_lost(
    storage: Storage, heartbeat: Heartbeat, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    trial = _take(storage, exp, 1)
    lost = heartbeat.hold(trial)
    # Another worker takes it over (as after an expired lease): the token moves on.
    storage.finish_trial(trial, TrialStatus.INTERRUPTED)
    other = storage.reserve_trial(exp, "w2", 60.0)
    assert other is not None and other.id == trial.id and other.attempt == trial.attempt + 1
    wait_for(lost.is_set, "the heartbeat to notice the takeover", WAIT_S)
    assert not _beaten(storage, other), "the old owner extended the new owner's lease"


def test_close_stops_the_thread_and_a_later_hold_starts_one(
    storage: Storage, heartbeat: Heartbeat, new_experiment: Callable[..., int]
) -> None:
    exp = new_experiment(storage)
    before = _heartbeat_threads()
    heartbeat.hold(_take(storage, exp, 1))
    heartbeat.close()
    assert _heartbeat_threads() == before
    trial = _take(storage, exp, 2)
    heartbeat.hold(trial)
    wait_for(lambda: _beaten(storage, trial), "a beat from the new thread", WAIT_S)
