"""orionlite's side of the benchmarks: real ``Worker`` loops with an in-process no-op runner."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

from _common import SPACE, WARM_UP_TRIALS, WorkerResult, objective

from orionlite.creation import build_experiment
from orionlite.experiment import Experiment, ExperimentSettings, open_experiment
from orionlite.outcome import RunControls, TrialOutcome
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space
from orionlite.storage import Storage
from orionlite.worker import Worker, WorkerSettings


class NoopRunner:
    """A TrialRunner whose trial is one line of arithmetic: only coordination is left.

    ``stamps`` records when each trial was handed to the runner, for cost-per-trial
    windows (trials 1-100 against trials 9,900-10,000).
    """

    def __init__(self, keep_stamps: bool = False) -> None:
        self.stamps: list[float] | None = [] if keep_stamps else None

    def run(self, trial: TrialRecord, controls: RunControls) -> TrialOutcome:
        if self.stamps is not None:
            self.stamps.append(time.perf_counter())
        return TrialOutcome(TrialStatus.COMPLETED, objective=objective(**trial.params))


def create(url: str, name: str, max_trials: int, algorithm: str = "random") -> None:
    """Create the experiment (in the parent, before the workers start)."""
    storage = Storage(url)
    build_experiment(
        storage,
        ExperimentSettings(
            name=name,
            space=Space.from_priors(SPACE),
            algorithm=algorithm,
            max_trials=max_trials,
        ),
    )
    storage.close()


def raise_budget(url: str, name: str, max_trials: int) -> None:
    """Let an experiment whose budget is spent run on, up to ``max_trials``."""
    storage = Storage(url)
    storage.update_experiment(open_experiment(storage, name).id, max_trials=max_trials)
    storage.close()


def _instrument() -> dict[str, int]:
    """Counts, in this worker process, the contention retries hidden from the user (each
    failed try once; deadlocks, SQLSTATE 40P01, also on their own) and the database
    connections opened (benchmark instrumentation, nothing is changed)."""
    import sqlalchemy as sa

    from orionlite.storage import retry

    counter = {"contention_retries": 0, "deadlocks": 0, "connections_opened": 0}
    before_sleep = retry.RetryPolicy._before_sleep

    def counting(policy: retry.RetryPolicy, state: Any) -> None:
        # Called once before each retry; is_contention itself runs several times per try.
        failure = state.outcome.exception() if state.outcome else None
        if failure is not None and retry.is_contention(failure):
            counter["contention_retries"] += 1
            counter["deadlocks"] += retry.sqlstate(failure) == "40P01"
        before_sleep(policy, state)

    def connected(*_args: Any) -> None:
        counter["connections_opened"] += 1

    retry.RetryPolicy._before_sleep = counting  # type: ignore[method-assign]
    sa.event.listen(sa.pool.Pool, "connect", connected)
    return counter


def sqlite_flush(flush: str | None) -> None:
    """Benchmark-only: make this process's SQLite connections put commits on disk another
    way than orionlite does (``_bare.FLUSHES``), to measure what durability costs and what
    flushing after the write lock gains: ``inside-commit`` is synchronous=FULL, ``none``
    is NORMAL without orionlite's flush. None or ``after-lock`` (orionlite's) change
    nothing."""
    if flush in (None, "after-lock"):
        return
    import sqlalchemy as sa

    from orionlite.storage import engine

    make = engine._make_sqlite_engine

    def patched(url: Any) -> Any:
        made = make(url)

        @sa.event.listens_for(made, "connect")
        def _flush(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.flushes = False
            if flush == "inside-commit":
                dbapi_connection.execute("PRAGMA synchronous=FULL")

        return made

    engine._make_sqlite_engine = patched  # type: ignore[assignment]


def _warm_up(storage: Storage) -> None:
    """Run a throwaway experiment's first trials in this process, on the storage the
    measured run will use, before the clock starts: what a worker pays once (imports,
    compiling its statements, the server preparing them) is left out of trials/s, as
    connecting is. Optuna's workers warm up the same way (``_optuna.worker``)."""
    from orionlite.client import build_experiment as build_client

    warm = build_client(f"warm-up-{os.getpid()}", SPACE, max_trials=WARM_UP_TRIALS, storage=storage)
    warm.workon(noop, n_workers=1)


