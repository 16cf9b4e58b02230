"""Worker processes limit their numeric libraries' threads while suggesting, unless the
user set a thread variable: checked in real ``hunt --n-workers 2`` worker processes,
which report (with --verbose) the thread counts they read inside the limit."""

from __future__ import annotations

import subprocess
import textwrap
from typing import Any

from orionlite.threads import USER_VARIABLES

TRIAL = textwrap.dedent(
    """
    import sys
    from orionlite import report_objective
    x = float(sys.argv[1].split("=")[1])
    report_objective((x - 0.3) ** 2)
    """
)


def hunt(sqlite_cli: Any, **variables: str) -> subprocess.CompletedProcess[str]:
    (sqlite_cli.cwd / "trial.py").write_text(TRIAL)
    env = {k: v for k, v in sqlite_cli.env().items() if k not in USER_VARIABLES}
    env.update(variables)
    command = sqlite_cli.command(
        "hunt",
        "-n",
        "threads",
        "--verbose",
        "--n-workers",
        "2",
        "--max-trials",
        "6",
        "--algorithm",
        "bayes",
        "--algorithm-config",
        '{"n_initial_points": 2, "n_points": 100}',
        "--",
        sqlite_cli.python,
        "trial.py",
        "--x~uniform(0, 1)",
    )
    return subprocess.run(
        command, cwd=sqlite_cli.cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_each_worker_process_suggests_with_one_thread_per_library(sqlite_cli: Any) -> None:
    result = hunt(sqlite_cli)
    assert result.returncode == 0, result.stderr
    lines = [
        line
        for line in result.stderr.splitlines()
        if "numeric library threads during suggestions" in line
    ]
    assert len(lines) == 2, "one line per worker process"
    for line in lines:
        assert "limited to " in line and "openblas=1" in line
        assert "=2" not in line and "=4" not in line


def test_a_thread_variable_set_by_the_user_stands(sqlite_cli: Any) -> None:
    result = hunt(sqlite_cli, OPENBLAS_NUM_THREADS="2")
    assert result.returncode == 0, result.stderr
    lines = [
        line
        for line in result.stderr.splitlines()
        if "numeric library threads during suggestions" in line
    ]
    assert len(lines) == 2
    assert all("left as set by the user (OPENBLAS_NUM_THREADS=2)" in line for line in lines)
