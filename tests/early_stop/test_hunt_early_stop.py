"""Early stopping through the real ``hunt`` command, on both backends: progress files from
bash and Python trials, the stop rules, the stop sequence (stop file, SIGTERM, SIGKILL),
and the ``pruned`` status in the budget and the listings."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage


def _script(folder: Path, name: str, body: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip())
    path.chmod(0o755)
    return str(path)


def _trials(url: str, name: str = "exp") -> tuple[list[TrialRecord], dict[int, list]]:
    storage = Storage(url)
    record = storage.get_experiment(name)
    assert record is not None
    trials = storage.trials(record.id)
    progress = storage.progress(record.id)
    storage.close()
    return trials, progress


# A learning curve: value x + 1/step for `steps` steps, `pause` seconds each; leaves
# cleanly (as a checkpointing trial would) when the stop file appears.
CURVE = """
    import os, sys, time
    from orionlite import report_objective
    from orionlite.reporting import report_progress, should_stop
    x = float(sys.argv[1].split("=")[1])
    steps, pause = int(os.environ["CURVE_STEPS"]), float(os.environ["CURVE_PAUSE"])
    for step in range(1, steps + 1):
        time.sleep(pause)
        value = x + 1.0 / step
        if report_progress(step, value):
            open("stopped-cleanly", "w").close()
            sys.exit(0)
    report_objective(value)
