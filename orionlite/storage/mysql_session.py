"""How orionlite connects to MySQL and MariaDB (PyMySQL), and what their error codes mean.

Low in the storage package on purpose: ``engine`` builds MySQL engines here and ``retry``
classifies MySQL errors here; the statements MySQL is sent live in ``backends.mysql``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from orionlite.errors import StorageError

# A transaction of ours lasts milliseconds; a lock wait this long means a stuck worker,
# and the error (1205) is retried like a deadlock.
LOCK_WAIT_TIMEOUT_S = 10
# Every session reads the server's clock in UTC (db_now).
_INIT_COMMAND = f"SET time_zone = '+00:00', innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_S}"
# READ COMMITTED: a locking read takes no gap locks (REPEATABLE READ's make concurrent
# creations deadlock), and each statement reads what was committed before it.
_ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
# MariaDB ends a transaction left idle this long (a worker frozen inside one keeps its
# row locks otherwise); MySQL 8 has no such setting.
IDLE_IN_TRANSACTION_S = 10

# Server error codes (the first argument of PyMySQL's exceptions).
DEADLOCK = 1213
LOCK_WAIT_TIMEOUT = 1205
CONTENTION_CODES = frozenset({DEADLOCK, LOCK_WAIT_TIMEOUT})
# 1040 too many connections, 1203 and 1226 a user's max_user_connections.
CONNECTION_LIMIT_CODES = frozenset({1040, 1203, 1226})
# Can't connect (2002, 2003), server gone away or lost during a query (2006, 2013), lost
# at connect (2055), shutting down (1053), connection killed (1927, MariaDB), closed for
# inactivity (4031, MySQL 8), and PyMySQL's own "already closed" (0).
OUTAGE_CODES = frozenset({0, 1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031})
SERVER_STARTING_CODES = frozenset({1053})
# Refused at connect time: access denied (1044, 1045), unknown database (1049), host not
# allowed (1130). Reported as "cannot reach the database", not retried.
CONNECT_REFUSED_CODES = frozenset({1044, 1045, 1049, 1130})


def error_code(exc: BaseException) -> int | None:
    """The MySQL error code of a PyMySQL error (wrapped by SQLAlchemy or not)."""
    orig = getattr(exc, "orig", exc)
    if type(orig).__module__.split(".")[0] != "pymysql":
        return None
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def require_driver() -> None:
    """A clear error where the PyMySQL driver is not installed."""
    try:
        import pymysql  # noqa: F401
    except ImportError as exc:
        raise StorageError(
            "MySQL and MariaDB storage needs the PyMySQL driver, which is not installed.",
            hint="Install it with: pip install 'orionlite[mysql]'",
        ) from exc


def make_mysql_engine(sa_url: sa.URL, single_option: str) -> sa.Engine:
    """One connection per storage, as on PostgreSQL (see ``engine.make_engine``); no
    ``BEGIN`` for a connection whose ``single_option`` is set (``engine.single_statement``)."""
    require_driver()
    from pymysql.constants import CLIENT

    engine = sa.create_engine(
        sa_url,
        pool_size=1,
        max_overflow=0,
        pool_recycle=3600,
        connect_args={
            "connect_timeout": 10,
            "charset": "utf8mb4",
            "init_command": _INIT_COMMAND,
            # FOUND_ROWS: a row count is the rows matched, as SQLAlchemy expects.
            # MULTI_STATEMENTS: a unit of work is one script (backends.mysql); no statement
            # is ever built from a value, so this widens nothing an injection could reach.
            "client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
        },
        # As on PostgreSQL: the driver commits each statement unless "begin" below opened
        # a transaction, so a unit of work that is one statement needs no BEGIN/COMMIT.
        isolation_level="AUTOCOMMIT",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(_ISOLATION)
        if "mariadb" in dbapi_connection.get_server_info().lower():
            cursor.execute(f"SET SESSION idle_transaction_timeout = {IDLE_IN_TRANSACTION_S}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if not connection.get_execution_options().get(single_option, False):
            connection.exec_driver_sql("BEGIN")

    return engine
