"""SQL expressions whose text differs between SQLite and PostgreSQL.

Dialect branches stay here, compiled by SQLAlchemy, so statements elsewhere are written
once for both backends.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
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
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


class change_seq(FunctionElement[int]):
    """A value for ``trials.change_seq`` that lets readers fetch only what changed.

    SQLite serialises writers (``BEGIN IMMEDIATE``), so ``MAX + 1`` is taken in commit
    order and a reader may keep the largest value it saw as its watermark.

    PostgreSQL commits concurrently, so a counter can become visible out of order. There
    the marker is the writing transaction's id, and readers use the ``xmin`` of their
    snapshot as watermark: every transaction below it has finished, so nothing below it
    can still appear, and rows at or above it are simply read again next time.
    """

    type = sa.BigInteger()
    inherit_cache = True
    name = "change_seq"


@compiles(change_seq, "sqlite")
def _change_seq_sqlite(element: change_seq, compiler: Any, **kw: Any) -> str:
    return "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials)"


@compiles(change_seq, "postgresql")
def _change_seq_postgresql(element: change_seq, compiler: Any, **kw: Any) -> str:
    return "CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)"


class read_horizon(FunctionElement[int]):
    """The watermark a reader keeps after reading (see :class:`change_seq`)."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "read_horizon"


@compiles(read_horizon, "sqlite")
def _read_horizon_sqlite(element: read_horizon, compiler: Any, **kw: Any) -> str:
    return "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM trials)"


@compiles(read_horizon, "postgresql")
def _read_horizon_postgresql(element: read_horizon, compiler: Any, **kw: Any) -> str:
    return "CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)"
