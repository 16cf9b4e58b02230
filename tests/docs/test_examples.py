"""The examples run with the ``hunt`` line written at their top (budgets made small)."""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def documented_hunt_line(path: Path) -> list[str]:
    """The first ``hunt -n ...`` command in the file's header, continuation lines joined."""
    lines = [re.sub(r"^\s*#\s?", "", line).strip() for line in path.read_text().splitlines()]
    for index, line in enumerate(lines):
        if line.startswith("hunt -n"):
            command = line
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + " " + lines[index]
            return shlex.split(command)
    raise AssertionError(f"{path.name} documents no hunt line")


def _small(argv: list[str], max_trials: int) -> list[str]:
    argv = list(argv)
    argv[argv.index("--max-trials") + 1] = str(max_trials)
    return [str(BIN / "hunt"), "-q", *argv[1:]]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORIONLITE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _export(folder: Path, name: str) -> list[dict[str, str]]:
    result = subprocess.run(
        [str(BIN / "orionlite"), "export", "-n", name, "--format", "csv"],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_examples_run_with_their_documented_line(tmp_path: Path) -> None:
    """All four at once (each is a separate experiment in one database), to save time."""
    runs = {
        "sklearn_digits.py": 2,
        "asha_epochs.py": 4,
        "bash_trainer.sh": 3,
        "config/train_from_config.py": 2,
    }
    (tmp_path / "examples").symlink_to(EXAMPLES)
    processes = {}
    for name, trials in runs.items():
        argv = _small(documented_hunt_line(EXAMPLES / name), trials)
        processes[name] = (
            argv,
            subprocess.Popen(
                argv, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
        )
    for name, (argv, process) in processes.items():
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {shlex.join(argv)}\n{err.decode()}"

    digits = _export(tmp_path, "digits")
    assert len(digits) == 2 and all(row["status"] == "completed" for row in digits)
    for row in digits:
        assert 0 <= float(row["objective"]) <= 1  # error rate
        assert float(row["results.accuracy"]) == pytest.approx(1 - float(row["objective"]))

    # ASHA starts every configuration at the lowest rung of fidelity(1, 27, base=3).
    asha = _export(tmp_path, "digits-asha")
    assert len(asha) == 4
    assert {float(row["params.epochs"]) for row in asha} <= {1, 3, 9, 27}
    assert any(float(row["params.epochs"]) == 1 for row in asha)
    info = subprocess.run(
        [str(BIN / "orionlite"), "info", "-n", "digits-asha", "--json"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"asha"' in info.stdout, "the multi-fidelity example runs the asha algorithm"

    bash = _export(tmp_path, "bash-demo")
    assert len(bash) == 3
    for row in bash:
        x, depth = float(row["params.x"]), int(row["params.depth"])
        assert float(row["objective"]) == pytest.approx((x - 1) ** 2 + 0.1 * depth, abs=1e-6)

    config = _export(tmp_path, "from-config")
    assert {"params./model/hidden/0", "params./optimizer/lr"} <= set(config[0])


def test_slurm_script_is_valid_bash_with_valid_hunt_options() -> None:
    script = EXAMPLES / "slurm" / "hunt.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --array=" in text and "#SBATCH --signal=B:TERM@" in text
    line = re.search(r"exec (hunt .*?)$", text.replace("\\\n", " "), re.MULTILINE)
    assert line is not None
    from orionlite.cli.hunt import hunt_command

    argv = shlex.split(line.group(1))[1:]
    context = hunt_command.make_context("hunt", argv)  # raises on an unknown option
    assert context.params["max_trials"] == 200 and context.params["idle_timeout"] == 600
    assert context.params["command"][:2] == ("python", "train.py")
