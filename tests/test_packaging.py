"""The wheel carries the migrations and runs them without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from orionlite.storage.schema import HEAD_REVISION

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel_path,) = out.glob("orionlite-*.whl")
    return wheel_path


def test_wheel_contains_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "orionlite/_migrations/env.py" in names
    assert f"orionlite/_migrations/versions/{HEAD_REVISION}.py" in names
    assert not any("__pycache__" in name for name in names)


def test_installed_wheel_upgrades_a_database_away_from_the_source_tree(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    code = (
        "import orionlite, sys; "
        "assert orionlite.__file__.startswith(sys.argv[1]), orionlite.__file__; "
        "from orionlite.cli import main; main(['db', 'upgrade', '--storage', sys.argv[2]])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(target), f"sqlite:///{workdir / 'w.db'}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"to {HEAD_REVISION}." in result.stdout


def test_wheel_contains_the_dashboard_templates_and_scripts(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("templates/experiment.html", "templates/trial.html", "static/dashboard.js"):
        assert f"orionlite/dashboard/{name}" in names
