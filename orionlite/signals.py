"""Ctrl-C and SIGTERM: stop the running trial cleanly, and give it back to the pool.

The first signal asks the trial's process group to stop (forwarding the same signal:
SIGINT for Ctrl-C, SIGTERM from ``kill`` or a scheduler such as SLURM) and lets it finish
within a grace period; the trial is then recorded ``interrupted`` and the worker leaves
(exit 130). A second signal kills the trial's process at once. If no trial process is
running when the second signal arrives, the worker is busy with the database (for
instance waiting out an outage), and the signal raises ``KeyboardInterrupt`` so the user
is never stuck; so does a third signal in any case. A trial left reserved that way is
reclaimed by other workers once its lease (three heartbeats) runs out.

Handlers are restored on exit, so library users keep their own.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """Shared by the worker loop and the trial runner; set from signal handlers."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.forced = threading.Event()
        # The first signal received: the one forwarded to the trial's process group.
        self.signum: int | None = None
        # Set by the worker while a trial's process runs: then the runner reacts to
        # ``forced`` by killing it, and a second signal needs no exception.
        self.trial_running = False

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.requested.is_set():
            self.forced.set()
        else:
            self.signum = signum
        self.requested.set()

    def stop_signal(self) -> int:
        """The signal to forward to a running trial (SIGINT unless told otherwise)."""
        return self.signum if self.signum is not None else signal.SIGINT


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Route SIGINT/SIGTERM to ``stop`` while inside; no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        escalate = stop.forced.is_set() or (stop.requested.is_set() and not stop.trial_running)
        stop.request(signum)
        if escalate:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
