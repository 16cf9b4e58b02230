"""What a new user hits on the first day: wrong database paths, files that are not
databases, names that would escape the runs folder. Real processes, both backends where
the database matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from orionlite.space import Space
from orionlite.storage import Storage

TRIAL = ["python", "-c", "print('hi')", "--x~uniform(0, 1)"]
READ_ONLY = [
    ["status"],
    ["list"],
    ["info", "-n", "exp"],
    ["export", "-n", "exp"],
    ["plot", "-n", "exp", "-o", "p.png"],
]


def test_a_file_that_is_not_a_database_is_named_in_one_paragraph(sqlite_cli) -> None:
    junk = sqlite_cli.cwd / "junk.db"
    junk.write_text("x\n")
    result = sqlite_cli.run("orionlite", "status", "--storage", "sqlite:///junk.db")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"The file {junk} is not a SQLite database" in result.stderr
    assert junk.read_text() == "x\n"  # left untouched


def test_a_missing_folder_is_named_with_the_four_slashes_hint(sqlite_cli) -> None:
    result = sqlite_cli.run("hunt", "-n", "exp", "--storage", "sqlite:///nodir/o.db", "--", *TRIAL)
    assert result.returncode == 1
    assert f"the folder {sqlite_cli.cwd / 'nodir'} does not exist" in result.stderr
    assert "four slashes" in result.stderr
    assert "server" not in result.stderr


def test_a_folder_sqlite_cannot_write_is_named_not_a_server(sqlite_cli) -> None:
    # /proc refuses new files even to root, which os.access cannot tell beforehand.
    result = sqlite_cli.run("hunt", "-n", "exp", "--storage", "sqlite:////proc/o.db", "--", *TRIAL)
    assert result.returncode == 1
    assert "/proc/o.db" in result.stderr and "folder /proc" in result.stderr
    assert "server is running" not in result.stderr
    assert "four slashes" in result.stderr


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_read_only_commands_create_no_database(sqlite_cli, args: list[str]) -> None:
    result = sqlite_cli.run("orionlite", *args)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(sqlite_cli.cwd.iterdir()) == []


def test_status_on_a_missing_database_says_so(sqlite_cli) -> None:
    result = sqlite_cli.run("orionlite", "status", "--storage", "sqlite:///typo.db")
    assert result.returncode == 1
    assert f"The SQLite database {sqlite_cli.cwd / 'typo.db'} does not exist" in result.stderr
    assert not (sqlite_cli.cwd / "typo.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["hunt", "-n", "exp", "--algorithm", "nope", "--", *TRIAL],
        ["hunt", "-n", "exp"],
        ["hunt", "-n", "a/b", "--", *TRIAL],
    ],
    ids=["unknown-algorithm", "no-command", "bad-name"],
)
def test_hunt_that_fails_before_storing_creates_no_file(sqlite_cli, args: list[str]) -> None:
    result = sqlite_cli.run(*args)
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert list(sqlite_cli.cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../escape", "path separator"),
        ("a\\b", "path separator"),
        ("..", "'..'"),
        ("tab\there", "control character"),
        ("x" * 201, "201 characters long"),
    ],
)
def test_names_that_would_escape_the_runs_folder_are_refused(cli, name: str, why: str) -> None:
    result = cli.run("hunt", "-n", name, "--", *TRIAL)
    assert result.returncode == 2, result.stderr
    assert why in result.stderr and "cannot be used" in result.stderr
    assert not (cli.cwd / "orionlite-runs").exists()
    assert not (cli.cwd.parent.parent / "escape-v1").exists()
    branch = cli.run("hunt", "-n", "ok", "--branch", name, "--", *TRIAL)
    assert branch.returncode != 0


def test_an_existing_experiment_with_such_a_name_still_opens(cli) -> None:
    storage = Storage(cli.storage)
    created = storage.create_experiment(
        {
            "name": "old/name",
            "version": 1,
            "space": Space.from_priors({"x": "uniform(0, 1)"}).to_json(),
            "algorithm": {"random": {"seed": None}},
            "command": None,
            "max_trials": 3,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    storage.close()
    assert created is not None
    result = cli.run("orionlite", "info", "-n", "old/name")
    assert result.returncode == 0, result.stderr
    assert "old/name" in result.stdout


def test_bad_name_created_nothing_outside(tmp_path: Path) -> None:
    # The escape target of the test above, checked independently of any run.
    assert not (tmp_path.parent / "escape").exists()
