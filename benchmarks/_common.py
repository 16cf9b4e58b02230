"""Shared plumbing of the benchmarks: databases, worker processes started in step, timing.

Every figure in a comparison comes from the same run, on the same database server (or a
SQLite file in the same folder), so ratios hold even though absolute numbers move with
the machine's load.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_ADMIN_URL = os.environ.get(
    "ORIONLITE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# MariaDB/MySQL: both tools on the same server, each in a database of its own.
MYSQL_ADMIN_URL = os.environ.get(
    "ORIONLITE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
# Only databases with this prefix are ever created or dropped by the benchmarks.
PG_PREFIX = "orionlite_bench_"
# Trials of a throwaway experiment (study) that each worker runs before the clock starts,
# so that one-time costs stay out of trials/s. Twelve, because PostgreSQL plans a
# statement anew for its first ten runs on a connection: psycopg prepares it on the
# server at the sixth, and the server makes custom plans for a prepared statement's first
# five runs (the acquisition: 1.6 ms, then 1.1 ms, then 0.55 ms with the generic plan).
WARM_UP_TRIALS = 12
REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / "bench-results"

# The space both tools search: two continuous dimensions, so no point repeats.
SPACE = {"x": "uniform(-5, 5)", "y": "loguniform(1e-4, 1)"}


def objective(x: float, y: float) -> float:
    """The no-op objective: arithmetic only, so the benchmark measures coordination."""
    return (x - 1.0) ** 2 + y


# Fork is used for the worker processes: the parent has imported the heavy modules but
# holds no database connection when it forks (every engine is disposed first), so each
# child opens its own connections, exactly as a spawned worker would, without paying
# seconds of imports per process on a 2-core machine. Start-up is excluded from timings
# anyway (see run_processes).
CONTEXT = multiprocessing.get_context("fork")


def pg_available() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextlib.contextmanager
def pg_database(label: str) -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards."""
    name = f"{PG_PREFIX}{label}_{uuid.uuid4().hex[:8]}"
    assert name.startswith(PG_PREFIX)
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_ADMIN_URL, name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mysql_connect() -> Any:
    import pymysql
    import sqlalchemy as sa

    url = sa.make_url(MYSQL_ADMIN_URL)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        autocommit=True,
        connect_timeout=3,
    )


def mysql_available() -> str | None:
    """None when the MariaDB/MySQL server answers, else why not."""
    try:
        _mysql_connect().close()
    except Exception as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _mysql_admin(sql: str) -> None:
    connection = _mysql_connect()
    try:
        connection.cursor().execute(sql)
    finally:
        connection.close()


@contextlib.contextmanager
def mysql_database(label: str) -> Iterator[str]:
    """A fresh database on the MariaDB/MySQL server, dropped afterwards."""
    name = f"{PG_PREFIX}{label}_{uuid.uuid4().hex[:8]}"
    assert name.startswith(PG_PREFIX)
    _mysql_admin(f"CREATE DATABASE `{name}`")
    try:
        yield _with_database(MYSQL_ADMIN_URL, name)
    finally:
        _mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def sqlite_folder() -> Iterator[Path]:
    """A scratch folder on the same disk as the repository (not a tmpfs), so fsync is real."""
    SCRATCH.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sqlite-", dir=SCRATCH))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def database(backend: str, label: str) -> Iterator[Callable[[str], str]]:
    """Yields ``url(tool)``: a SQLAlchemy URL per tool, on one server or in one folder."""
    if backend == "sqlite":
        with sqlite_folder() as folder:
            yield lambda tool: f"sqlite:///{folder / (tool + '.db')}"
        return
    make = mysql_database if backend == "mysql" else pg_database
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}

        def url(tool: str) -> str:
            if tool not in urls:
                urls[tool] = stack.enter_context(make(f"{label}_{tool}"))
            return urls[tool]

        yield url


@dataclass
class WorkerResult:
    """What one benchmark worker process reports back."""

    trials: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _child(
    target: Callable[..., WorkerResult], args: tuple[Any, ...], barrier: Any, queue: Any
) -> None:
    prepare, run = target(*args)
    try:
        state = prepare()
    except Exception as exc:
        barrier.abort()
        queue.put(WorkerResult(errors=[f"setup: {type(exc).__name__}: {exc}"]))
        return
    try:
        barrier.wait()
    except threading.BrokenBarrierError:  # another worker's set-up failed: report, not hang
        queue.put(WorkerResult(errors=["setup: another worker's set-up failed"]))
        return
    result = WorkerResult(started=time.perf_counter())
    cpu = time.process_time()
    try:
        run(state, result)
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    result.ended = time.perf_counter()
    result.extra["cpu_s"] = time.process_time() - cpu
    queue.put(result)


@dataclass
class RunFigures:
    """Throughput, integrity and fairness of one multi-process run."""

    workers: int
    seconds: float
    trials: int
    per_worker: list[int]
    errors: list[str]
    extra: list[dict[str, Any]]

    @property
    def rate(self) -> float:
        return self.trials / self.seconds if self.seconds > 0 else 0.0


def run_processes(
    target: Callable[..., tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]],
    args: list[tuple[Any, ...]],
    timeout_s: float = 600.0,
) -> RunFigures:
    """Start one process per ``args`` item, let them all set up, then release them at once.

    The clock starts when the last one is ready (imports, connections and schema checks
    excluded) and stops when the last one finishes its last trial.
    """
    workers = len(args)
    barrier = CONTEXT.Barrier(workers + 1)
    queue = CONTEXT.SimpleQueue()
    processes = [
        CONTEXT.Process(target=_child, args=(target, item, barrier, queue)) for item in args
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=120)
    except Exception:
        pass
    t0 = time.perf_counter()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join(timeout=timeout_s)
        if process.is_alive():
            process.kill()
    ended = max((r.ended for r in results if r.ended), default=t0)
    return RunFigures(
        workers=workers,
        seconds=ended - t0,
        trials=sum(r.trials for r in results),
        per_worker=[r.trials for r in results],
        errors=[e for r in results for e in r.errors],
        extra=[r.extra for r in results],
    )


def wall_times(argv: Sequence[str], repeat: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall-clock seconds of running ``argv`` to completion, ``repeat`` times."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(
            argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        times.append(time.perf_counter() - t0)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def python() -> str:
    return sys.executable
