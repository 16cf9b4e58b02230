"""How a ``workon`` call ends: its workers' reports summed into a WorkonResult, their
first error raised, and the signal that stopped them delivered again."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orionlite.errors import (
    TooManyBrokenTrialsError,
    TrialFailedError,
)

if TYPE_CHECKING:
    from orionlite.fanout import FanOut


@dataclass(frozen=True)
class WorkonResult:
    """How ``workon`` ended. ``reason``: done, exhausted, worker_limit, idle, interrupted."""

    reason: str
    workers: int
    trials_run: int
    completed: int
    broken: int
    lost: int
    #: Trials stopped by the experiment's stop rule (``early_stop``).
    pruned: int = 0


def conclude(
    fan: FanOut, n_workers: int, too_many_broken: Callable[[], BaseException]
) -> WorkonResult:
    """The result of a workon call from its workers' reports; their first error raised,
    and a signal that stopped them delivered again."""
    from orionlite.fanout import overall_reason
    from orionlite.worker import WorkerExit

    reports = [result.report for result in fan.results if result.report is not None]
    errors = [result.error for result in fan.results if result.error is not None]
    signum = fan.signum or next((r.signum for r in fan.results if r.signum), None)
    if errors:
        failed = next((e for e in errors if isinstance(e, TrialFailedError)), None)
        if failed is not None:
            raise failed from failed.original
        if any(isinstance(e, TooManyBrokenTrialsError) for e in errors):
            raise too_many_broken() from None
        if signum is None or not isinstance(errors[0], KeyboardInterrupt):
            raise errors[0]
    if signum is not None:
        redeliver(signum)
    reasons = {report.reason for report in reports}
    reason = overall_reason(reasons) if reasons else WorkerExit.INTERRUPTED
    return WorkonResult(
        reason=reason.value,
        workers=n_workers,
        trials_run=sum(r.trials_run for r in reports),
        completed=sum(r.completed for r in reports),
        broken=sum(r.broken for r in reports),
        lost=sum(r.lost for r in reports),
        pruned=sum(r.pruned for r in reports),
    )


def redeliver(signum: int) -> None:
    """Every worker stopped cleanly after ``signum``: now let the signal do what it would
    have done without workon (its handlers are the caller's again)."""
    handler = signal.getsignal(signum)
    if signum == signal.SIGINT and handler is signal.default_int_handler:
        raise KeyboardInterrupt
    if handler in (signal.SIG_DFL, None):
        # The default action, but as an exit that runs finally blocks and atexit
        # handlers (joblib shuts its worker processes down there).
        raise SystemExit(128 + signum)
    if handler is signal.SIG_IGN or threading.current_thread() is not threading.main_thread():
        return
    signal.raise_signal(signum)  # the caller's own handler decides
