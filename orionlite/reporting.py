"""The progress protocol, trial side: intermediate values and the stop file.

The worker sets ``$ORIONLITE_PROGRESS_PATH``; the trial appends one JSON object per line,
``{"step": 3, "value": 0.41}`` (step a non-negative integer that increases; value the
objective so far, lower is better). When the experiment's stop rule stops the trial, the
worker creates the file ``$ORIONLITE_STOP_PATH``, then after a grace period sends SIGTERM
to the trial's process group. A file keeps the protocol open to any language, and the
trial needs no database credentials.

Every user script imports this module, so it imports nothing heavy.
"""

from __future__ import annotations

import contextvars
import json
import numbers
import os
import warnings
from typing import Protocol

PROGRESS_PATH_ENV = "ORIONLITE_PROGRESS_PATH"
STOP_PATH_ENV = "ORIONLITE_STOP_PATH"


class InProcessReporter(Protocol):
    """What a worker running a Python function offers (``ProgressMonitor``)."""

    stop_reason: str | None

    def report(self, step: int, value: float) -> bool: ...


# Set while a workon function runs: reports go to its worker directly, not to a file.
in_process: contextvars.ContextVar[InProcessReporter | None] = contextvars.ContextVar(
    "orionlite_in_process_reporter", default=None
)


def check_point(step: object, value: object) -> tuple[int, float]:
    """``step`` and ``value`` as the protocol has them; ValueError saying what is wrong."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or int(step) < 0:
        raise ValueError(f"step must be a non-negative integer, not {step!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"value must be a number, not {value!r}")
    return int(step), float(value)


def report_progress(step: int, value: float) -> bool:
    """Report the objective's value at ``step`` (an epoch, an iteration); returns whether
    the worker asked the trial to stop (see :func:`should_stop`).

    Steps must increase from one call to the next. Without ``$ORIONLITE_PROGRESS_PATH``
    (a script run by hand) it warns once and records nothing.
    """
    step, value = check_point(step, value)
    reporter = in_process.get()
    if reporter is not None:
        return reporter.report(step, value)
    target = os.environ.get(PROGRESS_PATH_ENV)
    if not target:
        if not _warned:
            _warned.append(True)
            warnings.warn(
                f"Progress is not recorded: ${PROGRESS_PATH_ENV} is not set, "
                "so this script is not run by orionlite.",
                stacklevel=2,
            )
        return False
    # NaN and infinity are written as JSON's extensions (NaN, Infinity): the worker reads
    # them as non-finite (a warning, and a stop under the threshold rule).
    line = json.dumps({"step": step, "value": value})
    # One write of a whole line in append mode: the worker never reads half a line that
    # it would take for a malformed one (it waits for the newline anyway).
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return should_stop()


def should_stop() -> bool:
    """Whether the worker asked this trial to stop: ``$ORIONLITE_STOP_PATH`` exists. A
    trial that checkpoints may save and exit 0; it is recorded ``pruned`` either way."""
    reporter = in_process.get()
    if reporter is not None:
        return reporter.stop_reason is not None
    target = os.environ.get(STOP_PATH_ENV)
    return target is not None and os.path.exists(target)


_warned: list[bool] = []
