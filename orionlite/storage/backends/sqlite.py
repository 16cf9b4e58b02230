"""SQLite: one write lock for the whole database serialises writers (``BEGIN IMMEDIATE``),
so its statements take the first row that qualifies; see ``reservation``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from orionlite.records import TrialStatus
from orionlite.storage import reservation
from orionlite.storage.backends.base import Acquired, Backend, Finishing


class SqliteBackend(Backend):
    name = "sqlite"

    def is_sqlite(self) -> bool:
        return True

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        return reservation.acquire_sqlite(connection, new_trial, finishing)

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        # A broken trial also gives its budget slot back: a second statement.
        return status is not TrialStatus.BROKEN


SQLITE = SqliteBackend()
