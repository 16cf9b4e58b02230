"""On SQLite every write is on disk when the call that made it returns, although SQLite
itself no longer flushes inside COMMIT (``storage.wal_flush``, issue 8).

SQLite only: on PostgreSQL durability is the server's (``synchronous_commit``). The flush
is watched, not replaced: the real ``fdatasync`` runs, and the watcher copies the WAL as
it was at that moment, so a flush issued before the COMMIT wrote its frames fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orionlite.records import PendingResult, TrialRecord, TrialStatus
from orionlite.storage import Storage, wal_flush


class FlushWatcher:
    """Each flush of the WAL: the file's descriptor and its bytes just before the flush."""

    def __init__(self, wal: Path) -> None:
        self.wal = wal
        self.flushes: list[tuple[int, bytes]] = []

    def flushed_everything(self) -> bool:
        """Whether the WAL holds nothing that was written after its last flush."""
        return bool(self.flushes) and self.flushes[-1][1] == self.wal.read_bytes()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "orionlite.db"


@pytest.fixture
def watcher(database: Path, monkeypatch: pytest.MonkeyPatch) -> FlushWatcher:
    watching = FlushWatcher(Path(f"{database}-wal"))
    real_flush = wal_flush._flush

    def watched(descriptor: int) -> None:
        size = os.fstat(descriptor).st_size
        watching.flushes.append((descriptor, os.pread(descriptor, size, 0)))
        real_flush(descriptor)

    monkeypatch.setattr(wal_flush, "_flush", watched)
    return watching


@pytest.fixture
def sqlite_storage(database: Path) -> Iterator[Storage]:
    storage = Storage(f"sqlite:///{database}")
    yield storage
    storage.close()


def _flushed(watcher: FlushWatcher, name: str, call: Callable[[], Any]) -> Any:
    """``call()``, checked to have flushed the WAL after the last byte it wrote."""
    before = len(watcher.flushes)
    result = call()
    assert len(watcher.flushes) > before, f"{name}: no flush"
    assert watcher.flushed_everything(), f"{name}: written after the last flush"
    return result


@pytest.mark.parametrize("kept", [False, True], ids=["per-call", "kept-connection"])
def test_every_write_is_flushed_after_its_commit_before_the_call_returns(
    sqlite_storage: Storage,
    watcher: FlushWatcher,
    new_experiment: Callable[..., int],
    kept: bool,
) -> None:
    storage = sqlite_storage
    exp = _flushed(watcher, "create the experiment", lambda: new_experiment(storage, 10))
    with storage.keep_connection() if kept else contextlib.nullcontext():
        first = _flushed(
            watcher, "create a trial", lambda: storage.acquire_trial(exp, {"x": 1}, "h1", "w", 60.0)
        )
        _flushed(watcher, "heartbeat", lambda: storage.heartbeat(first, 60.0))
        pending = PendingResult(first, TrialStatus.COMPLETED, {"objective": 1.0})
        second = _flushed(
            watcher,
            "record a result and create the next trial",
            lambda: storage.acquire_trial(exp, {"x": 2}, "h2", "w", 60.0, pending=pending),
        )
        assert isinstance(second, TrialRecord) and pending.lost is False
        _flushed(
            watcher,
            "record a result alone",
            lambda: storage.finish_trial(second, TrialStatus.COMPLETED, objective=2.0),
        )
        third = storage.acquire_trial(exp, {"x": 3}, "h3", "w", 60.0)
        assert isinstance(third, TrialRecord)
        _flushed(watcher, "interrupt", lambda: storage.finish_trial(third, TrialStatus.INTERRUPTED))
        retaken = _flushed(
            watcher, "reserve an interrupted trial", lambda: storage.reserve_trial(exp, "w2", 60.0)
        )
        assert retaken is not None and retaken.id == third.id
        _flushed(
            watcher,
            "break a trial (its budget slot is given back)",
            lambda: storage.finish_trial(retaken, TrialStatus.BROKEN, error="boom"),
        )
        _flushed(
            watcher, "change max_trials", lambda: storage.update_experiment(exp, max_trials=50)
        )
        count = len(watcher.flushes)
        storage.trials(exp)
        storage.count_by_status(exp)
        assert len(watcher.flushes) == count, "reads flush nothing"


def test_sqlite_does_not_flush_inside_commit_and_the_wal_is_closed_with_the_storage(
    sqlite_storage: Storage, watcher: FlushWatcher, new_experiment: Callable[..., int]
) -> None:
    new_experiment(sqlite_storage)
    with sqlite_storage.engine.connect() as connection:
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert synchronous == 1, "NORMAL: the flush is ours, after the write lock is released"
    descriptors = {descriptor for descriptor, _ in watcher.flushes}
    sqlite_storage.close()
    for descriptor in descriptors:
        with pytest.raises(OSError):
            os.fstat(descriptor)


def test_a_database_without_wal_lets_sqlite_flush_inside_commit(
    tmp_path: Path, watcher: FlushWatcher, new_experiment: Callable[..., int]
) -> None:
    # Without locking (nolock=1) SQLite cannot share a WAL index and stays in
    # rollback-journal mode, as it does on some network file systems.
    storage = Storage(f"sqlite:///file:{tmp_path / 'nolock.db'}?nolock=1&uri=true")
    try:
        exp = new_experiment(storage)
        assert isinstance(storage.acquire_trial(exp, {"x": 1}, "h1", "w1", 60.0), TrialRecord)
        with storage.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        storage.close()
    assert (mode, synchronous) == ("delete", 2), "FULL: SQLite flushes its journal itself"
    assert watcher.flushes == []
