"""Which database errors are worth retrying, and how.

Two kinds of transient failure reach a worker:

* contention (SQLite's "database is locked", PostgreSQL deadlocks and serialisation
  failures): retried at once with short random sleeps, so no process waits its turn for
  seconds and every worker gets its share;
* outages (connection refused or dropped, server restarting): a dropped connection is
  retried at once, quietly, on a fresh connection; if that fails too, the server is down:
  retried with exponential backoff and jitter until a deadline (``--db-retry-deadline``,
  default 300 s), with one warning line when the outage starts and one info line when it
  ends, however many threads of the process are waiting.

Before the first successful connection an outage is not retried: an unreachable URL at
start-up is almost always a typo, and the user should hear about it at once. The
exceptions are a server that answers "starting up" or "shutting down", and one that
refuses more connections (its ``max_connections``, a database's or role's ``CONNECTION
LIMIT``): no typo says that, and such workers should wait for a connection like the others.

Retrying is safe because every unit of work is one transaction: a transaction cut by a
dropped connection was rolled back by the server, and SQLAlchemy invalidates the broken
connection (and every pooled one opened before it), so the next attempt connects anew.
The one ambiguous case, a commit that succeeded but whose acknowledgement was lost, is
handled by the callers (see ``Storage.finish_trial``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

import sqlalchemy as sa
from tenacity import RetryCallState, Retrying, retry_if_exception

from orionlite.errors import ConfigError, DatabaseUnreachableError, StorageError
from orionlite.storage import mysql_session

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_OUTAGE_DEADLINE_S = 300.0
# Read by every Storage made without an explicit deadline, so the value set by
# ``hunt --db-retry-deadline`` also reaches worker processes it spawns.
OUTAGE_DEADLINE_ENV = "ORIONLITE_DB_RETRY_DEADLINE"
# Contention resolves within milliseconds; a minute of it means something is wrong.
CONTENTION_DEADLINE_S = 60.0
# Backoff cap: with +-50 % jitter a worker notices a restarted server within 3 s.
_MAX_BACKOFF_S = 2.0

_CONTENTION_MARKERS = ("database is locked", "database table is locked", "database is busy")
# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available.
_CONTENTION_SQLSTATES = {"40001", "40P01", "55P03"}
# admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections,
# idle_in_transaction_session_timeout; plus all of class 08 (connection exception).
_OUTAGE_SQLSTATES = {"57P01", "57P02", "57P03", "53300", "25P03"}
# Messages of outages for drivers that give no SQLSTATE (SQLite on a network filesystem,
# and as a fallback for PostgreSQL).
_OUTAGE_MARKERS = (
    "connection refused",
    "could not connect",
    "server closed the connection",
    "connection is closed",
    "connection already closed",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is not yet accepting connections",
    "the database system is in recovery mode",
    "consuming input failed",
    "no route to host",
    "connection timed out",
    "ssl syscall error",
    "eof detected",
    "unable to open database file",
    "disk i/o error",
)


def default_outage_deadline() -> float:
    """The deadline from ``ORIONLITE_DB_RETRY_DEADLINE``, else 300 s."""
    text = os.environ.get(OUTAGE_DEADLINE_ENV, "").strip()
    if not text:
        return DEFAULT_OUTAGE_DEADLINE_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects NaN
        raise ConfigError(
            f"{OUTAGE_DEADLINE_ENV}={text!r} is not a number of seconds.",
            hint=f"Set it to a duration such as 300, or unset it for the default "
            f"({DEFAULT_OUTAGE_DEADLINE_S:.0f} s).",
        )
    return value


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)


def _from_psycopg(exc: sa.exc.DBAPIError) -> bool:
    return type(exc.orig).__module__.split(".")[0] == "psycopg"


def is_contention(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    code = mysql_session.error_code(exc)
    if code is not None:
        return code in mysql_session.CONTENTION_CODES
    return sqlstate(exc) in _CONTENTION_SQLSTATES or any(
        marker in str(exc.orig).lower() for marker in _CONTENTION_MARKERS
    )


def is_outage(exc: BaseException) -> bool:
    """True for failures of the connection rather than of the statement.

    psycopg raises connection failures (refused, reset, server starting or shutting down)
    as ``OperationalError`` *without* a SQLSTATE, while errors reported by a live server
    carry one; that distinction is more robust than matching messages, which vary with
    the server's version and language, so messages are only a fallback.
    """
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = mysql_session.error_code(exc)
    if code is not None:
        return code in mysql_session.OUTAGE_CODES | mysql_session.CONNECTION_LIMIT_CODES
    state = sqlstate(exc)
    if state is not None:
        return state in _OUTAGE_SQLSTATES or state.startswith("08")
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return False
    if _from_psycopg(exc):
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in _OUTAGE_MARKERS)


# The server exists and answers, but is starting, stopping or recovering: worth waiting
# for even before this process ever connected (a typo cannot produce these).
_STARTING_MARKERS = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is not yet accepting connections",
    "the database system is in recovery mode",
)


def is_server_starting(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if sqlstate(exc) == "57P03":  # cannot_connect_now
        return True
    if mysql_session.error_code(exc) in mysql_session.SERVER_STARTING_CODES:
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in _STARTING_MARKERS)


# The server answers, but has no connection to spare: PostgreSQL's max_connections and
# CONNECTION LIMIT (refused at connect time without a SQLSTATE in psycopg), PgBouncer's
# max_client_conn, MySQL's max_connections and max_user_connections.
_LIMIT_MARKERS = (
    "too many connections",
    "too many clients",
    "remaining connection slots are reserved",
    "max_user_connections",
    "no more connections allowed",
)


def is_connection_limit(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if sqlstate(exc) == "53300":  # too_many_connections
        return True
    if mysql_session.error_code(exc) in mysql_session.CONNECTION_LIMIT_CODES:
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in _LIMIT_MARKERS)


def _about_the_connection(exc: sa.exc.DBAPIError) -> bool:
    """Whether an error that is not an outage still means the database cannot be used:
    PyMySQL raises OperationalError for statement errors too, so there the code says."""
    code = mysql_session.error_code(exc)
    if code is not None:
        return code in mysql_session.CONNECT_REFUSED_CODES
    return isinstance(exc, sa.exc.OperationalError)


def _first_line(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


def _cause(exc: BaseException) -> str:
    """The last clause of the driver's message: 'connection failed: connection to server
    at ... failed: FATAL:  the database system is shutting down' -> 'the database system
    is shutting down'. The full text is in the final error if the retries give up."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return str(exc)
    clauses = [part.strip() for part in _first_line(exc).split(": ") if part.strip()]
    return clauses[-1] if clauses else type(exc.orig).__name__


