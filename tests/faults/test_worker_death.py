"""SPEC §2.3: a dead or frozen worker loses its trial, and cannot overwrite the new result.

Real ``hunt`` processes on both backends: one is SIGKILLed (a node gone) or SIGSTOPped
past its lease (a suspended laptop, a stalled VM), another worker takes over its trial.
"""

from __future__ import annotations

import signal

import pytest
from faultlab import (
    LEASE_S,
    RECLAIM_LINE,
    Lab,
    assert_all_terminal,
    assert_clean_output,
    first_started,
    reported_attempt,
    wait_for,
)

from orionlite.records import TrialStatus

MAX_TRIALS = 5


def test_killed_worker_trial_is_rerun_by_another_worker(lab: Lab) -> None:
    first = lab.hunt("--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": "60"})
    trial_id, pid = first_started(lab)
    owner = lab.trial(trial_id).reserved_by

    first.signal(signal.SIGKILL)
    first.wait()
    lab.kill_trial_process(pid)  # the whole node is gone, its trial with it
    # Nobody else runs yet: the dead worker's reservation is still there.
    assert lab.trial(trial_id).status is TrialStatus.RESERVED

    second = lab.hunt("--max-trials", str(MAX_TRIALS))
    assert second.wait() == 0
    assert_clean_output(second)

    rerun = lab.trial(trial_id)
    assert rerun.status is TrialStatus.COMPLETED
    assert rerun.attempt == 2
    assert rerun.reserved_by not in (None, owner)
    assert reported_attempt(rerun) == 2
    assert lab.count(TrialStatus.COMPLETED) == MAX_TRIALS
    assert_all_terminal(lab)
    runs = sorted(run["trial"] for run in lab.finished_runs())
    assert runs == sorted(trial.id for trial in lab.trials())  # each ran to its end once


@pytest.mark.parametrize(
    "trial_s", [2.0, 60.0], ids=["trial-ended-while-paused", "trial-still-running"]
)
def test_paused_worker_cannot_overwrite_the_new_owner(lab: Lab, trial_s: float) -> None:
    paused = lab.hunt("--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": str(trial_s)})
    trial_id, _pid = first_started(lab)

    # The heartbeat thread honours --heartbeat (0.5 s; the default 30 s would never beat
    # within the wait below) and grants 3 intervals, computed on the database's clock.
    beats = {lab.trial(trial_id).heartbeat_at}

    def beat_twice() -> bool:
        beats.add(lab.trial(trial_id).heartbeat_at)
        return len(beats) >= 3

    wait_for(beat_twice, "two heartbeats")
    granted, _left = lab.lease(trial_id)
    assert granted == pytest.approx(LEASE_S, abs=1e-3)
    # Just after a beat committed: the worker holds no database lock while frozen.
    paused.signal(signal.SIGSTOP)

    other = lab.hunt("--max-trials", str(MAX_TRIALS))
    assert other.wait() == 0
    assert_clean_output(other)
    taken = lab.trial(trial_id)
    assert (taken.status, taken.attempt) == (TrialStatus.COMPLETED, 2)

    paused.signal(signal.SIGCONT)
    assert paused.wait() == 0  # carries on, finds the experiment done, leaves cleanly
    assert_clean_output(paused)
    assert paused.stderr.count(RECLAIM_LINE) == 1, paused.stderr

    final = lab.trial(trial_id)
    assert (final.status, final.attempt, final.reserved_by) == (
        TrialStatus.COMPLETED,
        2,
        taken.reserved_by,
    )
    assert reported_attempt(final) == 2  # the new owner's result, not the late one
    assert final.objective == pytest.approx(float(final.params["x"]) ** 2)
    assert lab.count(TrialStatus.COMPLETED) == MAX_TRIALS
    assert_all_terminal(lab)
    runs = {(run["trial"], run["attempt"]) for run in lab.finished_runs()}
    if trial_s < 10:
        # The paused worker's trial did produce a result: the one that was refused.
        assert (trial_id, 1) in runs
    else:
        # Its process was stopped when the worker found out it lost the trial.
        assert lab.signal_seen(trial_id, 1) == "SIGTERM"
        assert (trial_id, 1) not in runs
