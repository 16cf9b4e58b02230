"""Which database errors are worth retrying, and how.

Two kinds of transient failure reach a worker:

* contention (SQLite's "database is locked", PostgreSQL deadlocks and serialisation
  failures): retried at once with short random sleeps, so no process waits its turn for
  seconds and every worker gets its share;
* outages (connection refused or dropped, server restarting): retried with exponential
  backoff and jitter until a deadline, with one log line per outage.

Before the first successful connection an outage is not retried: an unreachable URL at
start-up is almost always a typo, and the user should hear about it at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay

from orionlite.errors import DatabaseUnreachableError

log = logging.getLogger(__name__)

T = TypeVar("T")

_CONTENTION_MARKERS = ("database is locked", "database table is locked", "database is busy")
# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available.
_CONTENTION_SQLSTATES = {"40001", "40P01", "55P03"}
# admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
_OUTAGE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}
_OUTAGE_MARKERS = (
    "connection refused",
    "could not connect",
    "server closed the connection",
    "connection is closed",
    "connection already closed",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "consuming input failed",
    "no route to host",
    "connection timed out",
    "ssl syscall error",
    "eof detected",
)


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)


def is_contention(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    return _sqlstate(exc) in _CONTENTION_SQLSTATES or any(
        marker in str(exc.orig).lower() for marker in _CONTENTION_MARKERS
    )


def is_outage(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or _sqlstate(exc) in _OUTAGE_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return isinstance(exc, sa.exc.OperationalError) and any(m in text for m in _OUTAGE_MARKERS)


class RetryPolicy:
    """Runs a unit of database work, retrying it while the failure is transient.

    Each unit must be safe to run again: a transaction that failed was rolled back, and
    writes whose commit may have succeeded before the connection dropped are checked for
    by their callers (see ``Storage.finish_trial``).
    """

    def __init__(self, outage_deadline_s: float, describe: Callable[[], str]) -> None:
        self.outage_deadline_s = outage_deadline_s
        self._describe = describe
        self.connected_once = False
        self._in_outage = False

    def run(self, work: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(self._should_retry),
            wait=self._wait,
            stop=self._stop,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            result = retrying(work)
        except sa.exc.DBAPIError as exc:
            if is_outage(exc) or (
                isinstance(exc, sa.exc.OperationalError) and not is_contention(exc)
            ):
                raise self._unreachable(exc) from exc
            raise
        if self._in_outage:
            log.warning("database reachable again", extra={"action": "db_outage_end"})
            self._in_outage = False
        self.connected_once = True
        return result

    def _should_retry(self, exc: BaseException) -> bool:
        return is_contention(exc) or (self.connected_once and is_outage(exc))

    def _stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and is_contention(exc):
            # Contention resolves within milliseconds; a minute means something is wrong.
            return stop_after_delay(60)(state)
        return stop_after_delay(self.outage_deadline_s)(state)

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and is_contention(exc):
            return random.uniform(0.0005, 0.005)
        return min(5.0, 0.1 * 2 ** min(state.attempt_number, 6)) * random.uniform(0.5, 1.5)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and is_outage(exc) and not self._in_outage:
            self._in_outage = True
            log.warning(
                "database %s unreachable, retrying for up to %.0f s",
                self._describe(),
                self.outage_deadline_s,
                extra={"action": "db_outage_start"},
            )

    def _unreachable(self, exc: sa.exc.DBAPIError) -> DatabaseUnreachableError:
        first_line = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        waited = (
            f" after retrying for {self.outage_deadline_s:.0f} s" if self.connected_once else ""
        )
        return DatabaseUnreachableError(
            f"Cannot reach the database {self._describe()}{waited}: {first_line}",
            hint="Check that the database server is running and that the URL "
            "(--storage or ORIONLITE_STORAGE) is right.",
        )
