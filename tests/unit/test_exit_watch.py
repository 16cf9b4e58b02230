"""Noticing that a trial's process exited: at once, not at the next poll."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from orionlite import command_runner as executor

WAIT_S = 60.0  # far longer than the trial: returning early means the exit woke the wait


def _trial(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_the_wait_ends_when_the_process_exits(pidfd: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if pidfd and not hasattr(executor.os, "pidfd_open"):
        pytest.skip("os.pidfd_open needs Linux")  # CI runs on Linux: never skipped there
    if not pidfd:
        monkeypatch.delattr(executor.os, "pidfd_open", raising=False)
    process = _trial(0.2)
    watch = executor._ExitWatch(process)
    started = time.monotonic()
    watch.wait(WAIT_S)
    watch.close()
    assert time.monotonic() - started < WAIT_S / 2, "the wait did not end with the process"
    assert process.wait(timeout=5) == 0


def test_the_wait_ends_at_its_timeout_while_the_process_runs() -> None:
    process = _trial(30)
    watch = executor._ExitWatch(process)
    try:
        watch.wait(0.05)
        assert process.poll() is None
    finally:
        watch.close()
        process.kill()
        process.wait()