def worker(
    url: str, name: str, flush: str | None = None
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """One worker process: open the experiment, then run the worker loop until done."""

    def prepare() -> tuple[Experiment, NoopRunner, dict[str, int]]:
        sqlite_flush(flush)
        counter = _instrument()
        storage = Storage(url)
        experiment = open_experiment(storage, name)
        experiment.history()  # connects and checks the schema, like a worker's start-up
        _warm_up(storage)
        return experiment, NoopRunner(), counter

    def run(state: tuple[Experiment, NoopRunner, dict[str, int]], result: WorkerResult) -> None:
        experiment, runner, counter = state
        try:
            report = Worker(experiment, runner, WorkerSettings()).run()
            result.trials = report.completed
            result.extra["reason"] = report.reason.value
        finally:
            result.extra.update(counter)
            experiment.storage.close()

    return prepare, run


def interleaved_growth(
    url: str, long_name: str, short_name: str, window: int, batch: int
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """One process, two experiments, taking turns: ``batch`` trials of ``short_name`` (its
    trials 1 to ``window``), then ``batch`` trials of ``long_name`` (the last ``window``
    of its history), and so on. Both windows then live through the same moments of this
    machine instead of seconds apart. Only the gaps between stamps of one batch count,
    each a whole cycle (record, read, suggest, reserve); each batch is one ``Worker``
    run (``worker_max_trials``) on the same ``Experiment``, whose history stays current."""

    def prepare() -> tuple[Storage, Experiment, Experiment]:
        storage = Storage(url)
        long_run = open_experiment(storage, long_name)
        short_run = open_experiment(storage, short_name)
        long_run.history()  # the long history is read whole here, before the clock
        short_run.history()
        _warm_up(storage)
        return storage, long_run, short_run

    def run(state: tuple[Storage, Experiment, Experiment], result: WorkerResult) -> None:
        storage, long_run, short_run = state
        gaps: dict[str, list[float]] = {"early": [], "late": []}
        settings = WorkerSettings(worker_max_trials=batch)
        try:
            for _ in range(window // batch):
                for key, experiment in (("early", short_run), ("late", long_run)):
                    runner = NoopRunner(keep_stamps=True)
                    result.trials += Worker(experiment, runner, settings).run().completed
                    stamps = runner.stamps or []
                    gaps[key] += [b - a for a, b in itertools.pairwise(stamps)]
        finally:
            result.extra["gaps"] = gaps
            storage.close()

    return prepare, run


def noop(x: float, y: float) -> float:
    """The objective handed to ``workon``."""
    return objective(x, y)


def workon_available() -> str | None:
    """None when the Python API's ``workon`` can drive the benchmark, else why not."""
    try:
        from orionlite import client
    except Exception as exc:
        return f"orionlite.client does not import: {exc}"
    missing = [n for n in ("build_experiment", "ExperimentClient") if not hasattr(client, n)]
    if missing or not hasattr(client.ExperimentClient, "workon"):
        return "orionlite.client has no build_experiment/workon"
    return None


def workon_worker(
    url: str, name: str, flush: str | None = None
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """One worker process through the public API: ``workon(fn, n_workers=1)`` runs the
    Worker loop with a FunctionRunner in this process. The processes are started by the
    benchmark (not by ``workon(n_workers=k)``) so that all k begin together."""

    def prepare() -> tuple[Any, dict[str, int]]:
        from orionlite import client

        sqlite_flush(flush)
        counter = _instrument()
        experiment = client.build_experiment(name, storage=url)
        experiment.trials()  # connects and checks the schema, like a worker's start-up
        _warm_up(experiment.storage)
        return experiment, counter

    def run(state: tuple[Any, dict[str, int]], result: WorkerResult) -> None:
        experiment, counter = state
        try:
            outcome = experiment.workon(noop, n_workers=1, executor="joblib")
            result.trials = outcome.completed
            result.extra["reason"] = outcome.reason
        finally:
            result.extra.update(counter)
            experiment.close()

    return prepare, run


def integrity(url: str, name: str) -> dict[str, Any]:
    """Completed count, duplicates and trials per worker, read back from the database."""
    storage = Storage(url)
    experiment = open_experiment(storage, name)
    trials = storage.trials(experiment.id)
    storage.close()
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    hashes = [t.params_hash for t in trials]
    per_worker: dict[str, int] = {}
    for trial in completed:
        per_worker[trial.reserved_by or "?"] = per_worker.get(trial.reserved_by or "?", 0) + 1
    return {
        "completed": len(completed),
        "other_status": len(trials) - len(completed),
        "duplicates": len(hashes) - len(set(hashes)),
        "reserved_twice": sum(1 for t in completed if t.attempt != 1),
        "per_worker": sorted(per_worker.values()),
    }


def profiled_worker(
    url: str, name: str
) -> tuple[Callable[[], Any], Callable[[Any, WorkerResult], None]]:
    """``worker`` under cProfile; the report (cumulative and own time) comes back as text."""
    prepare, run = worker(url, name)

    def profiled(state: Any, result: WorkerResult) -> None:
        import cProfile
        import io
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        try:
            run(state, result)
        finally:
            profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        result.extra["profile"] = text.getvalue()

    return prepare, profiled


def explain(url: str, name: str) -> dict[str, list[str]]:
    """The plans of the hot statements, on an experiment that has its full history."""
    from orionlite.storage import queries, reservation
    from orionlite.storage.backends import postgresql, sqlite

    storage = Storage(url)
    experiment = open_experiment(storage, name)
    engine = storage.engine
    dialect = engine.dialect.name
    trial_id = max(t.id for t in storage.trials(experiment.id)) // 2
    # A worker's watermark after it has read everything: what its next refresh asks for.
    watermark = storage.fetch_changed_trials(experiment.id, 0)[1]
    since, unseen = watermark if isinstance(watermark, tuple) else (watermark, ())
    unseen = list(unseen)
    new_trial = reservation.new_trial_parameters(
        experiment.id, {"x": 0.0, "y": 0.5}, "explain", "explain", 60.0, None
    )
    statements: dict[str, tuple[Any, dict[str, Any]]] = {
        "refresh (changed trials + watermark)": (
            queries.changed_trials(storage.backend).statement,
            {"experiment_id": experiment.id, "since": since, "unseen": unseen},
        ),
        "reserve a waiting trial": (
            reservation.RESERVE.statement,
            {"p_experiment_id": experiment.id, "p_worker_id": "explain", "p_lease_s": 60.0},
        ),
        "finish (completed)": (
            reservation.finish_update(("objective",)),
            reservation.finish_parameters(trial_id, 1, TrialStatus.COMPLETED, {"objective": 1.0}),
        ),
        "count by status (--max-broken, API)": (
            queries._COUNT_STATUS,
            {"experiment_id": experiment.id, "status": "broken"},
        ),
    }
    if dialect == "postgresql":
        # As the worker runs it: with the previous trial's result (see Worker._record).
        recorded = {"objective": 1.0, "results": None, "exit_code": 0, "error": None}
        statements["acquire (record the last result, reserve or create: one statement)"] = (
            postgresql._acquire_statement(tuple(sorted(recorded))).statement,
            new_trial | reservation.finish_parameters(trial_id, 1, TrialStatus.COMPLETED, recorded),
        )
    else:
        statements["take a budget slot"] = (sqlite._TAKE_SLOT.statement, new_trial)
        statements["insert reserved trial"] = (sqlite._INSERT_RESERVED.statement, new_trial)
    plans: dict[str, list[str]] = {}
    with engine.connect() as connection:
        if dialect == "postgresql":
            connection.exec_driver_sql("ANALYZE trials")
            connection.commit()
        for label, (statement, params) in statements.items():
            compiled = statement.compile(dialect=engine.dialect)
            bound = compiled.construct_params(params)
            if dialect == "postgresql":
                from psycopg.types.json import Json

                prefix = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                args: Any = {k: Json(v) if isinstance(v, dict) else v for k, v in bound.items()}
            else:
                import json as _json

                prefix = "EXPLAIN QUERY PLAN "
                args = tuple(
                    _json.dumps(bound[k]) if isinstance(bound[k], dict) else bound[k]
                    for k in compiled.positiontup or ()
                )
            with connection.begin() as transaction:
                rows = connection.exec_driver_sql(prefix + str(compiled), args).all()
                transaction.rollback()
            if dialect == "postgresql":
                plans[label] = [row[0] for row in rows]
            else:
                plans[label] = [str(row[-1]) for row in rows]
    storage.close()
    return plans
