"""Bad input: one clear paragraph, the right exit code, nothing stored or lost."""

from __future__ import annotations

import pytest

from orionlite.storage import Storage


def test_bad_prior_is_quoted_before_anything_runs(sqlite_cli) -> None:
    result = sqlite_cli.run(
        "hunt", "-n", "exp", "--", "python", "train.py", "--lr~loguniform(0, 1)"
    )
    assert result.returncode == 2
    assert "loguniform(0, 1)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sqlite_cli.cwd / "orionlite-runs").exists()


def test_unknown_prior_name_lists_the_known_ones(sqlite_cli) -> None:
    result = sqlite_cli.run(
        "hunt", "-n", "exp", "--", "python", "train.py", "--lr~logunifrom(1e-5, 1)"
    )
    assert result.returncode == 2
    assert "logunifrom" in result.stderr and "loguniform" in result.stderr


def test_missing_command(sqlite_cli) -> None:
    result = sqlite_cli.run("hunt", "-n", "exp")
    assert result.returncode == 1
    assert "No experiment 'exp'" in result.stderr
    assert "hunt -n exp -- python train.py" in result.stderr


def test_command_not_found_fails_before_any_trial(sqlite_cli) -> None:
    result = sqlite_cli.run("hunt", "-n", "exp", "--", "pythn3", "train.py", "--lr~uniform(0, 1)")
    assert result.returncode == 2
    assert "'pythn3' was not found on PATH" in result.stderr
    storage = Storage(sqlite_cli.storage)
    assert storage.get_experiment("exp") is None
    storage.close()


def test_missing_name_is_a_usage_error(sqlite_cli) -> None:
    result = sqlite_cli.run("hunt", "--", "python", "train.py", "--lr~uniform(0, 1)")
    assert result.returncode == 2
    assert "Missing option '-n'" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://orion:s3cret@127.0.0.1:1/nowhere",
        "postgresql://orion:s3cret@127.0.0.1:5432/database_that_does_not_exist",
    ],
)
def test_unreachable_database_is_one_paragraph_with_masked_password(sqlite_cli, url: str) -> None:
    result = sqlite_cli.run("orionlite", "status", "--storage", url, timeout=60)
    assert result.returncode == 1
    assert "Cannot reach the database postgresql://orion:***@127.0.0.1" in result.stderr
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2


def test_verbose_shows_the_traceback(sqlite_cli) -> None:
    result = sqlite_cli.run(
        "hunt",
        "-v",
        "-n",
        "exp",
        "--storage",
        "postgresql://u:pw@127.0.0.1:1/x",
        "--",
        "python",
        "t.py",
        "--x~uniform(0, 1)",
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "pw@" not in result.stderr


def test_joining_with_another_space_shows_the_difference_and_keeps_data(sqlite_cli) -> None:
    script = sqlite_cli.cwd / "t.py"
    script.write_text("from orionlite import report_objective\nreport_objective(0.5)\n")
    first = sqlite_cli.run(
        "hunt",
        "-n",
        "exp",
        "--max-trials",
        "2",
        "--",
        sqlite_cli.python,
        "t.py",
        "--x~uniform(0, 1)",
    )
    assert first.returncode == 0, first.stderr
    second = sqlite_cli.run(
        "hunt",
        "-n",
        "exp",
        "--max-trials",
        "2",
        "--",
        sqlite_cli.python,
        "t.py",
        "--x~uniform(0, 2)",
    )
    assert second.returncode == 1
    assert "exists with a different configuration" in second.stderr
    assert "--branch" in second.stderr and "--version" in second.stderr
    storage = Storage(sqlite_cli.storage)
    record = storage.get_experiment("exp")
    assert record is not None and len(storage.trials(record.id)) == 2
    storage.close()


def test_a_bad_pgbouncer_option_is_one_paragraph(sqlite_cli) -> None:
    url = "postgresql://orion:s3cret@127.0.0.1:1/db?pgbouncer=maybe"
    result = sqlite_cli.run("orionlite", "status", "--storage", url, timeout=60)
    assert result.returncode != 0
    assert "pgbouncer='maybe' is neither true nor false" in result.stderr
    assert "?pgbouncer=true" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr
