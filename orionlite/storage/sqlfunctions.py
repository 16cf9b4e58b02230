"""SQL expressions whose text differs between SQLite, PostgreSQL and MySQL.

Dialect branches stay here, compiled by SQLAlchemy, so statements elsewhere are written
once for both backends.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class db_now(FunctionElement[float]):
    """The database server's clock in float seconds since the epoch.

    Leases are judged by this clock only, so workers on machines with skewed clocks agree.
    """

    type = sa.Float()
    inherit_cache = True
    name = "db_now"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: Any, **kw: Any) -> str:
    # Short spellings on purpose, here and below: statements are repeated in the hot
    # path, and psycopg caches its parsing of a statement only up to 4096 characters.
    return "extract(epoch from clock_timestamp())::float8"


@compiles(db_now, "mysql")
@compiles(db_now, "mariadb")
def _db_now_mysql(element: db_now, compiler: Any, **kw: Any) -> str:
    # UTC_TIMESTAMP is read as UTC: sessions run in UTC (mysql_session). "+ 0e0": a DOUBLE.
    return "(UNIX_TIMESTAMP(UTC_TIMESTAMP(6)) + 0e0)"


class change_seq(FunctionElement[int]):
    """A value for ``trials.change_seq`` that lets readers fetch only what changed.

    SQLite serialises writers (``BEGIN IMMEDIATE``), so ``MAX + 1`` is taken in commit
    order and a reader may keep the largest value it saw as its watermark.

    PostgreSQL commits concurrently, so a counter can become visible out of order. There
    the marker is the writing transaction's id, and a reader keeps two things from the
    snapshot it read with: its ``xmax`` (every transaction from there on started later)
    and its in-progress list (``xip``: the transactions below xmax it could not see yet).
    Next time it reads the rows marked at or above that xmax or by one of those
    transactions: exactly what it has not seen. (Keeping only the snapshot's ``xmin`` is
    simpler, but any long transaction on the server, in any database, holds xmin back,
    and every read then fetches again everything changed since it began: 50 ms per trial
    after 3,000 trials in docs/benchmarks.md's test.)

    MySQL shows no snapshot to a reader, so there writers of an experiment's trials take
    turns (``backends.mysql.lock_experiment``, which sets the session variable read
    here to the experiment's ``MAX + 1``), and readers keep that experiment's ``MAX + 1``.
    """

    type = sa.BigInteger()
    inherit_cache = True
    name = "change_seq"


@compiles(change_seq, "sqlite")
def _change_seq_sqlite(element: change_seq, compiler: Any, **kw: Any) -> str:
    return "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials)"


@compiles(change_seq, "postgresql")
def _change_seq_postgresql(element: change_seq, compiler: Any, **kw: Any) -> str:
    return "pg_current_xact_id()::text::int8"


class read_horizon(FunctionElement[int]):
    """The watermark a reader keeps after reading (see :class:`change_seq`): on
    PostgreSQL the reading snapshot's xmax. Takes the experiment's id, which MySQL's
    per-experiment markers need."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "read_horizon"


@compiles(read_horizon, "sqlite")
def _read_horizon_sqlite(element: read_horizon, compiler: Any, **kw: Any) -> str:
    return "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials)"


@compiles(change_seq, "mysql")
@compiles(change_seq, "mariadb")
def _change_seq_mysql(element: change_seq, compiler: Any, **kw: Any) -> str:
    return "@orionlite_change_seq"


@compiles(read_horizon, "mysql")
@compiles(read_horizon, "mariadb")
def _read_horizon_mysql(element: read_horizon, compiler: Any, **kw: Any) -> str:
    (experiment_id,) = element.clauses
    return (
        "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials "
        f"WHERE experiment_id = {compiler.process(experiment_id, **kw)})"
    )


@compiles(read_horizon, "postgresql")
def _read_horizon_postgresql(element: read_horizon, compiler: Any, **kw: Any) -> str:
    return "pg_snapshot_xmax(pg_current_snapshot())::text::int8"


class read_in_progress(FunctionElement[list[int]]):
    """PostgreSQL: the transactions in progress in the reading snapshot, as an array
    (see :class:`change_seq`). SQLite has none: its writers are serialised."""

    type = postgresql.ARRAY(sa.BigInteger())  # type: ignore[assignment]
    inherit_cache = True
    name = "read_in_progress"


@compiles(read_in_progress, "sqlite")
@compiles(read_in_progress, "mysql")
@compiles(read_in_progress, "mariadb")
def _read_in_progress_sqlite(element: read_in_progress, compiler: Any, **kw: Any) -> str:
    return "NULL"


@compiles(read_in_progress, "postgresql")
def _read_in_progress_postgresql(element: read_in_progress, compiler: Any, **kw: Any) -> str:
    return "ARRAY(SELECT x::text::int8 FROM pg_snapshot_xip(pg_current_snapshot()) AS x)"


class nulls_last(FunctionElement[Any]):
    """An ORDER BY key, ``column.asc()`` or ``column.desc()``, with NULLs after the values."""

    inherit_cache = True
    name = "nulls_last"


@compiles(nulls_last)
def _nulls_last(element: nulls_last, compiler: Any, **kw: Any) -> str:
    (ordered,) = element.clauses
    return str(compiler.process(ordered.nulls_last(), **kw))


@compiles(nulls_last, "mysql")
@compiles(nulls_last, "mariadb")
def _nulls_last_mysql(element: nulls_last, compiler: Any, **kw: Any) -> str:
    # No NULLS LAST: "IS NULL" (0 for values, 1 for NULL) sorts first.
    (ordered,) = element.clauses
    column = compiler.process(ordered.element, **kw)
    return f"{column} IS NULL, {compiler.process(ordered, **kw)}"
