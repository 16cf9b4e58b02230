"""requeue, insert / enqueue, set and rm: real hunt and orionlite processes, both backends."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from trials import started, write_trial
from waiting import wait_for

from orionlite.records import TrialStatus
from orionlite.storage import Storage


def _hunt(
    cli, name: str, *options: str, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    script = write_trial(cli.cwd)
    return cli.run(
        "hunt", "-n", name, "-q", *options, "--", "python", script, "--x~uniform(0, 1)",
        "--layers~uniform(1, 4, discrete=True, default_value=2)", "--fail-flag", "fail", *extra,
    )  # fmt: skip


def _counts(cli, name: str) -> dict[TrialStatus, int]:
    storage = Storage(cli.storage)
    try:
        record = storage.get_experiment(name)
        assert record is not None
        return storage.count_by_status(record.id)
    finally:
        storage.close()


def _trials(cli, name: str) -> list:
    storage = Storage(cli.storage)
    try:
        record = storage.get_experiment(name)
        assert record is not None
        return storage.trials(record.id)
    finally:
        storage.close()


def test_requeue_after_fixing_the_script_finishes_the_experiment_exactly(cli) -> None:
    (cli.cwd / "fail").touch()
    first = _hunt(cli, "e", "--max-trials", "5", "--max-broken", "3")
    assert first.returncode == 1
    assert "orionlite requeue -n e" in first.stderr and "--max-broken" in first.stderr
    # Without a requeue, hunt stops at once on the same broken trials.
    assert _hunt(cli, "e").returncode == 1
    broken = [t for t in _trials(cli, "e") if t.status is TrialStatus.BROKEN]
    assert len(broken) == 3
    (cli.cwd / "fail").unlink()
    requeued = cli.run("orionlite", "requeue", "-n", "e")
    assert requeued.returncode == 0, requeued.stderr
    assert "Requeued 3 trials of 'e' v1 (3 broken)" in requeued.stdout
    after = {t.id: t for t in _trials(cli, "e")}
    for trial in broken:
        assert after[trial.id].status is TrialStatus.NEW
        assert after[trial.id].params == trial.params
        assert after[trial.id].attempt == trial.attempt  # attempt counter kept
    second = _hunt(cli, "e")
    assert second.returncode == 0, second.stderr
    counts = _counts(cli, "e")
    assert counts[TrialStatus.COMPLETED] == 5 and counts[TrialStatus.BROKEN] == 0
    # The requeued trials ran first, in their own folders.
    final = {t.id: t for t in _trials(cli, "e")}
    for trial in broken:
        assert final[trial.id].status is TrialStatus.COMPLETED
        assert final[trial.id].attempt == trial.attempt + 1
        assert (cli.cwd / "orionlite-runs" / "e-v1" / str(trial.id) / "stderr.log").exists()


def test_requeue_of_broken_trials_needs_room_in_max_trials(cli) -> None:
    (cli.cwd / "fail").touch()
    assert _hunt(cli, "e", "--max-trials", "3", "--max-broken", "1").returncode == 1
    (cli.cwd / "fail").unlink()
    assert _hunt(cli, "e", "--max-broken", "10").returncode == 0  # 3 completed, 1 broken
    refused = cli.run("orionlite", "requeue", "-n", "e")
    assert refused.returncode == 1
    assert "leaves room for 0 more" in refused.stderr
    assert "orionlite set -n e --max-trials N" in refused.stderr
    assert _counts(cli, "e")[TrialStatus.BROKEN] == 1  # nothing changed
    assert cli.run("orionlite", "set", "-n", "e", "--max-trials", "4").returncode == 0
    assert cli.run("orionlite", "requeue", "-n", "e").returncode == 0
    assert _hunt(cli, "e").returncode == 0
    counts = _counts(cli, "e")
    assert counts[TrialStatus.COMPLETED] == 4 and counts[TrialStatus.BROKEN] == 0


def test_requeue_resets_the_broken_count_without_rerunning(cli) -> None:
    (cli.cwd / "fail").touch()
    assert _hunt(cli, "e", "--max-trials", "4", "--max-broken", "2").returncode == 1
    (cli.cwd / "fail").unlink()
    # Only interrupted trials (none): the broken ones stay broken, but stop counting.
    result = cli.run("orionlite", "requeue", "-n", "e", "--status", "interrupted")
    assert result.returncode == 0, result.stderr
    assert "the broken count is reset" in result.stdout
    assert _hunt(cli, "e").returncode == 0
    counts = _counts(cli, "e")
    assert counts[TrialStatus.COMPLETED] == 4 and counts[TrialStatus.BROKEN] == 2


def test_requeue_named_trials_and_interrupted_ones(cli) -> None:
    script = write_trial(cli.cwd)
    command = ["--", "python", script, "--x~uniform(0, 1)", "--sleep", "30"]
    hunt = subprocess.Popen(
        cli.command("hunt", "-n", "e", *command),
        cwd=cli.cwd, env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: started(cli.cwd), "the trial to start")
    os.killpg(hunt.pid, signal.SIGINT)
    hunt.communicate(timeout=60)
    assert _counts(cli, "e")[TrialStatus.INTERRUPTED] == 1
    wrong = cli.run("orionlite", "requeue", "-n", "e", "--trial", "1", "--trial", "99")
    assert wrong.returncode == 2
    assert "99 (not in this experiment)" in wrong.stderr
    result = cli.run("orionlite", "requeue", "-n", "e", "--trial", "1")
    assert result.returncode == 0, result.stderr
    assert "1 interrupted" in result.stdout
    assert _counts(cli, "e")[TrialStatus.NEW] == 1


def test_requeue_statuses_come_from_the_one_list_of_statuses(sqlite_cli) -> None:
    from orionlite.operating import REQUEUEABLE

    help_text = sqlite_cli.run("orionlite", "requeue", "--help").stdout
    for status in REQUEUEABLE:
        assert status.value in help_text
    assert TrialStatus.BROKEN in REQUEUEABLE and TrialStatus.INTERRUPTED in REQUEUEABLE
    assert TrialStatus.COMPLETED not in REQUEUEABLE


def test_insert_runs_first_with_defaults_and_refuses_duplicates(cli) -> None:
    assert _hunt(cli, "e", "--max-trials", "2").returncode == 0
    first = _trials(cli, "e")[0]
    assert cli.run("orionlite", "set", "-n", "e", "--max-trials", "4").returncode == 0
    inserted = cli.run("orionlite", "insert", "-n", "e", "x=0.125")
    assert inserted.returncode == 0, inserted.stderr
    assert "x=0.125, layers=2" in inserted.stdout  # layers took its default_value
    duplicate = cli.run("orionlite", "insert", "-n", "e", "x=0.125", "layers=2.0")
    assert duplicate.returncode == 1
    assert "already has these parameters" in duplicate.stderr
    again = cli.run(
        "orionlite",
        "insert",
        "-n",
        "e",
        f"x={first.params['x']!r}",
        f"layers={first.params['layers']}",
    )
    assert again.returncode == 1 and f"Trial {first.id} (completed)" in again.stderr
    for bad, why in (
        (["x=2"], "outside its prior"),
        (["y=1", "x=0.5"], "Unknown dimension y"),
        (["layers=3"], "No value for x"),
        (["x"], "is not NAME=VALUE"),
    ):
        result = cli.run("orionlite", "insert", "-n", "e", *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert why in result.stderr
    assert _hunt(cli, "e").returncode == 0
    trials = _trials(cli, "e")
    assert len(trials) == 4
    ran = sorted(trials, key=lambda t: t.started_at or 0.0)
    assert ran[2].params == {"x": 0.125, "layers": 2}  # the next trial after the first two
    full = cli.run("orionlite", "insert", "-n", "e", "x=0.75")
    assert full.returncode == 1 and "max-trials is reached" in full.stderr


def test_enqueue_in_the_python_api(db_url: str, tmp_path) -> None:
    import orionlite
    from orionlite.errors import DuplicateTrialError

    exp = orionlite.build_experiment(
        "api", space={"x": "uniform(0, 1)", "n": "choices(['a', 'b'])"}, storage=db_url
    )
    try:
        queued = exp.enqueue({"x": 0.5, "n": "b"})
        assert queued.status == "new"
        with pytest.raises(DuplicateTrialError):
            exp.enqueue({"x": 0.5, "n": "b"})
        trial = exp.suggest()
        assert trial.id == queued.id and trial.params == {"x": 0.5, "n": "b"}
        exp.observe(trial, 1.0)
    finally:
        exp.close()


def test_set_and_a_joining_hunt_say_what_changed(cli) -> None:
    assert _hunt(cli, "d", "--max-trials", "3").returncode == 0
    lower = cli.run("orionlite", "set", "-n", "d", "--max-trials", "2", "--max-broken", "5")
    assert lower.returncode == 0, lower.stderr
    assert "Max-trials of 'd' changed from 3 to 2 (other workers stop at 2)." in lower.stdout
    assert "3 trials of 'd' already completed" in lower.stdout
    assert "Max-broken of 'd' changed from 3 to 5" in lower.stdout
    joined = _hunt(cli, "d", "--max-trials", "4")
    assert joined.returncode == 0
    assert "max-trials of 'd' changed from 2 to 4 (other workers stop at 4)" in joined.stderr
    assert _counts(cli, "d")[TrialStatus.COMPLETED] == 4
    same = _hunt(cli, "d", "--max-trials", "4")
    assert "changed" not in same.stderr
    usage = cli.run("orionlite", "set", "-n", "d")
    assert usage.returncode == 2


def test_rm_asks_refuses_live_trials_and_keeps_folders(cli) -> None:
    assert _hunt(cli, "keep", "--max-trials", "1").returncode == 0
    assert _hunt(cli, "gone", "--max-trials", "2").returncode == 0
    folder = cli.cwd / "orionlite-runs" / "gone-v1"
    no = subprocess.run(
        cli.command("orionlite", "rm", "-n", "gone"), input="n\n", cwd=cli.cwd, env=cli.env(),
        text=True, capture_output=True,
    )  # fmt: skip
    assert no.returncode == 1 and "Nothing deleted" in no.stderr
    assert "gone' v1 (2 trials)" in no.stderr
    (cli.cwd / "sleep").write_text("60")
    busy = subprocess.Popen(
        cli.command("hunt", "-n", "gone", "--max-trials", "3"),
        cwd=cli.cwd, env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: 4 in started(cli.cwd), "the third trial of 'gone' to start")
        refused = cli.run("orionlite", "rm", "-n", "gone", "--yes")
        assert refused.returncode == 1
        assert "Workers are running trial 4" in refused.stderr and "--force" in refused.stderr
        forced = cli.run("orionlite", "rm", "-n", "gone", "--yes", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "Deleted experiment 'gone' (v1) and its 3 trials." in forced.stdout
    finally:
        os.killpg(busy.pid, signal.SIGKILL)
        busy.communicate()
    assert folder.is_dir()  # trial folders stay
    listing = cli.run("orionlite", "list").stdout
    assert "keep" in listing and "gone" not in listing
    assert cli.run("orionlite", "rm", "-n", "gone", "--yes").returncode == 1  # no longer exists


def test_rm_one_version_and_its_folders(cli) -> None:
    assert _hunt(cli, "v", "--max-trials", "1").returncode == 0
    branched = _hunt(
        cli,
        "v",
        "--branch",
        "v",
        "--max-trials",
        "2",
        extra=("--y~uniform(0, 1, default_value=0.5)",),
    )
    assert branched.returncode == 0, branched.stderr
    result = cli.run("orionlite", "rm", "-n", "v", "--version", "1", "--yes", "--delete-folders")
    assert result.returncode == 0, result.stderr
    assert not (cli.cwd / "orionlite-runs" / "v-v1").exists()
    assert (cli.cwd / "orionlite-runs" / "v-v2").is_dir()
    storage = Storage(cli.storage)
    try:
        child = storage.get_experiment("v")
        assert child is not None and child.version == 2 and child.parent_id is None
        assert len(storage.trials(child.id)) == 2  # its trials, inherited one included
    finally:
        storage.close()
