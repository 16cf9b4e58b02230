"""The practical limits: the smallest loops that do what a worker must do, on bare drivers.

Each trial is two commits, as in orionlite: one that takes the trial (a pre-inserted
``new`` row) and one that marks it done. There is no history, no algorithm, no lease
bookkeeping and no Python layer above the driver, so these loops bound what any tool
could reach on this machine with this durability.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from _common import WorkerResult

# Where a commit is put on disk: "inside-commit" (synchronous=FULL: SQLite flushes the WAL
# while it holds the write lock), "after-lock" (NORMAL, then the writer flushes the WAL
# after COMMIT: orionlite's way, see orionlite.storage.wal_flush), "none" (NORMAL alone:
# a power loss may take the last commits).
FLUSHES = ("inside-commit", "after-lock", "none")

_TABLE = "CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL, worker TEXT)"


def sqlite_setup(path: str, n: int) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(_TABLE)
    connection.execute("CREATE INDEX ix_jobs_status ON jobs (status, id)")
    connection.executemany("INSERT INTO jobs (status) VALUES (?)", [("new",)] * n)
    connection.close()


def sqlite_worker(
    path: str, label: str, flush: str = "inside-commit"
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """BEGIN IMMEDIATE; take the oldest new row; COMMIT; BEGIN IMMEDIATE; mark it; COMMIT.

    WAL, a 20 ms busy timeout and short retries, like orionlite, so the comparison is of
    the layers above SQLite only. ``flush`` says where each commit is put on disk (see
    ``FLUSHES``); the issue's practical limit is ``inside-commit`` (synchronous=FULL).
    """
    import os
    import random
    import time

    synchronous = "FULL" if flush == "inside-commit" else "NORMAL"

    def prepare() -> tuple[sqlite3.Connection, int | None]:
        connection = sqlite3.connect(path, isolation_level=None, timeout=0.02)
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("SELECT count(*) FROM jobs").fetchone()  # opens the WAL
        wal = os.open(f"{path}-wal", os.O_RDONLY) if flush == "after-lock" else None
        return connection, wal

    def write(
        connection: sqlite3.Connection,
        wal: int | None,
        sql: str,
        params: tuple[Any, ...],
        result: WorkerResult,
    ) -> Any:
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                result.extra["busy"] = result.extra.get("busy", 0) + 1
                time.sleep(random.uniform(0.0005, 0.005))
                continue
            row = connection.execute(sql, params).fetchone()
            connection.execute("COMMIT")
            if wal is not None:
                os.fdatasync(wal)
            return row

    def run(state: tuple[sqlite3.Connection, int | None], result: WorkerResult) -> None:
        connection, wal = state
        take = (
            "UPDATE jobs SET status = 'reserved', worker = ? WHERE id = "
            "(SELECT id FROM jobs WHERE status = 'new' ORDER BY id LIMIT 1) RETURNING id"
        )
        while True:
            row = write(connection, wal, take, (label,), result)
            if row is None:
                break
            done = "UPDATE jobs SET status = 'done' WHERE id = ?"
            write(connection, wal, done, (row[0],), result)
            result.trials += 1
        connection.close()
        if wal is not None:
            os.close(wal)

    return prepare, run


def pg_setup(url: str, n: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(_TABLE.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"))
        connection.execute("CREATE INDEX ix_jobs_status ON jobs (status, id)")
        connection.execute(
            "INSERT INTO jobs (status) SELECT 'new' FROM generate_series(1, %s)", (n,)
        )
        connection.execute("ANALYZE jobs")


def pg_worker(
    url: str, label: str
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """Take a row with FOR UPDATE SKIP LOCKED and commit; mark it done and commit."""

    def prepare() -> Any:
        import psycopg

        return psycopg.connect(url)

    def run(connection: Any, result: WorkerResult) -> None:
        take = (
            "UPDATE jobs SET status = 'reserved', worker = %s WHERE id = "
            "(SELECT id FROM jobs WHERE status = 'new' ORDER BY id LIMIT 1 "
            "FOR UPDATE SKIP LOCKED) RETURNING id"
        )
        while True:
            row = connection.execute(take, (label,)).fetchone()
            connection.commit()
            if row is None:
                break
            connection.execute("UPDATE jobs SET status = 'done' WHERE id = %s", (row[0],))
            connection.commit()
            result.trials += 1
        connection.close()

    return prepare, run
