"""One connection per process: the engine, the kept connection that every unit of work
and the heartbeat thread share, and the retried units of work ``Storage`` is built from."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa

from orionlite.errors import DatabaseUnreachableError
from orionlite.storage.backends import backend_for
from orionlite.storage.engine import make_engine, single_statement, transaction
from orionlite.storage.retry import RetryPolicy, default_outage_deadline, is_contention
from orionlite.storage.schema import ensure_schema
from orionlite.storage.sqlite_files import check_sqlite_file, sqlite_open_error
from orionlite.storage.urls import mask_url, normalize_url, resolve_url

T = TypeVar("T")

# A kept connection unused for longer goes back to the pool before its next use, so that
# long trials check out as before (the pool recycles old connections at checkout).
_KEEP_IDLE_S = 30.0


class OneConnection:
    """A database URL, its engine (connected and its schema checked on first use), and
    the units of work run on one connection per process, retried while a failure is
    transient (``storage.retry``).

    Pickles as its URL, so a storage handed to another process (joblib, Dask) opens its
    own connections there instead of sharing pooled ones across a fork.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        outage_deadline_s: float | None = None,
        create: bool = True,
    ) -> None:
        # Without a deadline: ORIONLITE_DB_RETRY_DEADLINE (set by hunt --db-retry-deadline
        # for itself and the workers it spawns), else 300 s.
        if outage_deadline_s is None:
            outage_deadline_s = default_outage_deadline()
        given = resolve_url(url)
        self.url = normalize_url(given)
        self.display_url = mask_url(given)
        self.outage_deadline_s = outage_deadline_s
        self.backend = backend_for(self.url)
        # False for read-only commands: a missing SQLite file is an error, never created.
        self.create = create
        self._engine: sa.Engine | None = None
        # Database connections this process opened through this storage: a worker opens
        # one however many trials it runs (more only to replace a lost one).
        self.connections_opened = 0
        self._retry = RetryPolicy(outage_deadline_s, lambda: self.display_url)
        # At most one connection per storage, whatever the threads: every unit of work
        # holds this lock, so a worker's heartbeat thread shares the worker's connection
        # instead of needing a second one (a server at its connection limit refuses it).
        self._lock = threading.RLock()
        self._keepers = 0  # open keep_connection blocks, any thread
        self._kept: sa.Connection | None = None
        self._kept_used_at = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "outage_deadline_s": self.outage_deadline_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], outage_deadline_s=state["outage_deadline_s"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Storage({self.display_url!r})"

    @property
    def engine(self) -> sa.Engine:
        """Connect on first use and check the schema once per process, not per trial."""
        if self._engine is None:
            if self.backend.is_sqlite():
                check_sqlite_file(sa.make_url(self.url).database, create=self.create)
            engine = make_engine(self.url)
            sa.event.listen(engine, "connect", self._connected)
            try:
                self._retry.run(
                    lambda: ensure_schema(engine, self.display_url, self.backend.schema_lock)
                )
            except DatabaseUnreachableError as exc:
                engine.dispose()
                if self.backend.is_sqlite():
                    # No server is involved: name the file instead of advising to start one.
                    raise sqlite_open_error(sa.make_url(self.url).database, exc) from exc
                raise
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    def _connected(self, _dbapi_connection: Any, _record: Any) -> None:
        self.connections_opened += 1

    @property
    def dialect(self) -> str:
        return self.backend.name

    def close(self) -> None:
        self._give_back_kept()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def keep_connection(self) -> Iterator[None]:
        """Within this block, units of work share one connection, kept between them.

        Each unit of work otherwise checks a connection out of the pool and back in, which
        resets it, costing as much as the statements of a short unit. A
        worker keeps its connection for its whole run, and its heartbeat thread uses the
        same one between the loop's units. A connection that failed, or sat unused for
        ``_KEEP_IDLE_S`` (a long trial), is given back and the next unit checks out anew.
        """
        with self._lock:
            self._keepers += 1
        try:
            yield
        finally:
            with self._lock:
                self._keepers -= 1
                if not self._keepers:
                    self._give_back_kept()

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        with self._lock:
            if not self._keepers:
                with self.engine.connect() as checked_out:
                    yield checked_out
                return
            connection = self._kept
            if connection is None or time.monotonic() - self._kept_used_at > _KEEP_IDLE_S:
                self._give_back_kept()
                connection = self._kept = self.engine.connect()
            try:
                yield connection
            except BaseException as exc:
                if not (is_contention(exc) and _rolled_back(connection)):
                    self._give_back_kept()  # the pool rolls back what the failure left open
                raise
            self._kept_used_at = time.monotonic()

    def _give_back_kept(self) -> None:
        connection, self._kept = self._kept, None
        if connection is not None:
            connection.close()

    def _run(self, work: Callable[[sa.Connection], T], *, write: bool) -> T:
        def attempt() -> T:
            with self._connection() as connection, transaction(connection, write=write):
                return work(connection)

        return self._retry.run(attempt)

    def _run_hot(self, work: Callable[[sa.Connection], T], *, one_statement: bool) -> T:
        """``work`` as one statement where the backend makes it one, else in a write
        transaction."""
        if one_statement:
            return self._run_single(work)
        return self._run(work, write=True)

    def _run_single(
        self,
        work: Callable[[sa.Connection], T],
        *,
        deadline_s: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> T:
        """Like ``_run`` for work that is exactly one statement: no BEGIN/COMMIT around it
        (one round trip on PostgreSQL instead of three; see ``engine.single_statement``),
        or that runs its own transaction on the driver (``engine.immediate_transaction``)."""

        def attempt() -> T:
            with self._connection() as connection, single_statement(connection):
                return work(connection)

        return self._retry.run(attempt, deadline_s=deadline_s, cancelled=cancelled)


def _rolled_back(connection: sa.Connection) -> bool:
    """Whether ``connection`` is clean again after a contention error (SQLite's lock, a
    deadlock), so that the retry can use it instead of checking out another: with 8
    workers on SQLite, one acquisition in ten outwaits the busy timeout and is retried."""
    try:
        connection.rollback()
    except Exception:
        return False
    return not connection.invalidated
