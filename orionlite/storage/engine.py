"""Engine construction: the only place that knows SQLite pragmas and PostgreSQL pooling."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from orionlite.errors import StorageError
from orionlite.storage.mysql_session import make_mysql_engine
from orionlite.storage.urls import is_mysql, is_sqlite, mask_url, normalize_url
from orionlite.storage.wal_flush import WalFlushingConnection

# A short busy timeout on purpose: SQLite's own busy handler sleeps in growing steps, so
# under load a waiting process can lose every race for seconds. We wait briefly inside
# SQLite, then retry ourselves with short jittered sleeps (storage.retry), which is fair.
SQLITE_BUSY_TIMEOUT_S = 0.02
WRITE_OPTION = "orionlite_write"
PG_IDLE_IN_TRANSACTION_MS = 10_000
SINGLE_OPTION = "orionlite_single_statement"
# ?pgbouncer=true: the URL names a pooler in transaction mode (docs/postgresql.md).
PGBOUNCER_OPTION = "pgbouncer"
_BOOLEANS = {word: True for word in ("true", "1", "yes", "on")}
_BOOLEANS.update({word: False for word in ("false", "0", "no", "off")})
_PG_BEGIN = f"BEGIN; SET LOCAL idle_in_transaction_session_timeout = {PG_IDLE_IN_TRANSACTION_MS}"


def parse_url(url: str, shown: str) -> sa.URL:
    """``url`` (normalised) as SQLAlchemy's URL; a clear error naming ``shown`` (the URL as
    the user gave it, password masked) when it is not a database URL."""
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StorageError(
            f"The storage URL {shown!r} is not a database URL.",
            hint="Use sqlite:///path/to/file.db or postgresql://user:password@host/dbname.",
        ) from exc


def make_engine(url: str) -> sa.Engine:
    """One engine per process; connections are never shared across processes."""
    url = normalize_url(url)
    sa_url = parse_url(url, mask_url(url))
    if is_sqlite(url):
        return _make_sqlite_engine(sa_url)
    if is_mysql(url):
        return make_mysql_engine(sa_url, SINGLE_OPTION)
    if sa_url.get_backend_name() != "postgresql":
        raise StorageError(
            f"The storage URL {mask_url(url)!r} names an unsupported database.",
            hint="orionlite supports sqlite:///, postgresql:// and mysql:// URLs.",
        )
    sa_url, pooled = split_pgbouncer_option(sa_url)
    engine = sa.create_engine(
        sa_url,
        # One connection per storage: its units of work take turns (OneConnection._connection),
        # so N workers need N of the server's connections, heartbeats included.
        pool_size=1,
        max_overflow=0,
        pool_recycle=3600,
        # Nothing session-level (no startup options, no session settings): a pooler in
        # transaction mode (PgBouncer) hands each transaction to any server connection,
        # and PgBouncer 1.18 refuses startup options outright. psycopg's server-side
        # prepared statements are session-level too: off behind such a pooler only, as
        # they save a third of the server's time per trial (docs/postgresql.md).
        connect_args={
            "connect_timeout": 10,
            "application_name": "orionlite",
            **({"prepare_threshold": None} if pooled else {}),
        },
        # The driver never opens transactions by itself: "begin" below does, so that a
        # single statement can run without BEGIN/COMMIT (see single_statement) and
        # without switching the connection's mode back and forth on every call.
        isolation_level="AUTOCOMMIT",
    )

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if not connection.get_execution_options().get(SINGLE_OPTION, False):
            # Every transaction of ours lasts milliseconds. A worker frozen inside one
            # (SIGSTOP, a suspended VM) would otherwise keep its row locks, e.g. on a
            # share of the experiment's budget, until it wakes: the server ends it instead.
            # Set per transaction (one round trip with BEGIN), never per session.
            connection.exec_driver_sql(_PG_BEGIN)

    return engine


def split_pgbouncer_option(sa_url: sa.URL) -> tuple[sa.URL, bool]:
    """``sa_url`` without orionlite's own ``pgbouncer`` query option (the driver would
    reject it), and whether it says the server is behind a transaction-mode pooler."""
    text = sa_url.query.get(PGBOUNCER_OPTION)
    if text is None:
        return sa_url, False
    value = text if isinstance(text, str) else text[-1]
    if value.lower() not in _BOOLEANS:
        raise StorageError(
            f"The storage URL option {PGBOUNCER_OPTION}={value!r} is neither true nor false.",
            hint=f"Add ?{PGBOUNCER_OPTION}=true to the URL when it names a PgBouncer (or "
            "another pooler) in transaction mode; leave it out otherwise.",
        )
    return sa_url.difference_update_query([PGBOUNCER_OPTION]), _BOOLEANS[value.lower()]


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
        pool_size=1,
        max_overflow=0,
        connect_args={
            "timeout": SQLITE_BUSY_TIMEOUT_S,
            "check_same_thread": False,
            "factory": WalFlushingConnection,
        },
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: WalFlushingConnection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers keep going while one writer holds the lock.
        (mode,) = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        # A reported result survives power loss, not only a process crash: in WAL mode the
        # connection flushes the WAL after each commit, outside the write lock (NORMAL:
        # SQLite does not flush it inside); where WAL cannot be used, SQLite flushes (FULL).
        dbapi_connection.flushes = mode.lower() == "wal"
        cursor.execute(f"PRAGMA synchronous={'NORMAL' if dbapi_connection.flushes else 'FULL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred BEGIN followed by a write upgrades a read lock to a write lock, which
        # fails at once with "database is locked" whatever the timeout. Taking the write
        # lock first (IMMEDIATE) makes writers queue instead.
        options = connection.get_execution_options()
        if options.get(SINGLE_OPTION, False):
            return  # one statement: SQLite runs it in its own implicit transaction
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION) else "BEGIN")

    return engine


@contextmanager
def transaction(connection: sa.Connection, *, write: bool) -> Iterator[sa.Connection]:
    """A short transaction; ``write=True`` takes SQLite's write lock up front."""
    connection.execution_options(**{WRITE_OPTION: write, SINGLE_OPTION: False})
    with connection.begin():
        yield connection


