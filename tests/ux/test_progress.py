"""What ``hunt`` prints while it runs: a live line in a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from typing import Any

from ux_helpers import add_trial, make_experiment

from orionlite.progress_line import ExperimentProgress as ProgressMonitor
from orionlite.progress_line import Snapshot, format_line
from orionlite.records import TrialStatus

_TRIAL_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] trial \d+ (started|completed): ")

SCRIPT = (
    "import sys\nfrom orionlite import report_objective\n"
    "x = float(sys.argv[1].split('=')[1])\n"
    "print('trial output', x)\n"
    "report_objective(x)\n"
)


def test_line_format() -> None:
    snapshot = Snapshot(
        name="mnist",
        version=2,
        counts={"completed": 12, "reserved": 3, "broken": 1, "new": 0, "interrupted": 0},
        max_trials=50,
        best_objective=0.012345678,
        best_trial_id=7,
        completed_at_start=2,
        started_at=1000.0,
    )
    # 10 trials in 60 s since this hunt started: 10/min, 38 left: 3:48.
    assert format_line(snapshot, now=1060.0) == (
        "12/50 completed · 3 running · 1 broken · best 0.0123457 (trial 7) · 1:00 · "
        "10.0/min · ETA 3:48 · mnist v2"
    )
    slow = Snapshot("e", 1, {"completed": 1}, None, None, None, 0, 0.0)
    assert format_line(slow, now=7200.0) == (
        "1 completed · 0 running · 0 broken · best - · 2:00:00 · 0.5/h · e v1"
    )


def test_line_shows_the_pareto_front_for_several_objectives() -> None:
    front = Snapshot("mo", 1, {"completed": 4}, 10, None, None, 0, 0.0, front_size=3)
    assert "Pareto front 3" in format_line(front, now=60.0)
    assert "best" not in format_line(front, now=60.0)


def test_monitor_reads_counts_and_best(storage: Any) -> None:
    monitor = ProgressMonitor(storage.url, "exp")
    assert monitor.snapshot() is None, "not created yet"
    experiment = make_experiment(storage, "exp", {"x": "uniform(0, 1)"}, max_trials=5)
    add_trial(experiment, {"x": 0.5}, 0.5)
    add_trial(experiment, {"x": 0.2}, 0.2)
    add_trial(experiment, {"x": 0.9}, None, status=TrialStatus.BROKEN)
    add_trial(experiment, {"x": 0.3}, None, status=TrialStatus.RESERVED)
    try:
        snapshot = monitor.snapshot()
    finally:
        monitor.close()
    assert snapshot is not None
    assert (snapshot.completed, snapshot.counts["reserved"], snapshot.counts["broken"]) == (2, 1, 1)
    assert snapshot.best_objective == 0.2 and snapshot.max_trials == 5
    assert snapshot.completed_at_start == 0, "created during this hunt: all of it counts"


def test_plain_lines_when_not_a_terminal(sqlite_cli: Any) -> None:
    (sqlite_cli.cwd / "t.py").write_text(SCRIPT)
    command = ["--", sqlite_cli.python, "t.py", "--x~uniform(0, 1)"]
    result = sqlite_cli.run("hunt", "-n", "p", "--max-trials", "2", *command)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stderr and "\r" not in result.stderr
    lines = result.stderr.splitlines()
    trial_lines = [line for line in lines if _TRIAL_LINE.match(line)]
    assert [_TRIAL_LINE.match(line)[1] for line in trial_lines] == [  # type: ignore[index]
        "started",
        "completed",
        "started",
        "completed",
    ]
    assert "Experiment 'p' v1 is done: 2 of 2 trials completed." in lines
    assert "trial output" not in result.stdout + result.stderr, "only in stdout.log"
    quiet = sqlite_cli.run("hunt", "-n", "p", "--quiet", "--max-trials", "3", *command)
    assert quiet.returncode == 0, quiet.stderr
    assert not any(_TRIAL_LINE.match(line) for line in quiet.stderr.splitlines())
    assert "Experiment 'p' v1 is done: 3 of 3 trials completed." in quiet.stderr
    verbose = sqlite_cli.run("hunt", "-n", "p", "--verbose", "--max-trials", "4", *command)
    assert "trial output" in verbose.stdout, "--verbose shows the trial's own output"


def test_live_line_in_a_terminal(sqlite_cli: Any) -> None:
    (sqlite_cli.cwd / "t.py").write_text(
        SCRIPT.replace("print(", "import time; time.sleep(0.5); print(")
    )
    master, slave = pty.openpty()
    env = {**sqlite_cli.env(), "TERM": "xterm", "COLUMNS": "200"}
    process = subprocess.Popen(
        sqlite_cli.command(
            "hunt",
            "-n",
            "live",
            "--max-trials",
            "3",
            "--",
            sqlite_cli.python,
            "t.py",
            "--x~uniform(0, 1)",
        ),
        cwd=sqlite_cli.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: hunt exited
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(master)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "\r" in text and "\x1b[2K" in text, "the line is redrawn in place"
    assert re.search(r"\d/3 completed · \d running · 0 broken · best ", text)
    assert "live v1" in text
    assert "trial 1 completed: objective" in text, "finished trials scroll above the line"
    assert "started:" not in text, "the line shows what runs; no line per start"
    assert (
        text.rstrip()
        .splitlines()[-2]
        .endswith("Experiment 'live' v1 is done: 3 of 3 trials completed.")
    )
