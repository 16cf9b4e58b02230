"""``hunt --n-workers 2`` (SPEC §1, §4): one command line, two worker processes, and
Ctrl-C or SIGTERM stops both cleanly — trials ``interrupted``, exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from api_helpers import TIMEOUT_S, python_env
from waiting import wait_for

from orionlite import get_experiment
from orionlite.records import TrialStatus

# The trial takes a moment to wrap up after its signal (a checkpoint): a stop escalated
# by mistake to a forced one would SIGKILL it before it writes "wrapped-up".
TRIAL = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path

    def wrap_up(signum, frame):
        time.sleep(1.0)
        Path("wrapped-up").write_text(signal.Signals(signum).name)
        sys.exit(130)

    signal.signal(signal.SIGINT, wrap_up)
    signal.signal(signal.SIGTERM, wrap_up)
    Path("started").touch()
    time.sleep(60)
    """
)


@pytest.mark.parametrize(
    "how", ["ctrl-c-to-the-group", "sigterm-to-hunt-only"], ids=lambda how: how
)
def test_n_workers_stop_together_on_a_signal(
    api_db: str, name: str, runs: str, tmp_path: Path, bin_path: Path, how: str
) -> None:
    (tmp_path / "trial.py").write_text(TRIAL)
    with open(tmp_path / "hunt.log", "wb") as log:
        hunt = subprocess.Popen(
            [
                str(bin_path / "hunt"),
                "-n",
                name,
                "--storage",
                api_db,
                "--working-dir",
                runs,
                "--n-workers",
                "2",
                "--max-trials",
                "6",
                "--",
                str(bin_path / "python"),
                str(tmp_path / "trial.py"),
                "--x~uniform(0, 1)",
            ],
            cwd=tmp_path,
            env=python_env(api_db),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, like a terminal's foreground job
        )
    output = lambda: (tmp_path / "hunt.log").read_text(errors="replace")  # noqa: E731
    try:
        wait_for(
            lambda: len(list(Path(runs).glob("*/started"))) == 2 or hunt.poll() is not None,
            "both workers to run a trial",
        )
        assert hunt.poll() is None, output()
        if how == "ctrl-c-to-the-group":
            os.killpg(hunt.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        else:
            hunt.send_signal(signal.SIGTERM)  # kill <pid>, a batch scheduler
        code = hunt.wait(timeout=TIMEOUT_S)
    finally:
        if hunt.poll() is None:
            os.killpg(hunt.pid, signal.SIGKILL)
            hunt.wait()
    assert code == 130, output()
    assert "Traceback" not in output()

    exp = get_experiment(name, storage=api_db)
    trials = exp.trials()
    assert Counter(t.status for t in trials) == {TrialStatus.INTERRUPTED: 2}, output()
    sent = "SIGINT" if how == "ctrl-c-to-the-group" else "SIGTERM"
    for trial in trials:
        # Each trial got the signal hunt got, once, forwarded by its worker, and had the
        # time to wrap up: one Ctrl-C never counts as two.
        assert (trial.working_dir / "wrapped-up").read_text() == sent
    assert len({t.record.reserved_by for t in trials if t.record}) == 2
