"""What people read: tables at any width from 60 columns, Ctrl-C wording, ISO times,
where a trial finds its files. Real hunt processes on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from trials import started, write_trial
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _hunt(cli, *args: str) -> subprocess.CompletedProcess[str]:
    script = write_trial(cli.cwd)
    return cli.run("hunt", *args, "--", "python", script, "--x~uniform(0, 1)")


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_tables_fit_the_width_and_never_cut_words(sqlite_cli, width: int) -> None:
    cli = sqlite_cli  # rendering does not depend on the backend
    name = "a-rather-long-experiment-name"
    assert _hunt(cli, "-n", name, "--max-trials", "2", "-q").returncode == 0
    env = {**cli.env(), "COLUMNS": str(width)}
    for args in (["status"], ["list"], ["info", "-n", name]):
        out = subprocess.run(
            cli.command("orionlite", *args), env=env, cwd=cli.cwd, text=True, capture_output=True
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert all(len(line) <= width for line in lines), (args, out.stdout)
        words = out.stdout.split()
        # headers and keys whole, never "experi" + "ment"
        expected = {"status": ["experiment", "completed", "interrupted"], "list": ["trials"]}
        for word in expected.get(args[0], ["version", "command"]):
            assert word in words, (args, out.stdout)
        assert "experi" not in words and "ment" not in words


def test_piped_tables_are_never_cut(cli) -> None:
    name = "x" * 150
    assert _hunt(cli, "-n", name, "--max-trials", "1", "-q").returncode == 0
    out = cli.run("orionlite", "status")
    assert name in out.stdout


def _start_session(cli, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli.command("hunt", *args),
        cwd=cli.cwd,
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_ctrl_c_while_idle_says_no_trial_was_running(cli) -> None:
    script = write_trial(cli.cwd)
    command = ["--", "python", script, "--x~uniform(0, 1)", "--sleep", "30"]
    busy = _start_session(cli, "-n", "e", "--max-trials", "1", *command)
    wait_for(lambda: started(cli.cwd), "the first worker's trial to start")
    errors = cli.cwd / "idle.err"
    with open(errors, "w") as err_file:
        idle = subprocess.Popen(
            cli.command("hunt", "-n", "e", "--verbose", *command),
            cwd=cli.cwd,
            env=cli.env(),
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            text=True,
            start_new_session=True,
        )
    try:
        # Once its loop runs it handles Ctrl-C, and has nothing to take: the budget's only
        # slot is running.
        wait_for(lambda: " joined 'e' v1" in errors.read_text(), "the second worker")
        os.killpg(idle.pid, signal.SIGINT)
        idle.wait(timeout=60)
        err = errors.read_text()
        assert idle.returncode == 130, err
        assert "Interrupted: no trial was running." in err
        assert "went back to the pool" not in err
    finally:
        os.killpg(busy.pid, signal.SIGKILL)
        busy.communicate()


def test_ctrl_c_with_two_workers_counts_two_trials(cli) -> None:
    script = write_trial(cli.cwd)
    hunt = _start_session(
        cli, "-n", "e", "--n-workers", "2", "--", "python", script, "--x~uniform(0, 1)",
        "--sleep", "30",
    )  # fmt: skip
    wait_for(lambda: len(started(cli.cwd)) == 2, "both trials to start")
    os.killpg(hunt.pid, signal.SIGINT)
    _, err = hunt.communicate(timeout=60)
    assert hunt.returncode == 130, err
    assert "Interrupted: the 2 running trials went back to the pool." in err


def test_a_trial_ignoring_ctrl_c_is_announced_then_killed(cli) -> None:
    script = write_trial(cli.cwd)
    hunt = _start_session(
        cli, "-n", "e", "--", "python", script, "--x~uniform(0, 1)", "--sleep", "60",
        "--ignore-int",
    )  # fmt: skip
    wait_for(lambda: started(cli.cwd), "the trial to start")
    os.killpg(hunt.pid, signal.SIGINT)
    lines: list[str] = []
    assert hunt.stderr is not None
    while "press Ctrl-C again" not in "".join(lines):
        line = hunt.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    assert "stopping trial 1 (press Ctrl-C again to kill it now)" in "".join(lines)
    os.killpg(hunt.pid, signal.SIGINT)
    _, err = hunt.communicate(timeout=30)
    assert hunt.returncode == 130
    assert "Interrupted: the running trial went back to the pool." in err


def test_trial_finds_the_launch_folder_and_a_missing_file_says_so(cli) -> None:
    (cli.cwd / "data.txt").write_text("1.5\n")
    reader = cli.cwd / "reader.py"
    reader.write_text(
        "import os\n"
        "from orionlite import report_objective\n"
        "value = float(open(os.path.join(os.environ['ORIONLITE_LAUNCH_DIR'], 'data.txt')).read())\n"
        "report_objective(value)\n"
    )
    ok = cli.run(
        "hunt", "-n", "ok", "--max-trials", "1", "--", "python", "reader.py", "--x~uniform(0, 1)"
    )
    assert ok.returncode == 0, ok.stderr
    assert "Best objective 1.5" in ok.stderr
    naive = cli.cwd / "naive.py"
    naive.write_text("open('data.txt').read()\n")
    bad = cli.run(
        "hunt", "-n", "bad", "--max-broken", "1", "--", "python", "naive.py", "--x~uniform(0, 1)"
    )
    assert bad.returncode == 1
    assert "FileNotFoundError" in bad.stderr
    assert "ORIONLITE_LAUNCH_DIR" in bad.stderr


def test_demo_leftovers_are_ignored_and_activation_is_explained() -> None:
    assert "orionlite-runs/" in (ROOT / ".gitignore").read_text().splitlines()
    assert "source .venv/bin/activate" in (ROOT / "examples" / "demo.sh").read_text()
    assert "source .venv/bin/activate" in (ROOT / "README.md").read_text()
