"""The PostgreSQL database the tests start from (``ORIONLITE_TEST_PG_URL``)."""

from __future__ import annotations


def with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def connect_creating_database(admin_url: str) -> None:
    """Connect to ``admin_url``; when the server answers that its database does not exist,
    create it from the server's ``postgres`` database first (a fresh server has no ``test``)."""
    import psycopg

    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
        return
    except psycopg.OperationalError as exc:
        database = admin_url.rpartition("/")[2].split("?")[0]
        if f'database "{database}" does not exist' not in str(exc):
            raise
    with psycopg.connect(
        with_database(admin_url, "postgres"), connect_timeout=3, autocommit=True
    ) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    psycopg.connect(admin_url, connect_timeout=3).close()
