"""The trial that fault tests and ``tools/chaos.py`` run: tiny, observable, steerable.

Plain Python without orionlite imports, so it starts in milliseconds. Behaviour comes from
environment variables, which ``hunt`` passes through to its trials:

* ``FAULT_SLEEP``: seconds the trial "trains" (default 0.01);
* ``FAULT_FAIL=1``: write ``boom in trial N`` to stderr and exit 3 (a broken trial);
* ``FAULT_MARKS``: a folder where the trial leaves ``<trial>-<attempt>.started`` (holding
  its pid) and ``<trial>-<attempt>.signal`` (the signal it received), so a test can wait
  for a trial to be running and check what reached it;
* ``FAULT_SIGNAL_DELAY``: seconds the trial takes to wrap up after SIGINT/SIGTERM (a
  checkpoint being saved) before it exits with 128 + signal;
* ``FAULT_LOG``: a file where each trial that ran to its end appends one JSON line
  ``{"trial", "attempt", "params"}``, before reporting its result.

The attempt (the reservation's fencing token) is read from the results file name and
reported as a statistic, so a test can tell which run's result the database kept.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from types import FrameType

PARAMS = json.loads(os.environ["ORIONLITE_TRIAL_PARAMS"])
TRIAL_ID = os.environ["ORIONLITE_TRIAL_ID"]
RESULTS_PATH = Path(os.environ["ORIONLITE_RESULTS_PATH"])
_match = re.search(r"attempt(\d+)", RESULTS_PATH.name)
ATTEMPT = int(_match.group(1)) if _match else 0


def mark(kind: str, text: str) -> None:
    folder = os.environ.get("FAULT_MARKS")
    if folder:
        path = Path(folder) / f"{TRIAL_ID}-{ATTEMPT}.{kind}"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)  # atomic: a reader never sees an empty file


def on_signal(signum: int, _frame: FrameType | None) -> None:
    mark("signal", signal.Signals(signum).name)
    time.sleep(float(os.environ.get("FAULT_SIGNAL_DELAY", "0")))
    sys.exit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    mark("started", str(os.getpid()))
    if os.environ.get("FAULT_FAIL") == "1":
        print(f"boom in trial {TRIAL_ID}", file=sys.stderr)
        return 3
    time.sleep(float(os.environ.get("FAULT_SLEEP", "0.01")))
    log = os.environ.get("FAULT_LOG")
    if log:
        line = json.dumps({"trial": int(TRIAL_ID), "attempt": ATTEMPT, "params": PARAMS})
        with open(log, "a") as handle:
            handle.write(line + "\n")
    x = float(PARAMS["x"])
    results = [
        {"name": "loss", "type": "objective", "value": x * x},
        {"name": "attempt", "type": "statistic", "value": ATTEMPT},
    ]
    RESULTS_PATH.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
