"""Read-only access to a database, for readers that must never change it (the dashboard).

SQLite is opened with ``mode=ro`` (the library refuses every write, and a missing file is
an error instead of a new, empty database); PostgreSQL sessions start with
``default_transaction_read_only`` and a statement timeout, MySQL and MariaDB sessions with
``SET SESSION TRANSACTION READ ONLY`` and a statement timeout. All run in autocommit: every
statement is its own short snapshot (InnoDB's reads take no locks), so a reader never holds
a transaction, a lock or PostgreSQL's xmin back while workers run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from orionlite.errors import OrionliteError, StorageError
from orionlite.storage.engine import parse_url, split_pgbouncer_option
from orionlite.storage.mysql_session import require_driver
from orionlite.storage.schema import check_revision, current_revision
from orionlite.storage.urls import is_mysql, is_sqlite, mask_url, normalize_url, resolve_url

# A reader waits this long for SQLite's lock (only a checkpoint can hold it against
# readers in WAL mode) and PostgreSQL gives up on a statement after this long: a page
# that cannot be read quickly is better reported than left hanging.
READ_TIMEOUT_S = 5.0


class MissingDatabaseError(OrionliteError):
    """There is no database at this URL, and a read-only reader will not create one."""


def readonly_engine(url: str | None) -> tuple[sa.Engine, str]:
    """An engine that cannot write, and the URL to show (password masked)."""
    given = resolve_url(url)
    display = mask_url(given)
    normalized = normalize_url(given)
    sa_url = parse_url(normalized, display)
    if is_sqlite(normalized):
        return _sqlite_engine(sa_url, display), display
    if is_mysql(normalized):
        return _mysql_engine(sa_url), display
    if sa_url.get_backend_name() != "postgresql":
        raise StorageError(
            f"The storage URL {display!r} names a database this reader does not support.",
            hint="The dashboard reads sqlite:///, postgresql:// and mysql:// URLs.",
        )
    sa_url, pooled = split_pgbouncer_option(sa_url)
    # Behind a transaction-mode pooler, which refuses startup options, the reader relies
    # on sending only reads, and on the pooler's own query_timeout.
    session: dict[str, Any] = (
        {"prepare_threshold": None}
        if pooled
        else {
            "options": "-c default_transaction_read_only=on "
            f"-c statement_timeout={int(READ_TIMEOUT_S * 1000)}"
        }
    )
    engine = sa.create_engine(
        sa_url,
        pool_size=2,
        max_overflow=2,
        pool_pre_ping=True,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": 10,
            "application_name": "orionlite-dashboard",
            **session,
        },
    )
    return engine, display


def _mysql_engine(sa_url: sa.URL) -> sa.Engine:
    require_driver()
    engine = sa.create_engine(
        sa_url,
        pool_size=2,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=3600,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": 10,
            "charset": "utf8mb4",
            # Times read as UTC, as the workers' sessions do (mysql_session); every
            # statement of the session may only read.
            "init_command": "SET time_zone = '+00:00'",
        },
    )

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        if "mariadb" in dbapi_connection.get_server_info().lower():
            cursor.execute(f"SET SESSION max_statement_time = {READ_TIMEOUT_S}")
        else:  # MySQL 8: milliseconds, SELECT only (all a reader sends)
            cursor.execute(f"SET SESSION max_execution_time = {int(READ_TIMEOUT_S * 1000)}")
        cursor.close()

    return engine


def _sqlite_engine(sa_url: sa.URL, display: str) -> sa.Engine:
    database = sa_url.database or ""
    if database in ("", ":memory:"):
        raise StorageError(
            "An in-memory SQLite database has nothing to show.",
            hint="Point --storage at the file the workers use: sqlite:///orionlite.db",
        )
    path = Path(database).absolute()
    uri = path.as_uri() + "?mode=ro"

    def connect() -> sqlite3.Connection:
        if not path.is_file():
            raise MissingDatabaseError(
                f"There is no database at {display} ({path}).",
                hint="Start a hunt with this --storage first, or point --storage at the file "
                "the workers use. The dashboard never creates a database.",
            )
        connection = sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S, check_same_thread=False)
        connection.isolation_level = None  # autocommit: no transaction is ever left open
        return connection

    # A pool that hands each connection to one thread at a time. A "sqlite://" URL would
    # otherwise get SingletonThreadPool, which closes connections other threads are still
    # using once more than five threads read: the process then dies of a segfault.
    return sa.create_engine(
        "sqlite://", creator=connect, poolclass=sa.pool.QueuePool, pool_size=4, max_overflow=4
    )


def check_readable(engine: sa.Engine, display: str) -> None:
    """Raise the error a page should show when the database is missing, is not an
    orionlite database, or has another schema than this package's."""
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    except sa.exc.DBAPIError as exc:
        cause = exc.orig if exc.orig is not None else exc
        if isinstance(cause, MissingDatabaseError):
            raise cause from None
        raise StorageError(
            f"Cannot read the database {display}: {str(cause).strip().splitlines()[0]}",
            hint="Check the URL, that the server runs and that this user may read it.",
        ) from exc
    except MissingDatabaseError:
        raise
    if revision is None:
        raise MissingDatabaseError(
            f"The database {display} holds no orionlite experiments yet.",
            hint="Start a hunt with this --storage; the page updates once it has.",
        )
    check_revision(revision, display)