@contextmanager
def single_statement(connection: sa.Connection) -> Iterator[sa.Connection]:
    """``connection`` for exactly one statement, which is its own transaction.

    A statement is atomic on both backends, so a unit of work that is one statement needs
    no ``BEGIN``/``COMMIT`` around it: one round trip on PostgreSQL instead of three
    (docs/decisions/0053-hot-statements-on-the-driver.md); on SQLite the statement's
    implicit transaction takes the write lock when it starts, like ``BEGIN IMMEDIATE``.
    Both engines leave the driver in autocommit mode and open transactions themselves
    (the "begin" events), which is what lets this context skip them. Callers must not
    run a second statement on this connection: it would not be part of the same
    transaction.
    """
    connection.execution_options(**{WRITE_OPTION: False, SINGLE_OPTION: True})
    yield connection
    connection.commit()  # a no-op for the driver: ends SQLAlchemy's bookkeeping
    _flush_wal(connection)


def _flush_wal(connection: sa.Connection) -> None:
    """On SQLite, what the driver committed without ``commit()`` (a statement outside a
    transaction, ``COMMIT`` on the cursor) is put on disk (see ``wal_flush``)."""
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, WalFlushingConnection):
        dbapi_connection.flush_wal()


class Prepared:
    """A Core statement compiled once per dialect and run directly on the driver's cursor.

    The statements of the worker's hot path run here, because ``Connection.execute``'s
    bookkeeping costs several times the driver's own time
    (docs/decisions/0053-hot-statements-on-the-driver.md). The SQL is still the Core
    statement's, compiled by SQLAlchemy; rows come back as plain tuples (JSON parsed).

    Driver errors are turned into SQLAlchemy's exception classes, and a lost connection is
    invalidated, as ``Connection.execute`` would do, so ``storage.retry`` sees the same
    errors either way.
    """

    def __init__(self, statement: sa.ClauseElement, *, plan_per_call: bool = False) -> None:
        self.statement = statement
        # psycopg prepares a statement on the server after 5 runs, and PostgreSQL may then
        # keep a generic plan chosen while the table was tiny (a scan, cheapest then) for
        # the life of the connection. A statement whose best plan depends on its
        # parameters (a range) is therefore planned anew on every call.
        self.plan_per_call = plan_per_call
        self._by_dialect: dict[str, _Compiled] = {}

    def run(self, connection: sa.Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self._compiled(connection.dialect)
        return compiled.execute(connection, compiled.arguments(params))

    def run_write(self, connection: sa.Connection, params: dict[str, Any]) -> tuple[int, int]:
        """Run a statement that returns no rows: (rows it matched, the id an INSERT
        made), the cursor's ``rowcount`` and ``lastrowid``."""
        compiled = self._compiled(connection.dialect)
        compiled.execute(connection, compiled.arguments(params))
        cursor = connection.info[_CURSOR][1]
        return cursor.rowcount, cursor.lastrowid

    def bind(self, connection: sa.Connection, params: dict[str, Any]) -> Bound:
        """The statement with ``params`` converted for ``connection``'s driver, to run
        later: see :func:`immediate_transaction`."""
        compiled = self._compiled(connection.dialect)
        return Bound(compiled, compiled.arguments(params))

    def _compiled(self, dialect: sa.Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = _Compiled(self.statement, dialect, self.plan_per_call)
            self._by_dialect[dialect.name] = compiled
        return compiled


class Script:
    """Statements sent to the server together, in one round trip: each one's SQL with its
    own arguments, for a driver that runs several statements per call (PyMySQL, with
    ``CLIENT.MULTI_STATEMENTS``). The rows are those of the last statement that returns
    any.

    A failing statement stops the ones after it; a transaction the script opened is then
    rolled back before the error is raised, so the connection is clean for a retry.
    """

    def __init__(self, *statements: sa.ClauseElement) -> None:
        self.statements = statements
        self._by_dialect: dict[str, list[_Compiled]] = {}

    def run(self, connection: sa.Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        pieces = self._compiled(connection.dialect)
        sql = ";\n".join(piece.sql for piece in pieces)
        args = [value for piece in pieces for value in piece.arguments(params)]
        last = next(piece for piece in reversed(pieces) if piece.returns_rows)
        cursor = _cursor(connection, raw=False)
        rows: list[tuple[Any, ...]] = []
        try:
            cursor.execute(sql, args)
            while True:
                if cursor.description is not None:
                    rows = list(cursor.fetchall())
                if not cursor.nextset():
                    break
        except connection.dialect.loaded_dbapi.Error as exc:
            connection.info.pop(_CURSOR, None)
            cursor.close()
            dbapi_connection = connection.connection.dbapi_connection
            with suppress(Exception):
                dbapi_connection.rollback()  # type: ignore[union-attr]
            raise _wrapped(connection, exc, sql, args, cursor) from exc
        return [_parse_json(row, last.json_columns) for row in rows]

    def _compiled(self, dialect: sa.Dialect) -> list[_Compiled]:
        pieces = self._by_dialect.get(dialect.name)
        if pieces is None:
            pieces = [_Compiled(statement, dialect, False) for statement in self.statements]
            self._by_dialect[dialect.name] = pieces
        return pieces


@contextmanager
def immediate_transaction(connection: sa.Connection) -> Iterator[None]:
    """SQLite's write transaction, begun and committed on the driver itself.

    Every other writer waits while it is open, so only the statements run inside, since
    at 8 workers the time the lock is held bounds the rate. Bind first
    (:meth:`Prepared.bind`), then run the :class:`Bound` statements in here. For use
    inside :func:`single_statement`, where SQLAlchemy opens no transaction of its own.
    """
    cursor = _cursor(connection, raw=False)
    try:
        cursor.execute("BEGIN IMMEDIATE")
        yield
        cursor.execute("COMMIT")
        _flush_wal(connection)
    except BaseException as exc:
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection is not None and dbapi_connection.in_transaction:
            with suppress(Exception):
                dbapi_connection.rollback()
        if isinstance(exc, sqlite3.Error):
            raise _wrapped(connection, exc, "BEGIN IMMEDIATE/COMMIT", (), cursor) from exc
        raise


@dataclass(frozen=True)
class Bound:
    """A :class:`Prepared` statement with its arguments, ready for the driver."""

    compiled: _Compiled
    arguments: list[Any]

    def run(self, connection: sa.Connection) -> list[tuple[Any, ...]]:
        return self.compiled.execute(connection, self.arguments)


class _Compiled:
    def __init__(
        self, statement: sa.ClauseElement, dialect: sa.Dialect, plan_per_call: bool
    ) -> None:
        compiled: Any = statement.compile(dialect=dialect)  # a SQLCompiler
        self.compiled = compiled
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError("Prepared statements cannot have expanding (IN) parameters.")
        # psycopg's RawCursor takes $1 placeholders and parses JSON itself; the SQLite and
        # PyMySQL drivers take the dialect's positional placeholders, and JSON as text.
        self.native = dialect.driver == "psycopg"
        if self.native:
            self.sql, self.positional = _native_placeholders(self.sql)
        elif compiled.positiontup is None:  # PyMySQL: %(name)s, sent as positional %s
            self.sql, self.positional = _format_placeholders(self.sql)
        else:
            self.positional = compiled.positiontup
        self.json_binds = frozenset(
            name for name, bind in compiled.binds.items() if isinstance(bind.type, sa.JSON)
        )
        self.json_binder = _json_binder(not self.native)
        # The RETURNING columns of INSERT/UPDATE, the selected ones of a SELECT.
        columns = getattr(statement, "exported_columns", ())  # none for a text() statement
        self.json_columns = tuple(
            i for i, column in enumerate(columns) if isinstance(column.type, sa.JSON)
        )
        # Known here rather than asked of the cursor: psycopg builds its description anew
        # on every access.
        self.returns_rows = len(columns) > 0
        self.options: dict[str, Any] = {"prepare": False} if plan_per_call and self.native else {}

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        values: dict[str, Any] = dict(self.compiled.construct_params(params))
        for name in self.json_binds:
            # As SQLAlchemy's JSON type does (none_as_null=False): None is JSON null.
            values[name] = self.json_binder(values[name])
        return [values[name] for name in self.positional]

    def execute(self, connection: sa.Connection, args: list[Any]) -> list[tuple[Any, ...]]:
        cursor = _cursor(connection, raw=self.native)
        try:
            cursor.execute(self.sql, args, **self.options)
            rows = cursor.fetchall() if self.returns_rows else []
        except connection.dialect.loaded_dbapi.Error as exc:
            connection.info.pop(_CURSOR, None)
            cursor.close()
            raise _wrapped(connection, exc, self.sql, args, cursor) from exc
        if not self.native and self.json_columns:
            return [_parse_json(row, self.json_columns) for row in rows]
        return list(rows)  # psycopg parses json columns itself


_CURSOR = "orionlite_cursor"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _native_placeholders(sql: str) -> tuple[str, list[str]]:
    """SQLAlchemy's ``%(name)s`` placeholders as PostgreSQL's own ``$1``, once, and the
    names in their order.

    psycopg's regular cursor converts a statement's placeholders on every call, and caches
    the conversion only for statements under 4,096 characters, which the acquisition is
    not; its ``RawCursor`` sends the statement as it is.
    """
    names: list[str] = []

    def native(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(native, sql), names


def _format_placeholders(sql: str) -> tuple[str, list[str]]:
    """``%(name)s`` placeholders as ``%s``, and the names in their order (repeated where
    a name is), so that arguments go as a list like every other driver's."""
    names: list[str] = []

    def positional(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%%"
        names.append(name)
        return "%s"

    return _PLACEHOLDER.sub(positional, sql), names


def _cursor(connection: sa.Connection, *, raw: bool) -> Any:
    """The driver cursor kept with the driver's connection (in the pool's ``info`` for
    it), made once instead of per statement: psycopg sets up a new cursor's adapters and
    result loaders from scratch. ``raw``: a psycopg ``RawCursor``,
    which takes ``$1`` placeholders (see ``_native_placeholders``)."""
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    kept = connection.info.get(_CURSOR)
    if kept is not None and kept[0] is dbapi_connection:
        return kept[1]
    cursor: Any
    if raw:
        from psycopg import RawCursor

        cursor = RawCursor(dbapi_connection)  # type: ignore[call-overload]
    else:
        cursor = dbapi_connection.cursor()
    connection.info[_CURSOR] = (dbapi_connection, cursor)
    return cursor


def _json_binder(as_text: bool) -> Callable[[Any], Any]:
    """What a JSON bind parameter's value is passed to the driver as: SQLite and PyMySQL
    take text, psycopg its ``Json`` wrapper. Looked up once per statement, not per value."""
    if as_text:
        return json.dumps
    from psycopg.types.json import Json

    return Json


def _parse_json(row: tuple[Any, ...], indexes: tuple[int, ...]) -> tuple[Any, ...]:
    values = list(row)
    for i in indexes:
        if values[i] is not None:
            values[i] = json.loads(values[i])
    return tuple(values)


def _wrapped(
    connection: sa.Connection, exc: Any, sql: str, args: Any, cursor: Any
) -> sa.exc.StatementError:
    """The error ``Connection.execute`` would have raised, with the same side effect on a
    lost connection (invalidated, so the pool opens a new one for the retry)."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
    if lost:
        connection.invalidate(exc)
    return sa.exc.DBAPIError.instance(
        sql,
        args,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
