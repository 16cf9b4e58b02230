"""PostgreSQL: row locks with ``SKIP LOCKED``, and data-modifying CTEs that make each unit
of the worker's hot path one statement; see ``reservation`` and ``budget``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from orionlite.records import TrialStatus
from orionlite.storage import reservation
from orionlite.storage.backends.base import Acquired, Backend, Finishing
from orionlite.storage.numbers import SEQUENCE_PREFIX
from orionlite.storage.queries import Watermark
from orionlite.storage.tables import trials

# "orion": the advisory lock, held to the end of the transaction, that serialises creations
# and upgrades of the schema.
_SCHEMA_LOCK_KEY = 0x6F72696F6E


class PostgresqlBackend(Backend):
    name = "postgresql"
    snapshot_watermarks = True
    finishes_and_reads = True

    def experiment_created(self, connection: sa.Connection, experiment_id: int, used: int) -> None:
        # The experiment's trial numbers: a sequence of its own, so no creation waits for
        # another's commit (storage.numbers).
        connection.execute(
            sa.text(
                f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE_PREFIX}{int(experiment_id)} "
                f"MINVALUE 1 START {int(used) + 1}"
            )
        )

    def experiments_deleted(self, connection: sa.Connection, experiment_ids: list[int]) -> None:
        for experiment_id in experiment_ids:
            connection.execute(
                sa.text(f"DROP SEQUENCE IF EXISTS {SEQUENCE_PREFIX}{int(experiment_id)}")
            )

    @contextmanager
    def schema_lock(self, connection: sa.Connection) -> Iterator[None]:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        yield

    def insert_unless_taken(
        self, table: sa.Table, values: dict[str, Any], key: list[str]
    ) -> sa.Insert:
        return postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=key)

    def take_number(self, connection: sa.Connection, experiment_id: int) -> int:
        return int(
            connection.execute(
                sa.text("SELECT nextval(to_regclass(:name))"),
                {"name": SEQUENCE_PREFIX + str(experiment_id)},
            ).scalar_one()
        )

    def acquire(
        self,
        connection: sa.Connection,
        new_trial: dict[str, Any],
        finishing: Finishing | None = None,
    ) -> Acquired:
        return reservation.acquire_postgresql(connection, new_trial, finishing)

    def finish_is_one_statement(self, status: TrialStatus) -> bool:
        return True  # a broken trial's slot is given back by a CTE of the same statement

    def finish_and_read(
        self,
        connection: sa.Connection,
        trial: tuple[int, int, int],
        status: TrialStatus,
        values: dict[str, Any],
        since: Any,
    ) -> tuple[bool, list[Any], Any]:
        return reservation.finish_and_read_postgresql(connection, trial, status, values, since)

    # -- a reader's watermark: its snapshot's xmax and in-progress transactions ------------

    def reader_watermark(self, horizon: Any, in_progress: Any) -> Watermark:
        return int(horizon), tuple(int(xid) for xid in in_progress or ())

    def watermark_clause(self) -> sa.ColumnElement[bool]:
        # At or above the snapshot's xmax, or written by a transaction it could not see.
        unseen = sa.bindparam("unseen", type_=postgresql.ARRAY(sa.BigInteger()))
        return sa.or_(super().watermark_clause(), trials.c.change_seq == sa.any_(unseen))

    def watermark_parameters(self, since: Watermark) -> dict[str, Any]:
        since_xmax, unseen = since if isinstance(since, tuple) else (since, ())
        return {"since": since_xmax, "unseen": list(unseen)}

    def watermark_text(self, mark: Watermark) -> str:
        horizon, in_progress = mark if isinstance(mark, tuple) else (mark, ())
        return ".".join(str(value) for value in (horizon, *in_progress))

    def watermark_from_text(self, text: str) -> Watermark:
        values = self.watermark_numbers(text)
        return (values[0], tuple(values[1:])) if values else 0


POSTGRESQL = PostgresqlBackend()
