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
        os.kill(paused.pid, signal.SIGCONT)
        _out, err = paused.communicate(timeout=120)
        assert paused.returncode == 0, err
        assert "refused" in err or "reclaimed by another worker" in err, err
        # Nothing the paused worker read after waking was stored: its trial process
        # went on writing lines while it was stopped, none of which reached the table.
        assert _attempt_steps(cli.storage, 1) == before
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
