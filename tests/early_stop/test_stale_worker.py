"""A worker SIGSTOPped past its lease while its trial reports progress: another worker
takes the trial over, and the late progress and the late result are refused (fencing
token); the trial's status is decided once, by its new owner."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

from orionlite.records import TrialStatus
from orionlite.storage import Storage
from orionlite.storage.engine import make_engine

HEARTBEAT = "0.3"  # lease: three intervals


def _attempt_steps(url: str, attempt: int) -> list[int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT step FROM trial_progress WHERE attempt = :a ORDER BY step"),
            {"a": attempt},
        ).all()
    engine.dispose()
    return [row[0] for row in rows]


def _wait(condition, what: str, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def test_late_progress_and_result_of_a_paused_worker_are_refused(cli, tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from orionlite import report_objective
            from orionlite.reporting import report_progress
            x = float(sys.argv[1].split("=")[1])
            for step in range(1, 16):
                time.sleep(0.2)
                report_progress(step, x + 1.0 / step)
            report_objective(x)
            """
        )
    )
    storage = Storage(cli.storage)
    storage.list_experiments()  # creates the schema, so that it can be watched at once
    storage.close()
    command = ["--", cli.python, str(script), "--x~uniform(0, 1)"]
    options = ["-n", "exp", "--max-trials", "1", "--heartbeat", HEARTBEAT]
    paused = subprocess.Popen(
        cli.command("hunt", *options, *command),
        cwd=cli.cwd,
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(lambda: len(_attempt_steps(cli.storage, 1)) >= 2, "two stored values")
        os.kill(paused.pid, signal.SIGSTOP)
        before = _attempt_steps(cli.storage, 1)
        time.sleep(1.5)  # past the lease (0.9 s)
        other = cli.run("hunt", *options, *command, timeout=120)
        assert other.returncode == 0, other.stderr
        storage = Storage(cli.storage)
        record = storage.get_experiment("exp")
        assert record is not None
        (taken,) = storage.trials(record.id)
        assert (taken.status, taken.attempt) == (TrialStatus.COMPLETED, 2)
        assert len(before) >= 2 and _attempt_steps(cli.storage, 1) == []
        os.kill(paused.pid, signal.SIGCONT)
        _out, err = paused.communicate(timeout=120)
        assert paused.returncode == 0, err
        assert "refused" in err or "reclaimed by another worker" in err, err
        # Nothing the paused worker read after waking was stored: its trial process went
        # on writing lines while it was stopped, and the new owner's first batch deleted
        # the first attempt's values; none came back.
        assert _attempt_steps(cli.storage, 1) == []
        (final,) = storage.trials(record.id)
        assert (final.status, final.attempt, final.reserved_by, final.objective) == (
            TrialStatus.COMPLETED,
            2,
            taken.reserved_by,
            taken.objective,
        )
        # The trial's progress is its new owner's, complete.
        assert [step for step, _ in storage.progress(record.id)[final.id]] == list(range(1, 16))
        storage.close()
    finally:
        if paused.poll() is None:
            os.kill(paused.pid, signal.SIGCONT)
            paused.kill()
            paused.wait()


def test_a_worker_killed_while_stopping_a_trial_loses_nothing(cli, tmp_path: Path) -> None:
    """The trial ignores the stop file and SIGTERM; its worker is SIGKILLed during the
    grace period. Another worker takes the trial over by its lease and stops it again."""
    script = tmp_path / "deaf.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal, time
            from orionlite.reporting import report_progress
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            report_progress(1, 100.0)
            while True:
                time.sleep(0.05)
            """
        )
    )
    storage = Storage(cli.storage)
    storage.list_experiments()
    command = ["--", cli.python, str(script), "--x~uniform(0, 1)"]
    options = ["-n", "exp", "--max-trials", "1", "--heartbeat", HEARTBEAT]
    rule = ["--early-stop", "threshold", "--early-stop-config", '{"upper": 10}']
    first = subprocess.Popen(
        cli.command("hunt", *options, *rule, "--stop-grace", "60", *command),
        cwd=cli.cwd,
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stop_file = cli.cwd / "orionlite-runs" / "exp-v1" / "1" / "stop-attempt1"
        _wait(stop_file.exists, "the first worker to start stopping the trial")
        first.kill()
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    record = storage.get_experiment("exp")
    assert record is not None
    (held,) = storage.trials(record.id)
    assert (held.status, held.attempt) == (TrialStatus.RESERVED, 1)  # until its lease ends
    time.sleep(1.0)
    second = cli.run("hunt", *options, "--stop-grace", "0.3", *command, timeout=120)
    assert second.returncode == 0, second.stderr
    (final,) = storage.trials(record.id)
    assert (final.status, final.attempt, final.objective) == (TrialStatus.PRUNED, 2, 100.0)
    assert final.exit_code == -9  # it ignored SIGTERM too: killed after two grace periods
    assert storage.progress(record.id) == {final.id: [(1, 100.0)]}
    storage.close()
