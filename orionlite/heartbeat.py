"""Keep reservations alive while their trials run, and notice when one is lost."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from orionlite.errors import OrionliteError
from orionlite.records import TrialRecord
from orionlite.storage import Storage

log = logging.getLogger(__name__)

# A lease lasts this many heartbeat intervals: a worker must miss two beats in a row
# before another worker may take its trial.
LEASE_INTERVALS = 3.0


def lease_seconds(heartbeat_s: float) -> float:
    return heartbeat_s * LEASE_INTERVALS


@dataclass
class _Held:
    trial: TrialRecord
    due: float
    # Until when the lease is known to last (monotonic): its last renewal plus a lease.
    lease_ends: float
    lost: threading.Event = field(default_factory=threading.Event)
    dropped: bool = False
    warned: bool = False


class Heartbeat:
    """One background thread extending the lease of every trial its owner holds, each
    ``interval_s`` seconds after it was taken and then every ``interval_s`` seconds.

    One thread per worker (or client), started on first use and kept: starting and
    joining a thread per trial cost a worker four thread switches per trial, a measurable
    share of a short trial's coordination (docs/benchmarks.md). Taking a trial does not
    wake the thread: it never sleeps longer than one interval, so it is always awake
    before a new trial's first beat is due.

    ``hold`` returns the trial's ``lost`` event, set when the database says another
    worker owns the trial now (its lease expired, e.g. the machine was suspended): the
    runner then stops the trial's process.

    A beat goes through the worker's own connection (``Storage`` has one per process), so
    it needs no connection of its own. A failing beat is retried until the lease would
    end, and no longer once its trial is dropped; a lease that ends without a renewal is
    one warning per trial.
    """

    def __init__(self, storage: Storage, interval_s: float) -> None:
        self._storage = storage
        self._interval_s = interval_s
        self._lease_s = lease_seconds(interval_s)
        self._held: dict[int, _Held] = {}
        self._wakeup = threading.Condition()
        # The running thread; it leaves once this is no longer itself (see close).
        self._thread: threading.Thread | None = None

    def hold(self, trial: TrialRecord) -> threading.Event:
        """Start beating for ``trial``; returns its ``lost`` event."""
        now = time.monotonic()
        held = _Held(trial, now + self._interval_s, now + self._lease_s)
        with self._wakeup:
            self._held[trial.id] = held
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
                self._thread.start()
        return held.lost

    def drop(self, trial: TrialRecord) -> None:
        """Stop beating for ``trial``. A beat already under way is not waited for: its
        write is harmless once the trial is recorded (the token no longer matches)."""
        with self._wakeup:
            held = self._held.pop(trial.id, None)
        if held is not None:
            held.dropped = True

    def close(self) -> None:
        """Stop the thread (a later ``hold`` starts another). One stuck retrying a beat
        through a database outage is not waited for long: it is a daemon, and its late
        write is harmless."""
        with self._wakeup:
            for held in self._held.values():
                held.dropped = True
            self._held.clear()
            self._wakeup.notify()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(1.0, self._interval_s))

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._wakeup:
                if self._thread is not me:
                    return
                now = time.monotonic()
                due = [held for held in self._held.values() if held.due <= now]
                if not due:
                    later = (held.due for held in self._held.values())
                    self._wakeup.wait(min(later, default=now + self._interval_s) - now)
                    continue
                for held in due:
                    held.due = now + self._interval_s
            for held in due:
                self._beat(held)

    def _beat(self, held: _Held) -> None:
        trial = held.trial
        started = time.monotonic()
        try:
            alive = self._storage.heartbeat(
                trial,
                self._lease_s,
                # Retrying past the lease's end is pointless (another worker may own the
                # trial by then), and past the trial's end harmful: it would log later.
                deadline_s=max(held.lease_ends - started, self._interval_s),
                cancelled=lambda: held.dropped,
            )
        except Exception as exc:
            # Never let this thread die: a dead heartbeat thread would leave the trial
            # running with a lease nobody extends. Keep beating: if the database answers
            # again before another worker takes the trial, nothing is lost.
            if not held.dropped:
                self._failed(held, exc)
            return
        held.lease_ends = started + self._lease_s
        if not alive:
            with self._wakeup:
                if self._held.get(trial.id) is held:
                    del self._held[trial.id]
            held.lost.set()

    def _failed(self, held: _Held, exc: Exception) -> None:
        trial = held.trial
        message = exc.message if isinstance(exc, OrionliteError) else repr(exc)
        reason = message.splitlines()[0] if message else type(exc).__name__
        expired = time.monotonic() >= held.lease_ends
        if expired and not held.warned:
            held.warned = True
            log.warning(
                "Trial %s: its lease ran out because no heartbeat could be sent for %.0f s "
                "(%s). Another worker may take the trial over; this worker's result for it "
                "would then be discarded.",
                trial.id,
                self._lease_s,
                reason,
                exc_info=log.isEnabledFor(logging.DEBUG),
                extra={"action": "lease_expired", "trial_id": trial.id},
            )
            return
        log.debug(
            "heartbeat of trial %s failed, retrying: %s",
            trial.id,
            reason,
            extra={"action": "heartbeat_failed", "trial_id": trial.id},
        )
