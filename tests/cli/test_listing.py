"""``status``, ``list``, ``info`` and ``export`` on a finished experiment, both backends."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def finished(cli):
    (cli.cwd / "t.py").write_text(
        "import sys\nfrom orionlite import report_objective\n"
        "report_objective(float(sys.argv[1].split('=')[1]))\n"
    )
    result = cli.run(
        "hunt",
        "-n",
        "exp",
        "--max-trials",
        "3",
        "--seed",
        "7",
        "--",
        cli.python,
        "t.py",
        "--x~uniform(0, 1)",
    )
    assert result.returncode == 0, result.stderr
    return cli


def test_status_json_counts_and_best(finished) -> None:
    result = finished.run("orionlite", "status", "--json")
    assert result.returncode == 0, result.stderr
    (summary,) = json.loads(result.stdout)
    assert summary["name"] == "exp" and summary["version"] == 1
    assert summary["counts"]["completed"] == 3 and summary["total"] == 3
    exported = json.loads(finished.run("orionlite", "export", "-n", "exp").stdout)
    best = min(exported, key=lambda t: t["objective"])
    assert summary["best_objective"] == best["objective"]
    assert summary["best_trial_id"] == best["id"]


def test_status_table_is_aligned(finished) -> None:
    result = finished.run("orionlite", "status")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    header, row = lines[0], lines[-1]
    assert header.split()[:3] == ["experiment", "version", "new"]
    assert row.split()[:5] == ["exp", "1", "0", "0", "3"]
    assert row[header.index("completed")] == "3", "values start under their header"


def test_list_and_info(finished) -> None:
    listed = finished.run("orionlite", "list")
    assert listed.returncode == 0 and "exp" in listed.stdout
    info = json.loads(finished.run("orionlite", "info", "-n", "exp", "--json").stdout)
    assert info["space"] == {"x": "uniform(0, 1)"}
    assert info["algorithm"] == {"random": {"seed": 7}}
    assert info["max_trials"] == 3
    assert info["command"][-1] == "--x~uniform(0, 1)"
    table = finished.run("orionlite", "info", "-n", "exp")
    assert "uniform(0, 1)" in table.stdout and "best objective" in table.stdout


def test_export_json_one_record_per_trial(finished) -> None:
    out = finished.cwd / "trials.json"
    result = finished.run("orionlite", "export", "-n", "exp", "--format", "json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    records = json.loads(out.read_text())
    assert len(records) == 3
    for record in records:
        assert record["status"] == "completed"
        assert record["objective"] == pytest.approx(record["params"]["x"])
        assert record["worker"] and record["started_at"] <= record["ended_at"]


def test_unknown_experiment(finished) -> None:
    result = finished.run("orionlite", "info", "-n", "nope")
    assert result.returncode == 1
    assert "No experiment 'nope'" in result.stderr and "orionlite list" in result.stderr


def test_resuming_without_a_command_uses_the_stored_one(finished) -> None:
    result = finished.run("hunt", "-n", "exp", "--max-trials", "5")
    assert result.returncode == 0, result.stderr
    assert "5 of 5 trials completed" in result.stderr
