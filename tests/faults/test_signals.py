"""Ctrl-C, SIGTERM and pre-emption: the trial is told, given back, and run again later.

SPEC §1 (exit 130, ``interrupted``) and §2.5 (a worker killed by a scheduler leaves
nothing reserved for longer than its lease).
"""

from __future__ import annotations

import signal

from faultlab import (
    LEASE_S,
    Lab,
    assert_all_terminal,
    assert_clean_output,
    first_started,
    reported_attempt,
    wait_for,
)

from orionlite.records import TrialStatus

MAX_TRIALS = 3


def _finish_with_a_new_worker(lab: Lab, trial_id: int) -> None:
    """The next hunt re-runs the given-back trial and completes the experiment exactly."""
    again = lab.hunt("--max-trials", str(MAX_TRIALS))
    assert again.wait() == 0
    assert_clean_output(again)
    rerun = lab.trial(trial_id)
    assert (rerun.status, rerun.attempt) == (TrialStatus.COMPLETED, 2)
    assert reported_attempt(rerun) == 2
    assert lab.count(TrialStatus.COMPLETED) == MAX_TRIALS
    assert_all_terminal(lab)


def test_ctrl_c_interrupts_the_trial_and_exits_130(lab: Lab) -> None:
    hunt = lab.hunt("--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": "60"})
    trial_id, _pid = first_started(lab)

    hunt.signal(signal.SIGINT)
    assert hunt.wait() == 130
    assert_clean_output(hunt)
    assert lab.signal_seen(trial_id, 1) == "SIGINT"  # forwarded to the trial's group
    interrupted = lab.trial(trial_id)
    assert interrupted.status is TrialStatus.INTERRUPTED
    assert lab.count(TrialStatus.COMPLETED) == 0

    _finish_with_a_new_worker(lab, trial_id)


def test_second_ctrl_c_kills_the_trial_at_once(lab: Lab) -> None:
    # The trial would take a minute to wrap up after Ctrl-C, far beyond the grace period
    # (10 s): only the second Ctrl-C can end hunt within the wait below.
    hunt = lab.hunt(
        "--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": "60", "FAULT_SIGNAL_DELAY": "60"}
    )
    trial_id, pid = first_started(lab)
    hunt.signal(signal.SIGINT)
    wait_for(lambda: lab.signal_seen(trial_id, 1), "Ctrl-C to reach the trial")

    hunt.signal(signal.SIGINT)
    assert hunt.wait(timeout_s=8) == 130
    assert_clean_output(hunt)
    assert lab.trial(trial_id).status is TrialStatus.INTERRUPTED
    assert not _alive(pid)


def test_preemption_sigterm_then_sigkill_holds_the_trial_only_for_its_lease(lab: Lab) -> None:
    """SLURM: SIGTERM, then SIGKILL before the trial finished wrapping up."""
    hunt = lab.hunt(
        "--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": "60", "FAULT_SIGNAL_DELAY": "1"}
    )
    trial_id, _pid = first_started(lab)

    hunt.signal(signal.SIGTERM)
    wait_for(lambda: lab.signal_seen(trial_id, 1), "SIGTERM to reach the trial")
    assert lab.signal_seen(trial_id, 1) == "SIGTERM"  # the same signal, not a Ctrl-C
    hunt.signal(signal.SIGKILL)
    hunt.wait()

    # Killed before it could give the trial back: the reservation stays, but only until
    # its lease (3 heartbeats, on the database clock) runs out.
    held = lab.trial(trial_id)
    _granted, left = lab.lease(trial_id)
    assert held.status is TrialStatus.RESERVED
    assert left is not None and left <= LEASE_S

    _finish_with_a_new_worker(lab, trial_id)


def test_sigkilled_hunt_takes_its_trial_with_it(lab: Lab) -> None:
    """No orphan: a trial left running would train on unseen while, after the lease, the
    next worker runs it again."""
    hunt = lab.hunt("--max-trials", str(MAX_TRIALS), env={"FAULT_SLEEP": "60"})
    trial_id, pid = first_started(lab)

    hunt.signal(signal.SIGKILL)
    hunt.wait()

    try:
        # Well before the trial's own end (60 s): it must not just have finished.
        wait_for(lambda: not _alive(pid), "the trial to die with its hunt", timeout_s=10)
    finally:
        lab.kill_trial_process(pid)
    assert lab.signal_seen(trial_id, 1) is None  # killed outright, as its hunt was
    _finish_with_a_new_worker(lab, trial_id)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
