"""Shell completion (click's): the documented one-liners produce working scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _run(program: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORIONLITE_", "_"))}
    return subprocess.run(
        [str(BIN / program)], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(("program", "shell"), [("orionlite", "bash"), ("hunt", "zsh")])
def test_completion_script_is_produced(program: str, shell: str) -> None:
    result = _run(program, **{f"_{program.upper()}_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert f"_{program}_completion" in result.stdout
    if shell == "bash":
        assert f"complete -o nosort -F _{program}_completion {program}" in result.stdout


def test_commands_and_options_complete() -> None:
    commands = _run(
        "orionlite", _ORIONLITE_COMPLETE="bash_complete", COMP_WORDS="orionlite ex", COMP_CWORD="1"
    )
    assert commands.stdout.split() == ["plain,export"]
    plots = _run(
        "orionlite",
        _ORIONLITE_COMPLETE="bash_complete",
        COMP_WORDS="orionlite plot --kind ",
        COMP_CWORD="3",
    )
    assert plots.stdout.split() == [
        "plain,regret",
        "plain,parallel",
        "plain,importance",
        "plain,curves",
        "plain,pareto",
    ]
    options = _run("hunt", _HUNT_COMPLETE="bash_complete", COMP_WORDS="hunt --bra", COMP_CWORD="1")
    assert options.stdout.split() == ["plain,--branch"]