"""


def test_bash_trial_reports_progress_and_malformed_lines_are_warnings(cli) -> None:
    trial = _script(
        cli.cwd,
        "trial.sh",
        """
        #!/bin/bash
        x="${1#--x=}"
        for step in 1 2 3; do
          echo "{\\"step\\": $step, \\"value\\": $x}" >> "$ORIONLITE_PROGRESS_PATH"
        done
        echo "epoch 4 done" >> "$ORIONLITE_PROGRESS_PATH"
        echo '{"step": 2, "value": 0.5}' >> "$ORIONLITE_PROGRESS_PATH"
        echo "[{\\"name\\": \\"loss\\", \\"type\\": \\"objective\\", \\"value\\": $x}]" \\
          > "$ORIONLITE_RESULTS_PATH"
        """,
    )
    result = cli.run("hunt", "-n", "exp", "--max-trials", "2", "--", trial, "--x~uniform(0, 1)")
    assert result.returncode == 0, result.stderr
    assert "line 4: not a JSON object; ignored: epoch 4 done" in result.stderr
    trials, progress = _trials(cli.storage)
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 2
    for t in trials:
        x = t.params["x"]
        assert progress[t.id] == [(1, x), (2, x), (3, x)]
        log = (cli.cwd / "orionlite-runs" / "exp-v1" / str(t.id) / "progress.log").read_text()
        assert "line 4: not a JSON object" in log
        assert "line 5: step 2 does not increase (the last one was 3); ignored" in log
    exported = json.loads(cli.run("orionlite", "export", "-n", "exp", "--format", "json").stdout)
    assert [row["progress"] for row in exported] == [
        [[s, t.params["x"]] for s in (1, 2, 3)] for t in trials
    ]


def test_median_prunes_poor_trials_and_pruned_ones_count_toward_max_trials(cli) -> None:
    trial = _script(cli.cwd, "curve.py", CURVE)
    # Steps further apart than the worker's batching window (0.2 s): each value is judged
    # as it arrives, so a stopped trial stops before its last step.
    env_steps = {"CURVE_STEPS": "6", "CURVE_PAUSE": "0.3"}
    result = _run_with_env(
        cli,
        env_steps,
        "hunt", "-n", "exp", "--max-trials", "10", "--n-workers", "2", "--seed", "3",
        "--early-stop", "median", "--early-stop-config", '{"min_trials": 2}',
        "--", cli.python, trial, "--x~uniform(0, 1)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trials, progress = _trials(cli.storage)
    statuses = [t.status for t in trials]
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    assert pruned, statuses
    # The budget holds completed and pruned trials alike: exactly max_trials of them.
    assert statuses.count(TrialStatus.COMPLETED) + len(pruned) == 10 == len(trials)
    for t in pruned:
        assert t.objective == progress[t.id][-1][1]  # its last reported value
        assert "by the median rule" in (t.error or "")
        assert len(progress[t.id]) < 6
        assert (cli.cwd / "orionlite-runs" / "exp-v1" / str(t.id) / "stopped-cleanly").exists()
    assert f"({len(pruned)} pruned)" in result.stderr
    status = json.loads(cli.run("orionlite", "status", "-n", "exp", "--json").stdout)
    assert status[0]["counts"]["pruned"] == len(pruned)
    table = cli.run("orionlite", "status", "-n", "exp").stdout
    assert "pruned" in table
    info = json.loads(cli.run("orionlite", "info", "-n", "exp", "--json").stdout)
    assert info["early_stop"] == {"median": {"min_trials": 2, "warmup_steps": 0}}
    assert info["trials"]["pruned"] == len(pruned)
    listed = cli.run("orionlite", "list").stdout
    header, *lines = listed.splitlines()
    (row,) = [line for line in lines if line.startswith("exp ")]
    assert header.split()[3] == "pruned" and row.split()[3] == str(len(pruned))


def _run_with_env(cli, env: dict[str, str], *args: str, timeout: float = 180):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.run(
        cli.command(*args[:1], *args[1:]),
        cwd=cli.cwd,
        env={**cli.env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_trial_that_traps_sigterm_is_pruned_and_never_counts_as_broken(cli) -> None:
    trial = _script(
        cli.cwd,
        "stubborn.sh",
        """
        #!/bin/bash
        # Ignores the stop file; on SIGTERM, saves and leaves.
        trap 'echo "$(date +%s.%N)" > term.txt; exit 0' TERM
        echo '{"step": 1, "value": 5.0}' >> "$ORIONLITE_PROGRESS_PATH"
        echo '{"step": 2, "value": 50.0}' >> "$ORIONLITE_PROGRESS_PATH"
        while true; do sleep 0.05; done
        """,
    )
    started = time.monotonic()
    result = cli.run(
        "hunt", "-n", "exp", "--max-trials", "2", "--max-broken", "1",
        "--early-stop", "threshold", "--early-stop-config", '{"upper": 10}',
        "--stop-grace", "0.5", "--", trial, "--x~uniform(0, 1)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    trials, progress = _trials(cli.storage)
    assert [t.status for t in trials] == [TrialStatus.PRUNED] * 2
    for t in trials:
        folder = cli.cwd / "orionlite-runs" / "exp-v1" / str(t.id)
        assert (folder / "term.txt").exists()  # SIGTERM reached it, after the stop file
        assert (folder / f"stop-attempt{t.attempt}").exists()
        assert t.objective == 50.0 and t.exit_code == 0
        assert "above upper=10" in (t.error or "")
        assert progress[t.id] == [(1, 5.0), (2, 50.0)]
    assert "is done: 2 (2 pruned) of 2 trials completed" in result.stderr


def test_a_trial_that_ignores_the_stop_file_and_sigterm_is_killed(cli) -> None:
    trial = _script(
        cli.cwd,
        "deaf.sh",
        """
        #!/bin/bash
        trap '' TERM
        echo '{"step": 1, "value": NaN}' >> "$ORIONLITE_PROGRESS_PATH"
        while true; do sleep 0.05; done
        """,
    )
    started = time.monotonic()
    result = cli.run(
        "hunt", "-n", "exp", "--max-trials", "1",
        "--early-stop", "threshold", "--early-stop-config", '{"upper": 10}',
        "--stop-grace", "0.5", "--", trial, "--x~uniform(0, 1)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0  # two grace periods
    assert "line 1: value nan at step 1 is not finite; ignored" in result.stderr
    (t,), progress = _trials(cli.storage)
    assert t.status is TrialStatus.PRUNED
    assert t.exit_code == -9  # SIGKILL
    assert t.objective is None  # it never reported a finite value
    assert "non-finite value (line 1)" in (t.error or "")
    assert progress == {}


def test_without_a_rule_nothing_is_stopped(cli) -> None:
    trial = _script(cli.cwd, "curve.py", CURVE)
    result = _run_with_env(
        cli,
        {"CURVE_STEPS": "4", "CURVE_PAUSE": "0.05"},
        "hunt", "-n", "exp", "--max-trials", "4", "--", cli.python, trial, "--x~uniform(0, 1)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trials, progress = _trials(cli.storage)
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 4
    assert all(len(progress[t.id]) == 4 for t in trials)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--early-stop", "mediam"], "Unknown early-stop rule 'mediam'"),
        (
            ["--early-stop", "asha", "--early-stop-config", '{"reduction_factor": 1}'],
            "reduction_factor of 'asha' must be an integer >= 2",
        ),
        (["--early-stop", "median", "--early-stop-config", "{oops"], "is not JSON"),
        (["--early-stop-config", '{"min_trials": 2}'], "needs --early-stop RULE"),
    ],
)
def test_bad_rules_exit_2_before_anything_is_stored(
    sqlite_cli, args: list[str], message: str
) -> None:
    result = sqlite_cli.run("hunt", "-n", "exp", *args, "--", "true", "--x~uniform(0, 1)")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sqlite_cli.cwd / "orionlite.db").exists()


def test_joining_with_another_rule_is_a_conflict(sqlite_cli) -> None:
    trial = _script(sqlite_cli.cwd, "curve.py", CURVE)
    command = ["--", sqlite_cli.python, trial, "--x~uniform(0, 1)"]
    env = {"CURVE_STEPS": "1", "CURVE_PAUSE": "0"}
    first = _run_with_env(
        sqlite_cli, env, "hunt", "-n", "exp", "--max-trials", "1", "--early-stop", "asha", *command
    )
    assert first.returncode == 0, first.stderr
    again = _run_with_env(
        sqlite_cli, env, "hunt", "-n", "exp", "--max-trials", "2", "--early-stop", "median",
        *command,
    )  # fmt: skip
    assert again.returncode == 1
    assert "early_stop" in again.stderr and "--branch" in again.stderr
    # Joining without --early-stop keeps the stored rule.
    joined = _run_with_env(sqlite_cli, env, "hunt", "-n", "exp", "--max-trials", "2", *command)
    assert joined.returncode == 0, joined.stderr
