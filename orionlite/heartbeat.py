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
        self._thread.join()

    def _beat(self) -> None:
        lease = lease_seconds(self._interval_s)
        while not self._stopped.wait(self._interval_s):
            try:
                alive = self._storage.heartbeat(self._trial, lease)
            except OrionliteError as exc:
                # The database stayed unreachable past the retry deadline. Keep beating:
                # if it comes back before the lease ends nothing is lost, and if not, the
                # final write finds out and says so.
                log.warning("heartbeat failed: %s", exc, extra={"action": "heartbeat_failed"})
                continue
            if not alive:
                self.lost.set()
                return
