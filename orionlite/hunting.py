"""``hunt`` as a Python function: build or join the experiment, then run workers.

The ``hunt`` command is a thin layer over :func:`hunt`; ``--n-workers`` starts that many
worker processes, each a full masterless worker against the same database.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from orionlite.cmdline import CommandTemplate, parse_command
from orionlite.errors import ConfigError, OrionliteError
from orionlite.executor import CommandRunner, check_executable
from orionlite.experiment import Experiment, ExperimentSettings, build_experiment
from orionlite.signals import StopRequest, stop_on_signals
from orionlite.storage import Storage
from orionlite.worker import Worker, WorkerExit, WorkerReport, WorkerSettings

log = logging.getLogger(__name__)


@dataclass
class HuntSettings:
    """Everything ``hunt`` accepts; the CLI fills it from options and the config file."""

    name: str
    command: list[str] = field(default_factory=list)
    storage: str | None = None
    algorithm: str | dict[str, Any] | None = None
    max_trials: int | None = None
    max_broken: int | None = None
    working_dir: str | None = None
    version: int | None = None
    n_workers: int = 1
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    verbose: bool = False


@dataclass
class HuntResult:
    experiment: Experiment
    reason: WorkerExit
    reports: list[WorkerReport]


def prepare(settings: HuntSettings) -> tuple[Experiment, CommandTemplate]:
    """Parse the command, then create or join the experiment; nothing runs yet."""
    storage = Storage(settings.storage)
    template = parse_command(settings.command) if settings.command else None
    if template is not None:
        check_executable(template.to_json())
    experiment = build_experiment(
        storage,
        ExperimentSettings(
            name=settings.name,
            space=template.space() if template is not None else None,
            algorithm=settings.algorithm,
            command=list(settings.command) if settings.command else None,
            max_trials=settings.max_trials,
            max_broken=settings.max_broken,
            working_dir=settings.working_dir,
            version=settings.version,
        ),
    )
    if template is None:
        if not experiment.record.command:
            raise ConfigError(
                f"Experiment {experiment.name!r} has no stored command to run.",
                hint=f"Give it after --: hunt -n {experiment.name} -- python train.py ...",
            )
        template = parse_command(experiment.record.command)
        check_executable(template.to_json())
    return experiment, template


def hunt(settings: HuntSettings, stop: StopRequest | None = None) -> HuntResult:
    """Run ``settings.n_workers`` workers until the experiment needs no more of them."""
    experiment, template = prepare(settings)
    if settings.n_workers <= 1:
        stop = stop or StopRequest()
        with stop_on_signals(stop):
            report = _run_worker(experiment, template, settings, stop)
        return HuntResult(experiment, report.reason, [report])
    return _hunt_in_processes(experiment, settings)


def _run_worker(
    experiment: Experiment, template: CommandTemplate, settings: HuntSettings, stop: StopRequest
) -> WorkerReport:
    runner = CommandRunner(
        template,
        experiment_name=experiment.name,
        experiment_version=experiment.version,
        experiment_dir=experiment.working_dir,
        storage_url=experiment.storage.url,
        echo_output=settings.verbose,
    )
    return Worker(experiment, runner, settings.worker, stop).run()


def _worker_process(settings: HuntSettings, queue: Any) -> None:
    """Entry point of one ``--n-workers`` process (spawned: nothing inherited)."""
    from orionlite.cli.output import configure_logging

    configure_logging(verbose=settings.verbose, quiet=False)
    stop = StopRequest()
    try:
        with stop_on_signals(stop):
            experiment, template = prepare(settings)
            report = _run_worker(experiment, template, settings, stop)
        queue.put(("report", report))
    except OrionliteError as exc:
        queue.put(("error", exc))


def _hunt_in_processes(experiment: Experiment, settings: HuntSettings) -> HuntResult:
    context = multiprocessing.get_context("spawn")
    queue = context.SimpleQueue()
    processes = [
        context.Process(target=_worker_process, args=(settings, queue), name=f"worker-{i}")
        for i in range(settings.n_workers)
    ]
    for process in processes:
        process.start()

    # A terminal's Ctrl-C reaches every process of the foreground group already; a
    # signal sent to this process alone (kill, a scheduler) is passed on to the workers.
    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                _send(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.join()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    reports: list[WorkerReport] = []
    errors: list[OrionliteError] = []
    while not queue.empty():
        kind, payload = queue.get()
        (reports if kind == "report" else errors).append(payload)
    if errors:
        raise errors[0]
    reasons = {report.reason for report in reports}
    reason = WorkerExit.INTERRUPTED if WorkerExit.INTERRUPTED in reasons else _overall(reasons)
    return HuntResult(experiment, reason, reports)


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _overall(reasons: set[WorkerExit]) -> WorkerExit:
    for reason in (WorkerExit.DONE, WorkerExit.EXHAUSTED, WorkerExit.IDLE, WorkerExit.WORKER_LIMIT):
        if reason in reasons:
            return reason
    return WorkerExit.DONE
