"""Ctrl-C and SIGTERM: stop the running trial cleanly, and give it back to the pool.

The first signal asks the trial's process group to stop (forwarding the same signal) and
lets it finish within a grace period; a second signal kills at once. Handlers are
restored on exit, so library users keep their own.
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
        self.signum: int | None = None

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.requested.is_set():
            self.forced.set()
        self.signum = signum
        self.requested.set()


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Route SIGINT/SIGTERM to ``stop`` while inside; no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.request(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
