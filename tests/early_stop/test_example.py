"""The early-stopping example runs with the ``hunt`` line written at its top."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from orionlite.records import TrialStatus
from orionlite.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_example_runs_with_its_documented_line(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "docs"))
    from test_examples import documented_hunt_line

    argv = documented_hunt_line(ROOT / "examples" / "early_stopping.py")
    assert argv[argv.index("--early-stop") + 1] == "median"
    argv[argv.index("--max-trials") + 1] = "8"
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORIONLITE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [str(BIN / "hunt"), "-q", *argv[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stderr}"
    storage = Storage(f"sqlite:///{tmp_path / 'orionlite.db'}")
    record = storage.get_experiment("digits-early")
    assert record is not None
    trials = storage.trials(record.id)
    progress = storage.progress(record.id)
    storage.close()
    assert len(trials) == 8
    assert {t.status for t in trials} <= {TrialStatus.COMPLETED, TrialStatus.PRUNED}
    for t in trials:
        assert 0 <= (t.objective or 0) <= 1
        assert [s for s, _ in progress[t.id]][:1] == [1]
        if t.status is TrialStatus.COMPLETED:
            assert len(progress[t.id]) == 20