class RetryPolicy:
    """Runs a unit of database work, retrying it while the failure is transient.

    One policy is shared by every thread of a process (the worker loop and its heartbeat
    thread), so an outage is announced once, not once per thread.
    """

    def __init__(self, outage_deadline_s: float, describe: Callable[[], str]) -> None:
        self.outage_deadline_s = outage_deadline_s
        self._describe = describe
        self.connected_once = False
        self._lock = threading.Lock()
        self._outage_since: float | None = None

    def run(
        self,
        work: Callable[[], T],
        *,
        deadline_s: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> T:
        """``work()``, retried while transient. ``deadline_s`` shortens the outage deadline
        for this call; once ``cancelled()`` is true no further try is made."""
        try:
            # The first try runs outside tenacity, which costs more than a short
            # statement to set up; it takes over only once a try has failed.
            result = work()
        except BaseException as exc:
            if not self._should_retry(exc):
                self._raise_final(exc)
            result = self._retry(work, exc, deadline_s, cancelled)
        if not self.connected_once or self._outage_since is not None:
            self._reachable()
        return result

    def _retry(
        self,
        work: Callable[[], T],
        first_failure: BaseException,
        deadline_s: float | None,
        cancelled: Callable[[], bool] | None,
    ) -> T:
        """Go on after ``first_failure``, as tenacity's second attempt onwards."""
        failures = [first_failure]

        def again() -> T:
            if failures:
                raise failures.pop()  # attempt 1: the try that already failed
            return work()

        def stop(state: RetryCallState) -> bool:
            if cancelled is not None and cancelled():
                return True
            return self._stop(state, deadline_s)

        retrying = Retrying(
            retry=retry_if_exception(self._should_retry),
            wait=self._wait,
            stop=stop,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(again)
        except BaseException as exc:
            self._raise_final(exc)

    def _raise_final(self, exc: BaseException) -> NoReturn:
        """Raise ``exc``, or the error users should see for it."""
        if isinstance(exc, sa.exc.DBAPIError):
            if is_contention(exc):
                raise StorageError(
                    f"The database {self._describe()} stayed locked by other workers for "
                    f"{CONTENTION_DEADLINE_S:.0f} s: {_first_line(exc)}",
                    hint="Another program may hold a long transaction on it; with many "
                    "workers on many machines, use PostgreSQL.",
                ) from exc
            if is_outage(exc) or _about_the_connection(exc):
                raise self._unreachable(exc) from exc
        raise exc

    def _should_retry(self, exc: BaseException) -> bool:
        return is_contention(exc) or (is_outage(exc) and self._waits_for_server(exc))

    def _waits_for_server(self, exc: BaseException) -> bool:
        return self.connected_once or is_server_starting(exc) or is_connection_limit(exc)

    def _stop(self, state: RetryCallState, deadline_s: float | None = None) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        limit = (
            CONTENTION_DEADLINE_S
            if exc is not None and is_contention(exc)
            else self.outage_deadline_s
        )
        if deadline_s is not None:
            limit = min(limit, deadline_s)
        # tenacity computes the wait before asking us: give up when the next sleep would
        # end past the deadline, rather than one (up to 3 s) sleep after it.
        return (state.seconds_since_start or 0.0) + state.upcoming_sleep >= limit

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and is_contention(exc):
            return random.uniform(0.0005, 0.005)
        if state.attempt_number == 1:
            # A dropped connection (server-side idle timeout, a proxy, a killed backend)
            # is healed by simply connecting again: SQLAlchemy has thrown the dead one
            # away, so the immediate retry uses a fresh connection.
            return 0.0
        # Exponential backoff with jitter: 0.4 s, 0.8 s, ... up to 2 s, each +-50 %, so
        # workers that lost the server together do not all knock at the same instant.
        backoff = min(_MAX_BACKOFF_S, 0.1 * 2 ** min(state.attempt_number, 6))
        return backoff * random.uniform(0.5, 1.5)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None or not is_outage(exc):
            return
        if state.attempt_number == 1 and not is_connection_limit(exc):
            # Not an outage yet: one dropped connection, retried at once, stays quiet.
            log.debug(
                "database connection lost (%s); reconnecting",
                _cause(exc),
                extra={"action": "db_reconnect"},
            )
            return
        with self._lock:
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
        if is_connection_limit(exc):
            log.warning(
                "the database %s refuses more connections (limit reached); retrying for up "
                "to %.0f s (%s)",
                self._describe(),
                self.outage_deadline_s,
                _cause(exc),
                extra={"action": "db_connection_limit"},
            )
            return
        log.warning(
            "database %s unreachable, retrying for up to %.0f s (%s)",
            self._describe(),
            self.outage_deadline_s,
            _cause(exc),
            extra={"action": "db_outage_start"},
        )

    def _reachable(self) -> None:
        self.connected_once = True
        if self._outage_since is None:
            return
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            log.info(
                "database reachable again after %.1f s",
                time.monotonic() - since,
                extra={"action": "db_outage_end"},
            )

    def _unreachable(self, exc: sa.exc.DBAPIError) -> DatabaseUnreachableError:
        retried = is_outage(exc) and self._waits_for_server(exc)
        if is_connection_limit(exc):
            return DatabaseUnreachableError(
                f"The database {self._describe()} refused more connections for "
                f"{self.outage_deadline_s:.0f} s: {_first_line(exc)}",
                hint="Each worker uses one connection. Run fewer workers, raise the server's "
                "max_connections (or the database's or role's CONNECTION LIMIT), put "
                "PgBouncer in front of the server (docs/postgresql.md), or let workers wait "
                f"longer with --db-retry-deadline ({OUTAGE_DEADLINE_ENV}).",
            )
        waited = f" after retrying for {self.outage_deadline_s:.0f} s" if retried else ""
        return DatabaseUnreachableError(
            f"Cannot reach the database {self._describe()}{waited}: {_first_line(exc)}",
            hint="Check that the database server is running and that the URL "
            "(--storage or ORIONLITE_STORAGE) is right."
            + (
                f" Workers wait up to {OUTAGE_DEADLINE_ENV} (or --db-retry-deadline) "
                "seconds for it to come back."
                if retried
                else ""
            ),
        )
