"""`make lint` runs lint-imports over the contracts in pyproject.toml: the layers of
docs/design.md and no import cycles. These tests show that the check can fail: a copy of
the package with one upward import, or one cycle, breaks a contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_copy(tmp_path: Path, edit: tuple[str, str] | None) -> subprocess.CompletedProcess[str]:
    shutil.copytree(ROOT / "orionlite", tmp_path / "orionlite")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if edit is not None:
        module, line = edit
        path = tmp_path / "orionlite" / module
        path.write_text(path.read_text() + "\n\n" + line + "\n")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # storage reaching up to the worker loop, inside a function as such imports hide
        (
            "storage/tables.py",
            "def _up() -> None:\n    from orionlite.worker import Worker  # noqa",
            "orionlite.storage is not allowed to import orionlite.worker",
        ),
        # the data types reaching up to the command line
        ("records.py", "import orionlite.cli  # noqa", "orionlite.records is not allowed"),
        # a cycle inside storage, where no layer is drawn: tables is imported by queries
        (
            "storage/tables.py",
            "import orionlite.storage.queries  # noqa",
            "No cycles are allowed in orionlite.storage",
        ),
    ],
)
def test_an_upward_import_or_a_cycle_breaks_lint(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    result = _lint_copy(tmp_path, (module, line))
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert broken in result.stdout, result.stdout
