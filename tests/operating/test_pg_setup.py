"""``make test`` on a PostgreSQL server without the database ``test``: it is created
instead of half the suite being skipped."""

from __future__ import annotations

import uuid

import psycopg
from pg_setup import connect_creating_database, with_database


def test_a_missing_test_database_is_created(postgres) -> None:
    name = f"orionlite_missing_{uuid.uuid4().hex[:8]}"
    url = with_database(postgres.admin_url, name)
    try:
        connect_creating_database(url)
        with psycopg.connect(url, connect_timeout=3) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        postgres.drop(name)
