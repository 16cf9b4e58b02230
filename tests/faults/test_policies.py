"""Leaving on purpose: --max-broken (across workers), --max-retries, --idle-timeout."""

from __future__ import annotations

import re

from faultlab import Lab, assert_clean_output, first_started

from orionlite.records import TrialStatus


def test_max_broken_counts_across_workers_and_names_the_trials(lab: Lab) -> None:
    broken_env = {"FAULT_FAIL": "1"}
    hunts = [lab.hunt("--max-trials", "20", "--max-broken", "3", env=broken_env) for _ in range(2)]
    for hunt in hunts:
        assert hunt.wait() == 1
        assert_clean_output(hunt)

    broken = {trial.id for trial in lab.trials() if trial.status is TrialStatus.BROKEN}
    # Counted per worker, two workers would have broken 6 trials; counted together, the
    # limit stops both once 3 broke (plus at most the one the other worker was running).
    assert 3 <= len(broken) <= 4
    for hunt in hunts:
        text = hunt.stderr
        found = re.search(r"(\d+) trials broke \(--max-broken 3\): trials ([\d, ]+)\.", text)
        assert found is not None, text
        named = {int(n) for n in found.group(2).split(", ")}
        assert named <= broken and len(named) == int(found.group(1)) >= 3
        for trial_id in named:  # and why: exit code and last stderr line of each
            assert re.search(
                rf"trial {trial_id} \(x=\S+\): The command exited with code 3: "
                rf"boom in trial {trial_id}\n",
                text,
            ), text
        assert "Last broken trial" in text


def test_max_retries_reruns_a_broken_trial_before_counting_it(lab: Lab) -> None:
    hunt = lab.hunt(
        "--max-trials", "5", "--max-broken", "1", "--max-retries", "2", env={"FAULT_FAIL": "1"}
    )
    assert hunt.wait() == 1
    assert_clean_output(hunt)

    trials = lab.trials()
    assert [(t.status, t.retries) for t in trials] == [(TrialStatus.BROKEN, 2)]
    # The same trial ran three times (two retries) before it counted as broken.
    assert sorted(lab.started()) == [(trials[0].id, 1), (trials[0].id, 2), (trials[0].id, 3)]
    assert f"trials {trials[0].id}." in hunt.stderr


def test_idle_timeout_exits_cleanly_with_one_line(lab: Lab) -> None:
    holder = lab.hunt("--max-trials", "1", env={"FAULT_SLEEP": "60"})
    trial_id, _pid = first_started(lab)

    idle = lab.hunt("--max-trials", "1", "--idle-timeout", "0.5")
    assert idle.wait() == 0
    assert idle.stderr.strip().splitlines() == [
        "No trial could be reserved within --idle-timeout; this worker leaves."
    ]
    # It left the other worker's trial alone.
    assert holder.process.poll() is None
    assert lab.trial(trial_id).status is TrialStatus.RESERVED
