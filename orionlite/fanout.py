"""Fan-out of masterless workers: in this process, with joblib (loky), with spawned
processes, or on a Dask cluster.

Nothing here hands out trials: every task started is a full :class:`~orionlite.worker.Worker`
(reserve, run, record) against the shared database, so adding workers never adds a
coordinator, and a task that dies loses nothing the database does not give back. The
workers of one fan-out stop together through a stop channel
(:mod:`orionlite.stop_channels`); local processes are spawned by
:mod:`orionlite.worker_processes`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.errors import MissingExtraError, OrionliteError, WorkerCrashedError
from orionlite.signals import StopRequest
from orionlite.stop_channels import (
    DaskStopChannel,
    StopChannel,
    file_stop_channel,
    parent_signals,
    worker_signals,
)
from orionlite.worker_processes import portable_error, run_processes

if TYPE_CHECKING:
    from orionlite.storage import Storage
    from orionlite.worker import WorkerExit, WorkerReport, WorkerSettings


log = logging.getLogger(__name__)

EXECUTORS = ("joblib", "process", "dask")


# -- workon: one task per worker --------------------------------------------------------


@dataclass
class WorkerTask:
    """Everything one ``workon`` worker needs; pickled to wherever it runs.

    The storage travels as its URL and the experiment as its id, so each worker opens its
    own connections and its own history cache (never shared across threads or processes).
    """

    storage_url: str
    experiment_id: int
    fn: Callable[..., Any]
    on_error: str
    settings: WorkerSettings
    working_dir: str | None = None  # absolute, resolved where workon was called
    channel: StopChannel | None = None
    portable: bool = False  # results cross a process boundary


@dataclass
class WorkerResult:
    report: WorkerReport | None
    error: BaseException | None = None
    signum: int | None = None  # a signal this worker received itself


@dataclass
class FanOut:
    results: list[WorkerResult] = field(default_factory=list)
    signum: int | None = None  # the first signal the parent received


def run_worker_task(task: WorkerTask, storage: Storage | None = None) -> WorkerResult:
    """One full masterless worker calling ``task.fn``; never raises (errors are data, so
    a failure cannot make joblib or Dask tear down the workers still running).

    ``storage``: the caller's, when the worker runs in the caller's process (its pooled
    connection and checked schema serve again; it is left open). Elsewhere the worker
    opens its own from ``task.storage_url``.
    """
    from orionlite.experiment import Experiment
    from orionlite.function_runner import FunctionRunner
    from orionlite.storage import Storage
    from orionlite.worker import Worker

    stop = StopRequest()
    owned = storage is None
    storage = storage or Storage(task.storage_url)
    try:
        record = storage.get_experiment_by_id(task.experiment_id)
        if record is None:
            raise OrionliteError(
                f"Experiment id {task.experiment_id} is not in {storage.display_url}.",
                hint="Workers must reach the same database as the caller of workon: use a "
                "PostgreSQL URL (or a shared SQLite file) that every machine can open.",
            )
        experiment = Experiment(storage, record)
        runner = FunctionRunner(
            task.fn,
            experiment=experiment,
            stop=stop,
            on_error=task.on_error,
            working_dir=Path(task.working_dir) if task.working_dir else None,
        )
        with worker_signals(stop, task.channel, runner):
            report = Worker(experiment, runner, task.settings, stop).run()
        error: BaseException | None = runner.failure_error(portable=task.portable)
    except BaseException as exc:
        if task.channel is not None:
            task.channel.set(1)
        return WorkerResult(None, portable_error(exc) if task.portable else exc, stop.signum)
    finally:
        if owned:
            storage.close()
    if error is not None and task.channel is not None:
        task.channel.set(1)
    return WorkerResult(report, error, stop.signum)


def _run_pickled_task(payload: bytes, channel: StopChannel) -> WorkerResult:
    import cloudpickle

    task: WorkerTask = cloudpickle.loads(payload)
    return run_worker_task(replace(task, channel=channel))


def check_picklable(fn: Callable[..., Any], executor: str) -> None:
    """Fail before any worker starts if ``fn`` cannot travel to one."""
    import cloudpickle

    try:
        cloudpickle.dumps(fn)
    except Exception as exc:
        from orionlite.errors import ConfigError

        raise ConfigError(
            f"The function cannot be sent to {executor} workers: {exc}.",
            hint="Keep what it needs (open files, connections, locks) inside the "
            "function, or run it in this process with n_workers=1.",
        ) from exc


def run_workers(
    tasks: Sequence[WorkerTask],
    executor: str,
    *,
    dask_client: Any = None,
    local_storage: Storage | None = None,
) -> FanOut:
    """Run every task to its end with ``executor``; one joblib task runs right here, on
    ``local_storage`` if given (see :func:`run_worker_task`)."""
    if executor == "joblib" and len(tasks) == 1:
        result = run_worker_task(tasks[0], local_storage)
        return FanOut([result], result.signum)
    if local_storage is not None:
        # The workers connect themselves: the caller's connection would sit idle, one
        # more for the server to hold while they run (it reconnects when used again).
        local_storage.close()
    if executor == "joblib":
        return _run_joblib(tasks)
    if executor == "process":
        return _run_process(tasks)
    if executor == "dask":
        return _run_dask(tasks, dask_client)
    raise ValueError(f"unknown executor {executor!r}")


def _run_joblib(tasks: Sequence[WorkerTask]) -> FanOut:
    from joblib import Parallel, delayed

    with file_stop_channel() as channel, parent_signals(channel) as received:
        shipped = [replace(task, channel=channel, portable=True) for task in tasks]
        try:
            # batch_size=1: every task is a worker that runs until the experiment is
            # done, so two in one batch would run one after the other.
            results = Parallel(n_jobs=len(shipped), backend="loky", batch_size=1)(
                delayed(run_worker_task)(task) for task in shipped
            )
        except Exception as exc:
            if received.signum is not None:
                # A Ctrl-C can kill a loky worker still starting up (before it installs
                # handlers); it held no trial yet.
                return FanOut([], received.signum)
            raise WorkerCrashedError(
                f"A joblib worker process failed: {exc}",
                hint="Trials it held go back to the pool once their heartbeat expires.",
            ) from exc
    return FanOut(list(results), received.signum)


def _run_process(tasks: Sequence[WorkerTask]) -> FanOut:
    import cloudpickle

    with file_stop_channel() as channel:
        # cloudpickle, so lambdas and closures travel too; the child unpickles them.
        payloads = [cloudpickle.dumps(replace(task, channel=None, portable=True)) for task in tasks]
        outcomes, received = run_processes(_run_pickled_task, payloads, channel)
    results = [
        outcome.value
        if isinstance(outcome.value, WorkerResult)
        else WorkerResult(None, outcome.error or WorkerCrashedError())
        for outcome in outcomes
    ]
    return FanOut(results, received.signum)


def _run_dask(tasks: Sequence[WorkerTask], client: Any) -> FanOut:
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError(
            "executor='dask' needs dask.distributed, which is not installed.",
            hint="Install it with: pip install 'orionlite[dask]'",
        ) from exc
    client, close = _dask_client(distributed, client, len(tasks))
    try:
        channel = DaskStopChannel(f"orionlite-stop-{uuid.uuid4().hex}", client)
        with parent_signals(channel) as received:
            shipped = [replace(task, channel=channel, portable=True) for task in tasks]
            futures = [
                client.submit(
                    run_worker_task,
                    task,
                    pure=False,
                    key=f"orionlite-worker-{i}-{uuid.uuid4().hex[:8]}",
                )
                for i, task in enumerate(shipped)
            ]
            try:
                results = client.gather(futures)
            except Exception as exc:
                raise WorkerCrashedError(
                    f"A Dask worker failed: {exc}",
                    hint="Trials it held go back to the pool once their heartbeat expires.",
                ) from exc
    finally:
        close()
    return FanOut(list(results), received.signum)


def _dask_client(distributed: Any, client: Any, n_workers: int) -> tuple[Any, Callable[[], None]]:
    """The given client, else the current one, else a LocalCluster of ``n_workers``
    single-threaded processes that is closed afterwards."""
    if client is not None:
        return client, lambda: None
    try:
        return distributed.get_client(), lambda: None
    except ValueError:
        pass
    # No dashboard, and the scheduler's HTTP server on a free port: 8787 may be taken by
    # the user's own cluster (Dask then warns and moves anyway).
    cluster = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
    )
    own = distributed.Client(cluster, set_as_default=False)

    def close() -> None:
        own.close()
        cluster.close()

    return own, close


def overall_reason(reasons: set[WorkerExit]) -> WorkerExit:
    """One reason for many workers: interrupted wins, then the experiment's own end."""
    from orionlite.worker import WorkerExit

    order = (
        WorkerExit.INTERRUPTED,
        WorkerExit.DONE,
        WorkerExit.DURATION,
        WorkerExit.EXHAUSTED,
        WorkerExit.IDLE,
        WorkerExit.WORKER_LIMIT,
    )
    for reason in order:
        if reason in reasons:
            return reason
    return WorkerExit.DONE
