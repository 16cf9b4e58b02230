"""Alembic environment: runs on the connection orionlite hands over (or on the URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from orionlite.storage.engine import make_engine
from orionlite.storage.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def run_migrations(conn: sa.Connection) -> None:
    # Batch mode rewrites tables for ALTERs that SQLite cannot do in place.
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run_migrations(connection)
else:
    # orionlite's own engine: the URL as users write it (mysql://, ?pgbouncer=true).
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            run_migrations(conn)
    finally:
        engine.dispose()
