"""The trial side of the protocol: cheap to import, a line per report, the stop file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orionlite import reporting

HEAVY = ("sqlalchemy", "numpy", "skopt", "alembic", "psycopg", "orionlite.storage")


def test_importing_report_progress_loads_nothing_heavy() -> None:
    code = (
        "import sys\nfrom orionlite.reporting import report_progress, should_stop\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_report_progress_appends_lines_and_sees_the_stop_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    progress, stop = tmp_path / "progress.jsonl", tmp_path / "stop"
    monkeypatch.setenv(reporting.PROGRESS_PATH_ENV, str(progress))
    monkeypatch.setenv(reporting.STOP_PATH_ENV, str(stop))
    assert reporting.report_progress(1, 0.5) is False
    stop.touch()
    assert reporting.report_progress(2, float("nan")) is True
    assert reporting.should_stop()
    lines = progress.read_text().splitlines()
    assert json.loads(lines[0]) == {"step": 1, "value": 0.5}
    assert lines[1] == '{"step": 2, "value": NaN}'  # read back as non-finite by the worker
    with pytest.raises(ValueError, match=r"step must be a non-negative integer, not 1\.5"):
        reporting.report_progress(1.5, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value must be a number, not 'x'"):
        reporting.report_progress(3, "x")  # type: ignore[arg-type]


def test_outside_orionlite_it_warns_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reporting, "_warned", [])
    with pytest.warns(UserWarning, match="ORIONLITE_PROGRESS_PATH is not set"):
        assert reporting.report_progress(1, 0.5) is False
    assert not reporting.should_stop()
    assert list(tmp_path.iterdir()) == []
