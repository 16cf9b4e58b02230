"""``--help`` loads only click and the CLI modules (STYLE §6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "numpy", "skopt", "alembic", "psycopg")

PROBE = """
import sys
from orionlite.cli import {entry}
try:
    {entry}({args!r})
except SystemExit as exit:
    assert exit.code == 0, exit.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


@pytest.mark.parametrize(
    ("entry", "args"),
    [
        ("main", ["--help"]),
        ("hunt_main", ["--help"]),
        ("main", ["hunt", "--help"]),
        ("main", ["status", "--help"]),
        ("main", ["list", "--help"]),
        ("main", ["info", "--help"]),
        ("main", ["export", "--help"]),
        ("main", ["db", "--help"]),
        ("main", ["db", "upgrade", "--help"]),
    ],
)
def test_help_imports_nothing_heavy(entry: str, args: list[str]) -> None:
    code = PROBE.format(entry=entry, args=args, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert result.stdout.strip().endswith("HEAVY:"), result.stdout.splitlines()[-1]


def test_trial_scripts_import_orionlite_cheaply() -> None:
    code = f"import sys, orionlite; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stdout
