"""``hunt`` as a Python function: build or join the experiment, then run workers.

The ``hunt`` command is a thin layer over :func:`hunt`; ``--n-workers`` starts that many
worker processes, each a full masterless worker against the same database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.algorithms import make_algorithm
from orionlite.cmdline import CommandTemplate, parse_command
from orionlite.command_runner import CommandRunner, check_executable
from orionlite.configfile import command_space
from orionlite.creation import build_experiment
from orionlite.errors import ConfigError, ExperimentNotFoundError, WorkerCrashedError
from orionlite.experiment import Experiment, ExperimentSettings
from orionlite.fanout import overall_reason
from orionlite.names import check_new_name
from orionlite.objectives import Objectives
from orionlite.signals import StopRequest, stop_on_signals
from orionlite.stop_channels import StopChannel, file_stop_channel, worker_signals
from orionlite.storage import Storage
from orionlite.storage.sqlite_files import missing_sqlite_file
from orionlite.worker import Worker, WorkerExit, WorkerReport, WorkerSettings
from orionlite.worker_processes import run_processes

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.trial_progress import CommandProgress

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
    #: Create or join this child of ``name`` (SPEC §6; see orionlite.branching).
    branch: str | None = None
    #: Worker processes (``--n-workers``) print warnings only: ``--quiet``, or a live line.
    quiet: bool = False
    #: A trial running longer is stopped and recorded broken ("timeout").
    trial_timeout_s: float | None = None
    #: ``--early-stop``, normalised (``orionlite.stopping``); None keeps the stored rule.
    early_stop: dict[str, Any] | None = None
    #: ``--stop-grace``: seconds between the stop file and SIGTERM, and SIGTERM and SIGKILL.
    stop_grace_s: float = 10.0
    #: ``--objective NAME[:min|:max]`` (repeated) and ``--maximize``; None: as stored.
    objectives: Objectives | None = None


@dataclass
class HuntResult:
    experiment: Experiment
    reason: WorkerExit
    reports: list[WorkerReport]


def prepare(settings: HuntSettings) -> tuple[Experiment, CommandTemplate]:
    """Parse the command, then create or join the experiment; nothing runs yet."""
    storage = Storage(settings.storage)
    if missing_sqlite_file(storage.url) is not None:
        # Nothing exists yet, so the experiment will be new: refuse a bad name first.
        check_new_name(settings.branch or settings.name)
    space = None
    template = parse_command(settings.command) if settings.command else None
    if template is not None:
        check_executable(template.to_json())
        space = command_space(template)
        if settings.algorithm is not None and space:
            make_algorithm(settings.algorithm, space)  # bad input fails before any file exists
    elif settings.branch is None and missing_sqlite_file(storage.url) is not None:
        raise ExperimentNotFoundError(
            f"No experiment {settings.name!r}: the database {storage.display_url} does not "
            "exist yet, and there is no command to create the experiment with.",
            hint=f"Give the command with priors, e.g.: hunt -n {settings.name} -- python "
            "train.py --lr~'loguniform(1e-5, 1)'",
        )
    experiment = build_experiment(
        storage,
        ExperimentSettings(
            name=settings.name,
            space=space,
            algorithm=settings.algorithm,
            command=list(settings.command) if settings.command else None,
            max_trials=settings.max_trials,
            max_broken=settings.max_broken,
            working_dir=settings.working_dir,
            version=settings.version,
            branch=settings.branch,
            early_stop=settings.early_stop,
            objectives=settings.objectives,
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
    if settings.n_workers > 1:
        experiment, _template = prepare(settings)
        _warn_unbounded(experiment)
        return _hunt_in_processes(experiment, settings)
    stop = stop or StopRequest()
    # From the start: a Ctrl-C while the experiment is being joined stops as gracefully as
    # one in the worker's loop.
    with stop_on_signals(stop):
        experiment, template = prepare(settings)
        _warn_unbounded(experiment)
        report = _run_worker(experiment, template, settings, stop)
    return HuntResult(experiment, report.reason, [report])


def _warn_unbounded(experiment: Experiment) -> None:
    if experiment.max_trials is None:
        log.warning(
            "%r has no --max-trials: this hunt runs until stopped (Ctrl-C) or the search "
            "space is exhausted",
            experiment.name,
            extra={"action": "no_max_trials"},
        )


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
        trial_timeout_s=settings.trial_timeout_s,
        progress=progress_watch(experiment, settings.stop_grace_s),
    )
    return Worker(experiment, runner, settings.worker, stop).run()


def progress_watch(
    experiment: Experiment, grace_s: float
) -> Callable[[TrialRecord, Path], CommandProgress]:
    """What follows each trial's progress and stops it under the experiment's rule."""
    from orionlite.experiment import stored_early_stop
    from orionlite.stopping import StopRule
    from orionlite.trial_progress import PROGRESS_LOG, CommandProgress, ProgressMonitor

    rule = StopRule.from_spec(stored_early_stop(experiment.record))

    def watch(trial: TrialRecord, trial_dir: Path) -> CommandProgress:
        monitor = ProgressMonitor(
            experiment.storage, trial, rule, log_path=trial_dir / PROGRESS_LOG
        )
        return CommandProgress(monitor, trial_dir, grace_s)

    return watch


def _worker_process(settings: HuntSettings, channel: StopChannel) -> WorkerReport:
    """Entry point of one ``--n-workers`` process (spawned: nothing inherited).

    An error propagates to :func:`orionlite.worker_processes.run_processes`, which hands it to
    the parent and stops the sibling workers.
    """
    from orionlite.progress_line import configure_worker_logging

    configure_worker_logging(verbose=settings.verbose, quiet=settings.quiet)
    stop = StopRequest()
    with worker_signals(stop, channel):
        experiment, template = prepare(settings)
        return _run_worker(experiment, template, settings, stop)


def _hunt_in_processes(experiment: Experiment, settings: HuntSettings) -> HuntResult:
    """``--n-workers``: spawned workers that stop together (see :mod:`orionlite.fanout`).

    Ctrl-C in a terminal (SIGINT to the whole process group) and SIGTERM to this process
    alone both stop every worker gracefully: running trials become ``interrupted`` and
    the result says INTERRUPTED (exit 130). A second signal forces.
    """
    # Each worker process opens its own connection: this one's would be one more for
    # the server to hold while they run (it reconnects if used again afterwards).
    experiment.storage.close()
    with file_stop_channel() as channel:
        outcomes, _received = run_processes(
            _worker_process, [settings] * settings.n_workers, channel, name="hunt-worker"
        )
    reports = [o.value for o in outcomes if isinstance(o.value, WorkerReport)]
    errors = [o.error for o in outcomes if o.error is not None]
    crashes = [e for e in errors if isinstance(e, WorkerCrashedError)]
    others = [e for e in errors if not isinstance(e, WorkerCrashedError)]
    if others:
        raise others[0]
    for crash in crashes:
        log.warning("%s", crash.message, extra={"action": "worker_crashed"})
    if not reports and crashes:
        raise crashes[0]
    return HuntResult(experiment, overall_reason({r.reason for r in reports}), reports)
