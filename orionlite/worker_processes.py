"""Local worker processes (``hunt --n-workers``, ``workon(executor="process")``):
spawned with the signals left to the parent, collected as they end, and abandoned
(terminated, then killed) when they do not stop in time."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orionlite.errors import WorkerCrashedError

if TYPE_CHECKING:
    pass

from orionlite.stop_channels import (
    STOP_SIGNALS,
    FileStopChannel,
    ReceivedSignals,
    StopChannel,
    parent_signals,
)

log = logging.getLogger(__name__)


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
