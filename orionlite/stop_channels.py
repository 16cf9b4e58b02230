"""Stopping every worker of one fan-out together.

- A **stop channel** reaches every worker of one fan-out: two files in a temporary folder
  for local processes, two ``distributed.Event`` objects on a Dask cluster. Level 1 asks
  for a graceful stop (running trials become ``interrupted``), level 2 forces it.
- The parent raises the level on SIGINT/SIGTERM, and a worker raises it when it fails (an
  exception under ``on_error="raise"``, too many broken trials), so the others stop too.
- A terminal's Ctrl-C reaches the parent *and* its worker processes; a signal sent to the
  parent alone (``kill``, a batch scheduler) reaches only the parent. Each worker merges
  its own first signal and the channel's level 1 into one graceful request, so one Ctrl-C
  never counts twice and escalates to a forced stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from orionlite.signals import StopRequest

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How often a worker's watcher wakes up (to read its channel when due, and to interrupt
# a running call that should stop).
WATCH_INTERVAL_S = 0.1


# -- stop channels ----------------------------------------------------------------------


class StopChannel(Protocol):
    """Shared by every worker of one fan-out; picklable, so it travels with the tasks."""

    #: How often a worker reads it: a stop reaches every worker within this.
    poll_s: float

    def level(self) -> int:
        """0: keep going; 1: stop gracefully; 2: stop now."""
        ...

    def signum(self) -> int | None:
        """The signal that caused the stop, if known (forwarded to trial commands)."""
        ...

    def set(self, level: int, signum: int | None = None) -> None:
        """Raise the level (never lowers it); the first ``signum`` given is kept."""
        ...


class FileStopChannel:
    """Two marker files: local processes of any kind see them without shared memory.

    Files rather than a ``multiprocessing.Event`` because loky workers are not children
    of a context we control, and creating a file is atomic and monotonic.
    """

    poll_s = 0.1

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def level(self) -> int:
        if os.path.exists(os.path.join(self.folder, "force")):
            return 2
        return 1 if os.path.exists(os.path.join(self.folder, "stop")) else 0

    def signum(self) -> int | None:
        try:
            text = Path(self.folder, "stop").read_text()
        except OSError:
            return None
        return int(text) if text.strip().isdigit() else None

    def set(self, level: int, signum: int | None = None) -> None:
        names = ["stop", "force"][: max(0, min(level, 2))]
        for name in names:
            try:  # O_EXCL: the first writer's signal stays
                fd = os.open(os.path.join(self.folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except OSError:  # there already, or the folder is gone (the fan-out ended)
                continue
            with os.fdopen(fd, "w") as marker:
                marker.write(str(signum or ""))


@contextlib.contextmanager
def file_stop_channel() -> Iterator[FileStopChannel]:
    folder = tempfile.mkdtemp(prefix="orionlite-stop-")
    try:
        yield FileStopChannel(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class DaskStopChannel:
    """Two named ``distributed.Event`` objects on the scheduler, so workers on other
    machines see the stop too. Pickles as its name; each side binds to its own client.

    Read once a second: each read is a round trip to the scheduler, made by every worker.
    """

    poll_s = 1.0

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self._client = client
        self._events: tuple[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"])  # type: ignore[misc]

    def bind(self) -> None:
        """Create the events now, in the calling thread (a task's, where a client is found)."""
        if self._events is None:
            from distributed import Event

            self._events = (
                Event(f"{self.name}-stop", client=self._client),
                Event(f"{self.name}-force", client=self._client),
            )

    def level(self) -> int:
        self.bind()
        assert self._events is not None
        stop, force = self._events
        if not stop.is_set():  # one round trip while nothing happens
            return 0
        return 2 if force.is_set() else 1

    def signum(self) -> int | None:
        return None  # Python functions are interrupted the same way by any signal

    def set(self, level: int, signum: int | None = None) -> None:
        # Called from signal handlers too, where a blocking round trip to the scheduler
        # could deadlock with the client call the main thread is waiting in.
        threading.Thread(target=self._set_now, args=(level,), daemon=True).start()

    def _set_now(self, level: int) -> None:
        try:
            self.bind()
            assert self._events is not None
            if level >= 1:
                self._events[0].set()
            if level >= 2:
                self._events[1].set()
        except Exception as exc:  # the cluster is going away; workers stop on their own
            log.debug("could not set the stop event: %s", exc)


# -- signals in the parent and in each worker ------------------------------------------


@dataclass
class ReceivedSignals:
    """What the parent of a fan-out received while its workers ran."""

    signum: int | None = None
    count: int = 0


@contextlib.contextmanager
def parent_signals(channel: StopChannel) -> Iterator[ReceivedSignals]:
    """SIGINT/SIGTERM raise the channel's level instead of killing the parent.

    The parent keeps waiting for its workers, which stop cleanly and report; a second
    signal forces them; a third raises KeyboardInterrupt, to give up on stuck workers.
    Outside the main thread (no handlers possible) this only yields.
    """
    received = ReceivedSignals()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.count += 1
        received.signum = received.signum or signum
        channel.set(2 if received.count >= 2 else 1, received.signum)
        if received.count >= 3:
            # Workers that do not stop even when forced (stuck waiting out a database
            # outage): the user must never be stuck, so give up waiting for them.
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Interruptible(Protocol):
    """A runner whose running call can be interrupted from the main thread's signal
    handler (see :class:`orionlite.function_runner.FunctionRunner`)."""

    def wants_interrupt(self) -> bool: ...

    def on_signal(self) -> None: ...


@contextlib.contextmanager
def worker_signals(
    stop: StopRequest,
    channel: StopChannel | None = None,
    runner: Interruptible | None = None,
) -> Iterator[StopRequest]:
    """Route this worker's signals and its channel to ``stop``.

    - Its own first SIGINT/SIGTERM and the channel's level 1 are one graceful request;
      a second signal of its own, or level 2, forces. The signal (its own, else the
      parent's) is what a command runner forwards to the trial.
    - With ``runner`` in the main thread, a stop (or a lost lease) interrupts the running
      Python call: the watcher sends SIGINT to the main thread, whose handler raises
      KeyboardInterrupt inside the user's function. A call in another thread (Dask) can
      only be stopped once it returns.
    """
    in_main = threading.current_thread() is threading.main_thread()
    main_ident = threading.main_thread().ident
    state = {"own": 0, "nudges": 0}
    previous: dict[int, Any] = {}
    if in_main:

        def handler(signum: int, _frame: FrameType | None) -> None:
            if state["nudges"] > 0:
                state["nudges"] -= 1  # our own nudge, not the user's signal
                if runner is not None:
                    runner.on_signal()
                return
            state["own"] += 1
            if stop.signum is None:
                stop.signum = signum
            stop.requested.set()
            if state["own"] >= 2:
                stop.forced.set()
            if runner is not None:
                runner.on_signal()  # raises inside a running call
            # Nothing running that a forced stop would end (the worker waits on the
            # database, e.g. through an outage): a second signal, or any third, raises
            # so that the user is never stuck, as stop_on_signals does.
            if state["own"] >= 3 or (state["own"] >= 2 and not stop.trial_running):
                raise KeyboardInterrupt

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    done = threading.Event()

    def watch() -> None:
        next_read = 0.0
        while not done.wait(WATCH_INTERVAL_S):
            if channel is not None and time.monotonic() >= next_read:
                next_read = time.monotonic() + channel.poll_s
                try:
                    level = channel.level()
                except Exception as exc:  # e.g. the Dask scheduler is gone
                    log.debug("stop channel unreadable: %s", exc)
                    level = 0
                if level >= 1 and not stop.requested.is_set():
                    if stop.signum is None:  # before ``requested``: runners read it then
                        stop.signum = channel.signum()
                    stop.requested.set()
                if level >= 2:
                    stop.forced.set()
            if in_main and runner is not None and main_ident is not None:
                if runner.wants_interrupt():
                    state["nudges"] += 1
                    signal.pthread_kill(main_ident, signal.SIGINT)

    if channel is not None and isinstance(channel, DaskStopChannel):
        channel.bind()
    watcher = threading.Thread(target=watch, name="orionlite-stop-watcher", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        done.set()
        watcher.join()
        for sig, old in previous.items():
            signal.signal(sig, old)
