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
from orionlite.storage.queries import Watermark
from orionlite.storage.sqlfunctions import read_horizon, read_in_progress
from orionlite.storage.tables import trials

# (outcome, row, finished): see ``Backend.acquire``.
Acquired = tuple[str, tuple[Any, ...] | None, bool | None]
# (id, attempt, values) of the worker's completed previous trial.
Finishing = tuple[int, int, dict[str, Any]]


class Backend:
    """One database's way of running orionlite's units of work."""

    name = ""
    # The reservation and the acquisition are each one statement (or one script, or a
    # transaction the backend runs itself), so they run without BEGIN/COMMIT around them
    # (``engine.single_statement``).
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

    # -- a reader's watermark (Watermark; see sqlfunctions.change_seq) ------------
    # Here one number: the next change_seq, of the database (SQLite) or of the experiment
    # read (MySQL). The readers (queries, browse) ask these methods, never the dialect.

    def reader_watermark(self, horizon: Any, in_progress: Any) -> Watermark:
        """The watermark a reader keeps from what ``read_horizon`` and
        ``read_in_progress`` returned in its read."""
        return int(horizon)

    def watermark_clause(self) -> sa.ColumnElement[bool]:
        """Trials changed since the watermark in :meth:`watermark_parameters`' binds."""
        return trials.c.change_seq >= sa.bindparam("since", type_=sa.BigInteger)

    def watermark_parameters(self, since: Watermark) -> dict[str, Any]:
        """The bind values of :meth:`watermark_clause` for ``since``."""
        return {"since": since[0] if isinstance(since, tuple) else since}

    def watermark_text(self, mark: Watermark) -> str:
        """A watermark as text for a URL or a page."""
        return str(mark[0] if isinstance(mark, tuple) else mark)

    def watermark_from_text(self, text: str) -> Watermark:
        """The inverse of :meth:`watermark_text`; anything unreadable is 0 (read all)."""
        values = self.watermark_numbers(text)
        return values[0] if values else 0

    @staticmethod
    def watermark_numbers(text: str) -> list[int]:
        """The integers of a watermark's text (``1234`` or ``1234.56.78``), [] if unreadable."""
        try:
            return [int(part) for part in text.split("/")[0].split(".") if part]
        except ValueError:
            return []

    def changed_anywhere(self, connection: sa.Connection, since: str) -> tuple[bool, str]:
        """Whether any experiment's trials changed since ``since`` (text from this method,
        "" at first), and the text to pass next: one indexed probe of the database-wide
        marker (``ix_trials_change_seq``)."""
        state = sa.select(read_horizon(), read_in_progress())
        # The new watermark first: a change committed between the two reads is then seen
        # again next time rather than missed.
        horizon, in_progress = connection.execute(state).one()
        mark = self.watermark_from_text(since)
        probe = sa.select(trials.c.id).where(self.watermark_clause()).limit(1)
        found = connection.execute(probe, self.watermark_parameters(mark)).first() is not None
        return found, self.watermark_text(self.reader_watermark(horizon, in_progress))
