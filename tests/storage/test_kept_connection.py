"""A worker's loop keeps one pooled connection and one driver cursor (issue 8) and gives
them back whenever something went wrong, except contention, which is retried on the same
connection; every thread of the process shares that one connection (issue 19). Each test
runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage
from orionlite.storage import connection as storage_connection
from orionlite.storage.engine import _CURSOR, Prepared, _native_placeholders, make_engine


@pytest.fixture
def exp(storage: Storage, new_experiment: Callable[..., int]) -> int:
    return new_experiment(storage)


@pytest.fixture
def checkouts(storage: Storage, exp: int) -> Iterator[list[Any]]:
    """The driver connection of every pool checkout after ``exp`` was made, in order."""
    seen: list[Any] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        seen.append(dbapi_connection)

    sa.event.listen(storage.engine, "checkout", on_checkout)
    yield seen
    sa.event.remove(storage.engine, "checkout", on_checkout)


def _work(storage: Storage, exp: int) -> None:
    """A worker's units of work: reads, single statements and a write transaction."""
    x = len(storage.trials(exp))
    trial = storage.acquire_trial(exp, {"x": x}, f"hash-{x}", "w1", 60.0)
    assert isinstance(trial, TrialRecord)
    storage.fetch_changed_trials(exp, 0)
    storage.finish_trial(trial, TrialStatus.COMPLETED, objective=1.0)
    storage.count_by_status(exp)


def test_units_of_work_share_one_checkout_within_the_block(
    storage: Storage, exp: int, checkouts: list[Any]
) -> None:
    _work(storage, exp)
    assert len(checkouts) >= 4, "outside the block, each unit of work checks out"

    checkouts.clear()
    with storage.keep_connection():
        _work(storage, exp)
        storage.get_trial(1)
    assert len(checkouts) == 1
    assert storage.engine.pool.checkedout() == 0, "given back when the block ends"


def test_statements_reuse_the_driver_cursor(storage: Storage, exp: int) -> None:
    with storage.keep_connection():
        storage.fetch_changed_trials(exp, 0)
        other_engine = make_engine(storage.url)
        with other_engine.connect() as other:  # a second connection: not the kept one
            assert other.info.get(_CURSOR) is None
        other_engine.dispose()
        kept = storage._kept
        cursor = kept.info[_CURSOR][1]
        _work(storage, exp)
        assert storage._kept is kept
        assert kept.info[_CURSOR][1] is cursor


def test_a_failure_gives_the_connection_back_and_the_next_unit_checks_out(
    storage: Storage, exp: int, checkouts: list[Any]
) -> None:
    with storage.keep_connection():
        storage.fetch_changed_trials(exp, 0)
        failing = storage._kept
        with pytest.raises(sa.exc.IntegrityError):
            # A second experiment with the same name and version breaks a constraint.
            storage._run(
                lambda c: c.execute(
                    sa.text(
                        "INSERT INTO experiments (name, version, space, algorithm, "
                        "max_broken, metadata, created_at) SELECT name, version, space, "
                        "algorithm, max_broken, metadata, created_at FROM experiments"
                    )
                ),
                write=True,
            )
        assert storage._kept is None
        assert failing.closed
        _work(storage, exp)  # nothing left half-done on the connection the next unit gets
        assert storage._kept is not None
    assert len(checkouts) == 2
    assert storage.count_by_status(exp)[TrialStatus.COMPLETED] == 1


def _contend(connection: sa.Connection, backend: str) -> None:
    """Fail the way a busy database does: SQLite's write lock held by another
    connection (released a moment later), a PostgreSQL serialization failure, a MySQL
    deadlock."""
    if backend == "mysql":
        connection.exec_driver_sql(
            "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'busy'"
        )
        return
    if backend == "postgresql":
        connection.exec_driver_sql(
            "DO $$ BEGIN RAISE EXCEPTION 'busy' USING ERRCODE = 'serialization_failure'; END $$"
        )
        return
    holder = sqlite3.connect(
        connection.engine.url.database, isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: (holder.rollback(), holder.close())).start()
    connection.exec_driver_sql("UPDATE trials SET retries = retries")  # waits, then fails


