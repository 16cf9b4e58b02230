"""--trial-timeout, --max-duration, the warning without --max-trials, --dry-run, and the
SLURM preemption story: real hunt processes on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from trials import started, write_trial
from waiting import wait_for

from orionlite.cmdline import parse_command
from orionlite.command_runner import CommandRunner
from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage


def _trials(cli, name: str) -> list[TrialRecord]:
    storage = Storage(cli.storage)
    try:
        record = storage.get_experiment(name)
        assert record is not None
        return storage.trials(record.id)
    finally:
        storage.close()


def test_trial_timeout_records_a_broken_trial_with_reason_timeout(cli) -> None:
    script = write_trial(cli.cwd)
    (cli.cwd / "sleep").write_text("30")
    began = time.monotonic()
    result = cli.run(
        "hunt", "-n", "t", "--trial-timeout", "1", "--max-broken", "2", "--",
        "python", script, "--x~uniform(0, 1)",
    )  # fmt: skip
    assert time.monotonic() - began < 25
    assert result.returncode == 1
    assert "Timeout: the trial ran longer than --trial-timeout (1 s)" in result.stderr
    trials = _trials(cli, "t")
    assert [t.status for t in trials] == [TrialStatus.BROKEN, TrialStatus.BROKEN]
    assert all((t.error or "").startswith("Timeout:") for t in trials)
    assert all(t.exit_code == -signal.SIGTERM for t in trials)


class _Never:
    def interrupted(self) -> bool:
        return False

    def forced(self) -> bool:
        return False

    def lost(self) -> bool:
        return False


def test_a_trial_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    runner = CommandRunner(
        parse_command(["python", "-c", code, "--x~uniform(0, 1)"]),
        experiment_name="t",
        experiment_version=1,
        experiment_dir=tmp_path,
        storage_url="sqlite:///unused.db",
        grace_s=0.5,
        # Long enough for the interpreter to ignore SIGTERM first on a loaded machine.
        trial_timeout_s=3,
    )
    trial = TrialRecord(1, 1, {"x": 0.5}, "h", TrialStatus.RESERVED, attempt=1)
    began = time.monotonic()
    outcome = runner.run(trial, _Never())
    assert time.monotonic() - began < 15
    assert outcome.status is TrialStatus.BROKEN
    assert outcome.exit_code == -signal.SIGKILL
    assert (outcome.error or "").startswith("Timeout:")


def test_max_duration_gives_the_running_trial_back_and_exits_0(cli) -> None:
    script = write_trial(cli.cwd)
    (cli.cwd / "sleep").write_text("30")
    result = cli.run(
        "hunt", "-n", "d", "--max-duration", "2", "--", "python", script, "--x~uniform(0, 1)"
    )
    assert result.returncode == 0, result.stderr
    assert "This worker reached --max-duration; the running trial went back to the pool." in (
        result.stderr
    )
    assert [t.status for t in _trials(cli, "d")] == [TrialStatus.INTERRUPTED]


def test_without_max_trials_hunt_warns_once(cli) -> None:
    script = write_trial(cli.cwd)
    (cli.cwd / "sleep").write_text("30")
    result = cli.run(
        "hunt", "-n", "w", "--n-workers", "2", "--max-duration", "3", "--",
        "python", script, "--x~uniform(0, 1)",
    )  # fmt: skip
    assert result.stderr.count("runs until stopped") == 1, result.stderr
    (cli.cwd / "sleep").unlink()
    bounded = cli.run("hunt", "-n", "w", "--max-trials", "2")
    assert bounded.returncode == 0, bounded.stderr
    assert "runs until stopped" not in bounded.stderr
    assert "runs until" in cli.run("hunt", "--help").stdout


def test_dry_run_prints_everything_and_stores_nothing(cli) -> None:
    script = write_trial(cli.cwd)
    before = sorted(cli.cwd.iterdir())
    result = cli.run(
        "hunt", "-n", "dry", "--dry-run", "--algorithm", "grid", "--", "python", script,
        "--x~uniform(0, 1)", "--layers~choices([1, 2])", "{trial.id}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "x       uniform(0, 1)" in out or "x  " in out
    assert "choices([1, 2])" in out and "Algorithm: grid" in out
    assert f"python {script} --x=" in out and "--layers=" in out and "'<trial id>'" in out
    assert f"Working folder: {cli.cwd / 'orionlite-runs' / 'dry-v1'}/<trial id>" in out
    assert sorted(cli.cwd.iterdir()) == before
    bad = cli.run("hunt", "-n", "dry", "--dry-run", "--", "nosuchprogram", "--x~uniform(0, 1)")
    assert bad.returncode == 2 and "'nosuchprogram' was not found" in bad.stderr
    assert sorted(cli.cwd.iterdir()) == before
    storage = Storage(cli.storage)
    try:
        assert storage.get_experiment("dry") is None  # nothing stored (PostgreSQL too)
    finally:
        storage.close()


CHECKPOINTING = """
import os, sys, time
from pathlib import Path
from orionlite import report_objective
checkpoint = Path("checkpoint.txt")  # in the trial's own folder
epoch = int(checkpoint.read_text()) if checkpoint.exists() else 0
Path(os.environ["ORIONLITE_LAUNCH_DIR"], f"started-{os.environ['ORIONLITE_TRIAL_ID']}").touch()
for epoch in range(epoch, 3):
    checkpoint.write_text(str(epoch + 1))
    if (Path(os.environ["ORIONLITE_LAUNCH_DIR"]) / "slow").exists():
        time.sleep(60)
report_objective(float(epoch))
"""


def test_a_preempted_job_leaves_its_trial_interrupted_and_the_next_job_resumes_it(cli) -> None:
    (cli.cwd / "ckpt.py").write_text(CHECKPOINTING)
    (cli.cwd / "slow").touch()
    job = subprocess.Popen(
        cli.command("hunt", "-n", "slurm", "--max-trials", "1", "--", "python", "ckpt.py",
                    "--x~uniform(0, 1)"),
        cwd=cli.cwd, env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: started(cli.cwd), "the first job's trial to start")
    os.kill(job.pid, signal.SIGTERM)  # what SLURM sends at preemption or the time limit
    job.communicate(timeout=60)
    assert job.returncode == 130
    (trial,) = _trials(cli, "slurm")
    assert trial.status is TrialStatus.INTERRUPTED
    folder = cli.cwd / "orionlite-runs" / "slurm-v1" / str(trial.id)
    assert (folder / "checkpoint.txt").read_text() == "1"
    (cli.cwd / "slow").unlink()
    second = cli.run("hunt", "-n", "slurm")
    assert second.returncode == 0, second.stderr
    (resumed,) = _trials(cli, "slurm")
    assert resumed.id == trial.id and resumed.status is TrialStatus.COMPLETED
    assert resumed.objective == 2.0 and (folder / "checkpoint.txt").read_text() == "3"
