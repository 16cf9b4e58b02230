"""Once the budget is spent, a worker waits for the others' last trials with one read per
look, not an acquisition, looks again about as soon as a trial like its own would end, and
still takes over what frees up. Each test runs on SQLite and on PostgreSQL.

The worker's stop event stands in for the passing of time: it records each wait the
worker asks for and returns at once, and after a given wait it does what another worker
would (ends its trial, breaks it, dies), so nothing here depends on how long anything
takes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from orionlite.experiment import Experiment
from orionlite.outcome import RunControls, TrialOutcome
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.signals import StopRequest
from orionlite.storage import Storage
from orionlite.worker import Worker, WorkerExit, WorkerReport


class _Waits(threading.Event):
    """Records each wait's timeout instead of waiting; runs ``actions[n]`` at wait n."""

    def __init__(self, actions: dict[int, Callable[[], Any]]) -> None:
        super().__init__()
        self.timeouts: list[float] = []
        self._actions = actions

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.timeouts.append(timeout)
        action = self._actions.get(len(self.timeouts))
        if action is not None:
            action()
        if len(self.timeouts) > 50:
            self.set()  # a worker that never noticed: stop it, and fail below
        return self.is_set()


class _Counted(Storage):
    """The storage, counting the worker's acquisitions and its waiting reads."""

    acquisitions = 0
    reads_while_finishing = 0

    def acquire_trial(self, *args: Any, **kwargs: Any) -> Any:
        self.acquisitions += 1
        return super().acquire_trial(*args, **kwargs)

    def only_live_reservations(self, experiment_id: int) -> bool:
        self.reads_while_finishing += 1
        return super().only_live_reservations(experiment_id)


class _Sleeping:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, trial: TrialRecord, controls: RunControls) -> TrialOutcome:
        time.sleep(self.seconds)
        return TrialOutcome(TrialStatus.COMPLETED, objective=0.0)


MakeExperiment = Callable[[Storage, int], ExperimentRecord]


def _run_beside_held_trials(
    storage: Storage,
    make_experiment: MakeExperiment,
    actions: dict[int, Callable[[Storage, list[TrialRecord]], Any]],
    held: int = 1,
    lease_s: float = 600,
    trial_s: float = 0.0,
) -> tuple[Worker, WorkerReport, _Counted, list[float]]:
    """A worker runs an experiment of 2 + ``held`` trials of ``trial_s`` seconds while
    other workers hold ``held`` of them; at its wait n, ``actions[n](storage, the held
    trials)`` runs."""
    record = make_experiment(storage, 2 + held)
    others = [
        storage.acquire_trial(record.id, {"x": i / 10}, f"held-{i}", f"other-{i}", lease_s)
        for i in range(held)
    ]
    assert all(isinstance(trial, TrialRecord) for trial in others)
    counted = _Counted(storage.url)
    waits = _Waits({n: (lambda act=act: act(storage, others)) for n, act in actions.items()})
    stop = StopRequest()
    stop.requested = waits
    worker = Worker(Experiment(counted, record), _Sleeping(trial_s), stop=stop)
    try:
        report = worker.run()
    finally:
        counted.close()
    assert len(waits.timeouts) <= 50, "the worker never noticed"
    return worker, report, counted, waits.timeouts


def _complete(index: int) -> Callable[[Storage, list[TrialRecord]], None]:
    def complete(storage: Storage, held: list[TrialRecord]) -> None:
        storage.finish_trial(held[index], TrialStatus.COMPLETED, objective=1.0)

    return complete


def _within_jitter(waits: list[float], first: float) -> bool:
    """Each wait within the jitter (x0.5 to x1.5) of ``first``, doubled at each wait."""
    return all(0.5 <= wait / (first * 2**i) <= 1.5 for i, wait in enumerate(waits))


def test_it_waits_for_the_others_last_trial_with_reads_and_leaves_when_it_ends(
    storage: Storage,
    sampled_experiment: MakeExperiment,
) -> None:
    worker, report, counted, waits = _run_beside_held_trials(
        storage, sampled_experiment, {4: _complete(0)}
    )
    assert (report.reason, report.completed) == (WorkerExit.DONE, 2)
    # 3 acquisitions: its 2 trials, then the one that finds the budget spent; then only
    # reads, until the other trial ended; then one acquisition that finds the end.
    assert counted.acquisitions == 4
    assert counted.reads_while_finishing == 4
    assert len(waits) == 4
    # Its trials took microseconds: it looks again after 5 ms, then 10, 20, 40.
    assert worker._last_trial_s is not None
    if worker._last_trial_s < 0.0025:
        assert _within_jitter(waits, 0.005), waits
    assert _within_jitter(waits, worker._first_poll_s()), waits


def test_a_slot_freed_meanwhile_is_taken_while_another_trial_still_runs(
    storage: Storage,
    sampled_experiment: MakeExperiment,
) -> None:
    seen: dict[str, int] = {}

    def first_breaks(storage: Storage, held: list[TrialRecord]) -> None:
        storage.finish_trial(held[0], TrialStatus.BROKEN, error="boom", exit_code=1)

    def second_completes(storage: Storage, held: list[TrialRecord]) -> None:
        seen["completed before"] = storage.count_status(
            held[1].experiment_id, TrialStatus.COMPLETED
        )
        _complete(1)(storage, held)

    _, report, _, _ = _run_beside_held_trials(
        storage, sampled_experiment, {2: first_breaks, 6: second_completes}, held=2
    )
    assert (report.reason, report.completed) == (WorkerExit.DONE, 3)
    assert seen["completed before"] == 3, "the freed slot was filled while the other ran"


def test_a_dead_workers_trial_is_taken_over_once_its_lease_runs_out(
    storage: Storage,
    sampled_experiment: MakeExperiment,
) -> None:
    def lease_runs_out(_storage: Storage, _held: list[TrialRecord]) -> None:
        time.sleep(1.2)  # the other worker died: its 1 s lease ends (database clock)

    # A lease long enough that the worker's own two trials end well within it, even on a
    # busy machine where a commit waits milliseconds for the disk (MySQL here).
    _, report, counted, _ = _run_beside_held_trials(
        storage, sampled_experiment, {3: lease_runs_out}, lease_s=1.0
    )
    assert (report.reason, report.completed) == (WorkerExit.DONE, 3)
    # Usually found at the third wait; on a loaded machine the lease may end before the
    # worker waits at all, and it takes the trial over at once.
    assert counted.reads_while_finishing <= 3
    (record,) = storage.list_experiments()
    (dead,) = [t for t in storage.trials(record.id) if t.attempt > 1]
    assert dead.status is TrialStatus.COMPLETED


def test_a_worker_of_trials_longer_than_25_ms_looks_again_after_50_ms_as_before(
    storage: Storage,
    sampled_experiment: MakeExperiment,
) -> None:
    _, report, _, waits = _run_beside_held_trials(
        storage, sampled_experiment, {3: _complete(0)}, trial_s=0.03
    )
    assert (report.reason, report.completed) == (WorkerExit.DONE, 2)
    assert _within_jitter(waits, 0.05), waits
