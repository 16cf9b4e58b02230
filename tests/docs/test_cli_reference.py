"""docs/cli.md is generated from the commands' --help and must stay in step with them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_cli_reference_matches_the_help() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_cli_docs.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == generated, "docs/cli.md is stale: run `make docs` and commit it"


def test_every_command_is_documented() -> None:
    from orionlite.cli import COMMANDS

    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        heading = "## hunt" if name == "hunt" else f"## orionlite {name}"
        assert f"\n{heading}\n" in page
    assert "_ORIONLITE_COMPLETE=bash_source orionlite" in page
