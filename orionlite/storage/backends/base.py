"""The interface every backend implements: the units of work whose statements, locking or
transactions differ between databases. Everything else is written once, in Core."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from orionlite.records import TrialStatus
from orionlite.storage import numbers, reservation

# (outcome, row, finished): see ``Backend.acquire``.
Acquired = tuple[str, tuple[Any, ...] | None, bool | None]
# (id, attempt, values) of the worker's completed previous trial.
Finishing = tuple[int, int, dict[str, Any]]


class Backend:
    """One database's way of running orionlite's units of work."""

    name = ""
    # Whether a reader's watermark is a snapshot (xmax and in-progress transactions) rather
    # than one number (see ``sqlfunctions.change_seq``).
    snapshot_watermarks = False
    # Whether the reservation and acquisition are one statement each, so that they run
    # without BEGIN/COMMIT (``engine.single_statement``); else in a write transaction.
    acquire_is_one_statement = True
    # Whether :meth:`finish_and_read` exists: a result and the history's read in one
    # statement.
    finishes_and_reads = False

    def is_sqlite(self) -> bool:
        return False

    def experiment_created(self, connection: sa.Connection, experiment_id: int, used: int) -> None:
        """Run in the transaction that created the experiment, its trials numbered up to
        ``used`` (a branch's inherited ones)."""

    def experiments_deleted(self, connection: sa.Connection, experiment_ids: list[int]) -> None:
        """Run in the transaction that deleted the experiments."""

    def take_number(self, connection: sa.Connection, experiment_id: int) -> int:
        """The number of a trial inserted by hand: ``MAX + 1`` of the experiment's, exact
        under a write lock (SQLite) or the experiment's turn (MySQL)."""
        first_free = connection.execute(
            sa.select(numbers.next_number_sqlite(sa.literal(experiment_id)))
        )
        return int(first_free.scalar_one())

    @contextmanager
    def schema_lock(self, connection: sa.Connection) -> Iterator[None]:
        """Held while the schema is created or upgraded; SQLite's write transaction
        (``BEGIN IMMEDIATE``) is lock enough."""
        yield

    def insert_unless_taken(
        self, table: sa.Table, values: dict[str, Any], key: list[str]
    ) -> sa.Insert:
        """An INSERT of ``values`` that changes no row where one has the same ``key``
        (unique) columns: no unique violation, which the server would log."""
        return sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=key)

    def insert_new(self, table: sa.Table, values: dict[str, Any]) -> sa.Insert:
        """An INSERT of ``values`` that leaves a row with the same primary key alone."""
        key = [column.name for column in table.primary_key.columns]
        return self.insert_unless_taken(table, values, key)

    def lock_experiment(self, connection: sa.Connection, experiment_id: int) -> None:
        """Run first in a transaction that writes the experiment's trials: where writers
        must take turns (MySQL, see ``sqlfunctions.change_seq``)."""

    def reserve(
        self, connection: sa.Connection, experiment_id: int, worker_id: str, lease_s: float
    ) -> tuple[Any, ...] | None:
        """Reserve the oldest reservable trial; its RECORD_COLUMNS, or None (one statement
        on SQLite and PostgreSQL, shared in ``reservation``)."""
        return reservation.reserve_existing(connection, experiment_id, worker_id, lease_s)

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        """Reserve a waiting trial, else create ``new_trial`` within budget, recording
        ``finishing`` first: (outcome, row, finished), the outcome ``reserved``,
        ``created``, ``duplicate`` or ``budget_spent``; ``finished`` whether
        ``finishing``'s token matched (None without one, or when unknown)."""
        raise NotImplementedError

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        """Whether :meth:`finish` is one statement (no transaction needed around it)."""
        raise NotImplementedError

    def finish(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
    ) -> bool:
        """Record the end of ``trial`` (id, attempt, experiment id) under its token;
        False if the token no longer matches."""
        raise NotImplementedError

    def finish_and_read(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
        since: Any,
    ) -> tuple[bool, list[Any], Any]:
        """:meth:`finish` and the history's changes since ``since`` in one statement:
        (finished, changed trials, next watermark). Only with ``finishes_and_reads``."""
        raise NotImplementedError
