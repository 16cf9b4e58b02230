"""Engine construction: the only place that knows SQLite pragmas and PostgreSQL pooling."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from orionlite.errors import StorageError
from orionlite.storage.urls import is_sqlite, mask_url, normalize_url

# A short busy timeout on purpose: SQLite's own busy handler sleeps in growing steps, so
# under load a waiting process can lose every race for seconds. We wait briefly inside
# SQLite, then retry ourselves with short jittered sleeps (storage.retry), which is fair.
SQLITE_BUSY_TIMEOUT_S = 0.02
WRITE_OPTION = "orionlite_write"


def make_engine(url: str) -> sa.Engine:
    """One engine per process; connections are never shared across processes."""
    url = normalize_url(url)
    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StorageError(
            f"The storage URL {mask_url(url)!r} is not a database URL.",
            hint="Use sqlite:///path/to/file.db or postgresql://user:password@host/dbname.",
        ) from exc
    if is_sqlite(url):
        return _make_sqlite_engine(sa_url)
    if sa_url.get_backend_name() != "postgresql":
        raise StorageError(
            f"The storage URL {mask_url(url)!r} names an unsupported database.",
            hint="orionlite supports sqlite:/// and postgresql:// URLs.",
        )
    return sa.create_engine(
        sa_url,
        # A worker uses one connection, plus one for its heartbeat thread.
        pool_size=2,
        max_overflow=4,
        pool_recycle=3600,
        connect_args={"connect_timeout": 10, "application_name": "orionlite"},
    )


def _make_sqlite_engine(sa_url: sa.URL) -> sa.Engine:
    if sqlite3.sqlite_version_info < (3, 35, 0):
        raise StorageError(
            f"SQLite {sqlite3.sqlite_version} is too old: orionlite needs 3.35 or newer "
            "(for UPDATE ... RETURNING).",
            hint="Use a Python built with a newer SQLite, or PostgreSQL.",
        )
    if sa_url.database in (None, "", ":memory:"):
        raise StorageError(
            "An in-memory SQLite database cannot be shared between workers.",
            hint="Use a file: sqlite:///orionlite.db",
        )
    engine = sa.create_engine(
        sa_url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers keep going while one writer holds the lock.
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a reported result survives power loss, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred BEGIN followed by a write upgrades a read lock to a write lock, which
        # fails at once with "database is locked" whatever the timeout. Taking the write
        # lock first (IMMEDIATE) makes writers queue instead.
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def transaction(engine: sa.Engine, *, write: bool) -> Iterator[sa.Connection]:
    """A short transaction; ``write=True`` takes SQLite's write lock up front."""
    with engine.connect() as connection:
        if write:
            connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            yield connection
