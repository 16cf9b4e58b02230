"""SQLite commits that are on disk before the writer goes on, flushed after the write lock
is released.

With ``synchronous=FULL`` SQLite flushes the WAL inside ``COMMIT``, while it still holds
the database's single write lock, so writers flush one after another and each waits for
every flush before its own. At 8 workers that lock sets the pace (docs/benchmarks.md).
orionlite runs ``synchronous=NORMAL`` instead, under which ``COMMIT`` writes the WAL but
does not flush it, and flushes the WAL itself right after ``COMMIT``, before the call that
wrote returns. The next writer takes the lock during the flush, and flushes that overlap
are done together by the kernel.

Why a writer's commit is then as durable as with FULL: the WAL is only appended to until a
checkpoint has copied all of it into the database, so a flush covers every frame written
before it, the writer's own included. A checkpoint flushes the WAL before it copies and the
database after (what NORMAL does at every checkpoint), and only after a complete
checkpoint may the next writer start the WAL over. A commit that read another's commit
comes after it in the WAL, so its flush covers both.

What it gives up: for the length of one flush (about a millisecond at most here), a reader
can see a commit that a power loss would still roll back; its writer has not returned yet.
docs/reliability.md ("Durability") has the whole argument.
"""

from __future__ import annotations

import os
import sqlite3

_flush = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class WalFlushingConnection(sqlite3.Connection):
    """A driver connection whose ``commit`` returns once the WAL is on disk.

    Made by the driver (``sqlite3.connect(factory=...)``), so every commit SQLAlchemy
    issues goes through it. Statements that commit on their own (no ``BEGIN``) and
    transactions committed on the cursor call :meth:`flush_wal` themselves.
    """

    flushes = True  # False when the database could not use WAL: see engine
    _wal_fd: int | None = None
    _flushed_changes = 0

    def commit(self) -> None:
        super().commit()
        self.flush_wal()

    def flush_wal(self) -> None:
        """Put this connection's committed writes on disk, if it wrote since the last flush."""
        changes = self.total_changes
        if changes == self._flushed_changes or not self.flushes:
            return
        if self._wal_fd is None:
            self._wal_fd = self._open_wal()
        _flush(self._wal_fd)
        self._flushed_changes = changes

    def _open_wal(self) -> int:
        """The WAL file, kept open for this connection's life: SQLite deletes it only when
        the last connection to the database closes, this one included.

        SQLite flushes the folder once after creating the WAL, so that the file itself
        survives a power loss; under NORMAL it would do so only at the first checkpoint,
        so this does it here, once per connection.
        """
        database = self.execute("PRAGMA database_list").fetchone()[2]
        descriptor = os.open(f"{database}-wal", os.O_RDONLY)
        folder = os.open(os.path.dirname(database) or ".", os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return descriptor

    def close(self) -> None:
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        super().close()