def test_contention_is_retried_on_the_same_connection(
    storage: Storage, exp: int, checkouts: list[Any]
) -> None:
    """Meeting the lock leaves the connection as good as it was: at 8 workers on SQLite
    a new checkout per retry was a measurable part of a worker's time."""
    used: list[sa.Connection] = []

    def work(connection: sa.Connection) -> int:
        used.append(connection)
        if len(used) == 1:
            _contend(connection, storage.dialect)
        return int(connection.execute(sa.text("SELECT COUNT(*) FROM trials")).scalar_one())

    with storage.keep_connection():
        storage.fetch_changed_trials(exp, 0)
        kept = storage._kept
        assert storage._run(work, write=False) == 0
        assert storage._kept is kept
        _work(storage, exp)
    assert len(used) == 2 and used[0] is used[1] is kept
    assert len(checkouts) == 1
    assert storage.count_by_status(exp)[TrialStatus.COMPLETED] == 1


def test_a_connection_unused_for_long_goes_back_before_its_next_use(
    storage: Storage, exp: int, checkouts: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long trial: the pool checks out anew (and recycles) as it did without keeping."""
    monkeypatch.setattr(storage_connection, "_KEEP_IDLE_S", 0.0)
    with storage.keep_connection():
        storage.fetch_changed_trials(exp, 0)
        storage.fetch_changed_trials(exp, 0)
    assert len(checkouts) == 2
    assert storage.engine.pool.checkedout() == 0


def test_other_threads_share_the_kept_connection(
    storage: Storage, exp: int, checkouts: list[Any]
) -> None:
    """The heartbeat thread (or a user's) uses the worker's connection between the
    loop's units of work: a server at its connection limit would refuse a second one."""
    with storage.keep_connection():
        storage.fetch_changed_trials(exp, 0)
        kept = storage._kept
        thread = threading.Thread(target=lambda: storage.fetch_changed_trials(exp, 0))
        thread.start()
        thread.join()
        assert storage._kept is kept
        assert storage.engine.pool.checkedout() == 1
    assert len(checkouts) == 1
    assert storage.engine.pool.checkedout() == 0


def test_threads_take_turns_on_the_one_connection(storage: Storage, exp: int) -> None:
    """Units of work from several threads at once never open a second connection."""
    opened = storage.connections_opened
    errors: list[BaseException] = []

    def read_many() -> None:
        try:
            for _ in range(30):
                storage.fetch_changed_trials(exp, 0)
        except BaseException as exc:
            errors.append(exc)

    with storage.keep_connection():
        threads = [threading.Thread(target=read_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        _work(storage, exp)
        for thread in threads:
            thread.join()
    assert errors == []
    assert storage.connections_opened - opened <= 1


def test_prepared_statements_bind_repeated_names_and_keep_literal_percents(
    storage: Storage,
) -> None:
    """On PostgreSQL the statement goes to the server with ``$1`` placeholders made once
    (``engine._native_placeholders``): a name used twice is one parameter, and a ``%`` in
    the SQL stays a ``%``."""
    x = sa.bindparam("x", type_=sa.Integer)
    statement = sa.select(
        (x + x).label("twice"),
        sa.literal_column("'100%'").label("text"),
        sa.bindparam("y", type_=sa.String).label("y"),
    )
    with storage.engine.connect() as connection:
        rows = Prepared(statement).run(connection, {"x": 21, "y": "a%(b)s"})
    assert rows == [(42, "100%", "a%(b)s")]


def test_native_placeholders_number_each_name_once() -> None:
    sql, names = _native_placeholders("a = %(x)s AND b = %(y)s OR c = %(x)s AND d LIKE 'z%%'")
    assert (sql, names) == ("a = $1 AND b = $2 OR c = $1 AND d LIKE 'z%'", ["x", "y"])
