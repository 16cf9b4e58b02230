"""Fan-out of masterless workers: in this process, with joblib (loky), with spawned
processes, or on a Dask cluster.

Nothing here hands out trials: every task started is a full :class:`~orionlite.worker.Worker`
(reserve, run, record) against the shared database, so adding workers never adds a
coordinator, and a task that dies loses nothing the database does not give back. What this
module adds is *stopping them together*:

- A **stop channel** reaches every worker of one fan-out: two files in a temporary folder
  for local processes, two ``distributed.Event`` objects on a Dask cluster. Level 1 asks
  for a graceful stop (running trials become ``interrupted``), level 2 forces it.
- The parent raises the level on SIGINT/SIGTERM, and a worker raises it when it fails (an
  exception under ``on_error="raise"``, too many broken trials), so the others stop too.
- A terminal's Ctrl-C reaches the parent *and* its worker processes; a signal sent to the
  parent alone (``kill``, a batch scheduler) reaches only the parent. Each worker merges
  its own first signal and the channel's level 1 into one graceful request, so one Ctrl-C
  never counts twice and escalates to a forced stop.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from orionlite.errors import MissingExtraError, OrionliteError, WorkerCrashedError
from orionlite.signals import StopRequest

if TYPE_CHECKING:
    from orionlite.storage import Storage
    from orionlite.worker import WorkerExit, WorkerReport, WorkerSettings

log = logging.getLogger(__name__)

EXECUTORS = ("joblib", "process", "dask")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How often a worker's watcher wakes up (to read its channel when due, and to interrupt
# a running call that should stop).
WATCH_INTERVAL_S = 0.1


# -- stop channels ----------------------------------------------------------------------


class StopChannel(Protocol):
    """Shared by every worker of one fan-out; picklable, so it travels with the tasks."""

    #: How often a worker reads it: a stop reaches every worker within this.
    poll_s: float

    def level(self) -> int:
        """0: keep going; 1: stop gracefully; 2: stop now."""
        ...

    def signum(self) -> int | None:
        """The signal that caused the stop, if known (forwarded to trial commands)."""
        ...

    def set(self, level: int, signum: int | None = None) -> None:
        """Raise the level (never lowers it); the first ``signum`` given is kept."""
        ...


class FileStopChannel:
    """Two marker files: local processes of any kind see them without shared memory.

    Files rather than a ``multiprocessing.Event`` because loky workers are not children
    of a context we control, and creating a file is atomic and monotonic.
    """

    poll_s = 0.1

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def level(self) -> int:
        if os.path.exists(os.path.join(self.folder, "force")):
            return 2
        return 1 if os.path.exists(os.path.join(self.folder, "stop")) else 0

    def signum(self) -> int | None:
        try:
            text = Path(self.folder, "stop").read_text()
        except OSError:
            return None
        return int(text) if text.strip().isdigit() else None

    def set(self, level: int, signum: int | None = None) -> None:
        names = ["stop", "force"][: max(0, min(level, 2))]
        for name in names:
            try:  # O_EXCL: the first writer's signal stays
                fd = os.open(os.path.join(self.folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except OSError:  # there already, or the folder is gone (the fan-out ended)
                continue
            with os.fdopen(fd, "w") as marker:
                marker.write(str(signum or ""))


@contextlib.contextmanager
def file_stop_channel() -> Iterator[FileStopChannel]:
    folder = tempfile.mkdtemp(prefix="orionlite-stop-")
    try:
        yield FileStopChannel(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class DaskStopChannel:
    """Two named ``distributed.Event`` objects on the scheduler, so workers on other
    machines see the stop too. Pickles as its name; each side binds to its own client.

    Read once a second: each read is a round trip to the scheduler, made by every worker.
    """

    poll_s = 1.0

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self._client = client
        self._events: tuple[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"])  # type: ignore[misc]

    def bind(self) -> None:
        """Create the events now, in the calling thread (a task's, where a client is found)."""
        if self._events is None:
            from distributed import Event

            self._events = (
                Event(f"{self.name}-stop", client=self._client),
                Event(f"{self.name}-force", client=self._client),
            )

    def level(self) -> int:
        self.bind()
        assert self._events is not None
        stop, force = self._events
        if not stop.is_set():  # one round trip while nothing happens
            return 0
        return 2 if force.is_set() else 1

    def signum(self) -> int | None:
        return None  # Python functions are interrupted the same way by any signal

    def set(self, level: int, signum: int | None = None) -> None:
        # Called from signal handlers too, where a blocking round trip to the scheduler
        # could deadlock with the client call the main thread is waiting in.
        threading.Thread(target=self._set_now, args=(level,), daemon=True).start()

    def _set_now(self, level: int) -> None:
        try:
            self.bind()
            assert self._events is not None
            if level >= 1:
                self._events[0].set()
            if level >= 2:
                self._events[1].set()
        except Exception as exc:  # the cluster is going away; workers stop on their own
            log.debug("could not set the stop event: %s", exc)


# -- signals in the parent and in each worker ------------------------------------------


@dataclass
class ReceivedSignals:
    """What the parent of a fan-out received while its workers ran."""

    signum: int | None = None
    count: int = 0


@contextlib.contextmanager
def parent_signals(channel: StopChannel) -> Iterator[ReceivedSignals]:
    """SIGINT/SIGTERM raise the channel's level instead of killing the parent.

    The parent keeps waiting for its workers, which stop cleanly and report; a second
    signal forces them; a third raises KeyboardInterrupt, to give up on stuck workers.
    Outside the main thread (no handlers possible) this only yields.
    """
    received = ReceivedSignals()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.count += 1
        received.signum = received.signum or signum
        channel.set(2 if received.count >= 2 else 1, received.signum)
        if received.count >= 3:
            # Workers that do not stop even when forced (stuck waiting out a database
            # outage): the user must never be stuck, so give up waiting for them.
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Interruptible(Protocol):
    """A runner whose running call can be interrupted from the main thread's signal
    handler (see :class:`orionlite.function_runner.FunctionRunner`)."""

    def wants_interrupt(self) -> bool: ...

    def on_signal(self) -> None: ...


@contextlib.contextmanager
def worker_signals(
    stop: StopRequest,
    channel: StopChannel | None = None,
    runner: Interruptible | None = None,
) -> Iterator[StopRequest]:
    """Route this worker's signals and its channel to ``stop``.

    - Its own first SIGINT/SIGTERM and the channel's level 1 are one graceful request;
      a second signal of its own, or level 2, forces. The signal (its own, else the
      parent's) is what a command runner forwards to the trial.
    - With ``runner`` in the main thread, a stop (or a lost lease) interrupts the running
      Python call: the watcher sends SIGINT to the main thread, whose handler raises
      KeyboardInterrupt inside the user's function. A call in another thread (Dask) can
      only be stopped once it returns.
    """
    in_main = threading.current_thread() is threading.main_thread()
    main_ident = threading.main_thread().ident
    state = {"own": 0, "nudges": 0}
    previous: dict[int, Any] = {}
    if in_main:

        def handler(signum: int, _frame: FrameType | None) -> None:
            if state["nudges"] > 0:
                state["nudges"] -= 1  # our own nudge, not the user's signal
                if runner is not None:
                    runner.on_signal()
                return
            state["own"] += 1
            if stop.signum is None:
                stop.signum = signum
            stop.requested.set()
            if state["own"] >= 2:
                stop.forced.set()
            if runner is not None:
                runner.on_signal()  # raises inside a running call
            # Nothing running that a forced stop would end (the worker waits on the
            # database, e.g. through an outage): a second signal, or any third, raises
            # so that the user is never stuck, as stop_on_signals does.
            if state["own"] >= 3 or (state["own"] >= 2 and not stop.trial_running):
                raise KeyboardInterrupt

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    done = threading.Event()

    def watch() -> None:
        next_read = 0.0
        while not done.wait(WATCH_INTERVAL_S):
            if channel is not None and time.monotonic() >= next_read:
                next_read = time.monotonic() + channel.poll_s
                try:
                    level = channel.level()
                except Exception as exc:  # e.g. the Dask scheduler is gone
                    log.debug("stop channel unreadable: %s", exc)
                    level = 0
                if level >= 1 and not stop.requested.is_set():
                    if stop.signum is None:  # before ``requested``: runners read it then
                        stop.signum = channel.signum()
                    stop.requested.set()
                if level >= 2:
                    stop.forced.set()
            if in_main and runner is not None and main_ident is not None:
                if runner.wants_interrupt():
                    state["nudges"] += 1
                    signal.pthread_kill(main_ident, signal.SIGINT)

    if channel is not None and isinstance(channel, DaskStopChannel):
        channel.bind()
    watcher = threading.Thread(target=watch, name="orionlite-stop-watcher", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        done.set()
        watcher.join()
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- local worker processes (hunt --n-workers, workon executor="process") ---------------


@dataclass
class ProcessOutcome:
    """What one worker process sent back, or how it died."""

    value: Any = None
    error: BaseException | None = None


def run_processes(
    target: Callable[[Any, StopChannel], Any],
    payloads: Sequence[Any],
    channel: FileStopChannel,
    *,
    name: str = "orionlite-worker",
) -> tuple[list[ProcessOutcome], ReceivedSignals]:
    """Run ``target(payload, channel)`` in one spawned process per payload.

    Spawned, not forked: nothing (database connections, threads, locks) is inherited.
    Each child sends one message on its own pipe, read as soon as it arrives, so a large
    report can never block a child that the parent is waiting for.
    """
    context = multiprocessing.get_context("spawn")
    outcomes: list[ProcessOutcome] = [ProcessOutcome() for _ in payloads]
    started: list[Any] = []
    with parent_signals(channel) as received:
        try:
            readers: dict[Any, tuple[int, Any]] = {}
            for index, payload in enumerate(payloads):
                reader, writer = context.Pipe(duplex=False)
                process = context.Process(
                    target=_child_main,
                    args=(target, payload, channel, writer),
                    name=f"{name}-{index}",
                )
                with _children_ignore_signals():
                    process.start()
                started.append(process)
                writer.close()
                readers[reader] = (index, process)
            _collect(readers, outcomes, channel)
        except BaseException:
            _abandon(started)
            raise
    return outcomes, received


def _collect(
    readers: dict[Any, tuple[int, Any]], outcomes: list[ProcessOutcome], channel: StopChannel
) -> None:
    """Each child's one message, as soon as it is sent; EOF without one means it died."""
    reader: Any  # a Connection; typeshed's wait() returns a wider union
    while readers:
        for reader in multiprocessing.connection.wait(list(readers)):
            index, process = readers.pop(reader)
            try:
                kind, value = reader.recv()
            except (EOFError, OSError):
                kind, value = "died", None
            reader.close()
            process.join()
            if kind == "ok":
                outcomes[index].value = value
            elif kind == "error":
                outcomes[index].error = value
            else:
                outcomes[index].error = WorkerCrashedError(
                    f"Worker process {process.name} ended without reporting "
                    f"({_describe_exit(process.exitcode)}).",
                    hint="Its trial, if any, goes back to the pool once its heartbeat "
                    "expires. Look for an out-of-memory kill or a crash in native code.",
                )
                channel.set(1)


def _abandon(processes: list[Any], grace_s: float = 5.0) -> None:
    """The parent gives up (a third signal): SIGTERM the workers still running, then
    SIGKILL those that ignore it. Their trials return to the pool when their leases end."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def _children_ignore_signals() -> Iterator[None]:
    """Start children with SIGINT/SIGTERM ignored until their handlers are installed.

    Otherwise a Ctrl-C during a child's start-up (imports take a while) prints a
    KeyboardInterrupt traceback and kills it before it can stop cleanly; the parent sets
    the stop channel, which the child reads as soon as it runs. A signal arriving in the
    few milliseconds of the fork is ignored by the parent too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _child_main(
    target: Callable[[Any, StopChannel], Any], payload: Any, channel: StopChannel, writer: Any
) -> None:
    try:
        message: tuple[str, Any] = ("ok", target(payload, channel))
    except BaseException as exc:
        channel.set(1)  # one worker failing stops the others: the parent reports it
        message = ("error", portable_error(exc))
    try:
        writer.send(message)
    except Exception as exc:
        writer.send(("error", WorkerCrashedError(f"A worker could not report: {exc}")))
    writer.close()


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"exit code {exitcode}"


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to cross a process boundary), else a stand-in
    holding its traceback text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return WorkerCrashedError(f"A worker failed:\n{text.rstrip()}")
    return exc


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
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
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
