"""Keep a reservation alive while its trial runs, and notice when it is lost."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from orionlite.errors import OrionliteError
from orionlite.records import TrialRecord
from orionlite.storage import Storage

log = logging.getLogger(__name__)

# A lease lasts this many heartbeat intervals: a worker must miss two beats in a row
# before another worker may take its trial.
LEASE_INTERVALS = 3.0


def lease_seconds(heartbeat_s: float) -> float:
    return heartbeat_s * LEASE_INTERVALS


class Heartbeat:
    """A background thread extending the trial's lease every ``interval_s`` seconds.

    ``lost`` is set when the database says another worker owns the trial now (our lease
    expired, e.g. the machine was suspended): the runner then stops the trial's process.
    """

    def __init__(self, storage: Storage, trial: TrialRecord, interval_s: float) -> None:
        self._storage = storage
        self._trial = trial
        self._interval_s = interval_s
        self.lost = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{trial.id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
        # Normally instant (the thread waits on ``_stopped``). A thread stuck retrying a
        # heartbeat through a database outage is not waited for: it is a daemon, its
        # late write is harmless (the token no longer matches once the trial is
        # recorded), and the worker must be free to record the trial or leave.
        self._thread.join(timeout=max(1.0, self._interval_s))

    def _beat(self) -> None:
        lease = lease_seconds(self._interval_s)
        while not self._stopped.wait(self._interval_s):
            try:
                alive = self._storage.heartbeat(self._trial, lease)
            except Exception as exc:
                # Never let this thread die: a dead heartbeat thread would leave the trial
                # running with a lease nobody extends, and its result refused at the end.
                # Outages are already retried inside ``heartbeat`` (one log line for the
                # whole process); what reaches here is an outage past its deadline or an
                # unexpected error. Keep beating: if the database answers again before
                # the lease ends nothing is lost, and if not, the final write says so.
                message = exc.message if isinstance(exc, OrionliteError) else repr(exc)
                log.warning(
                    "heartbeat of trial %s failed, the trial keeps running: %s",
                    self._trial.id,
                    message.splitlines()[0] if message else type(exc).__name__,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                    extra={"action": "heartbeat_failed", "trial_id": self._trial.id},
                )
                continue
            if not alive:
                self.lost.set()
                return
