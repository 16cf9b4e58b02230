"""The masterless worker loop: reserve -> run -> record, until there is nothing left.

The CLI (``hunt``) and the Python API (``workon``) both run this loop; only the runner
differs (a command line or a Python function).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orionlite.errors import ReservationLostError, TooManyBrokenTrialsError
from orionlite.experiment import Experiment, Wait
from orionlite.formatting import format_params, format_value, last_broken_details
from orionlite.heartbeat import Heartbeat, lease_seconds
from orionlite.objectives import declared
from orionlite.outcome import TrialOutcome, TrialRunner
from orionlite.records import PendingResult, TrialRecord, TrialStatus
from orionlite.signals import StopRequest

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_S = 30.0
# A worker with nothing to take looks again after _FIRST_POLL_S, then twice as late each
# time up to MAX_POLL_S. When the budget is spent and only others' trials still run, it
# looks with one read (see Worker._others_still_running), so it starts after about twice
# its own last trial's length instead, no sooner than _MIN_POLL_S: trials of a few
# milliseconds are seen to end within a few milliseconds.
_MIN_POLL_S = 0.005
_FIRST_POLL_S = 0.05
MAX_POLL_S = 2.0
# A completed trial that ran for less than this is recorded in the same transaction as
# the worker's next reservation: one commit (fsync) per trial instead of two, and on
# SQLite one write lock. Until then only this worker knows the result: a worker killed in
# between loses it, and the trial runs again once its lease expires, which costs at most
# this long. Longer trials are recorded the moment they end.
_RECORD_WITH_NEXT_BELOW_S = 1.0
# After a completed short trial, the worker suggests its next one from a history read less
# than this long ago, without reading again: it knows its own results, and what it misses
# of the others' is at most this old. Skipping those reads is what makes trials of a
# millisecond cheap (decision 0054).
# Any other end is followed by a read, so --max-broken sees every broken trial at once.
DEFAULT_HISTORY_MAX_AGE_S = 0.05
# The --max-broken message lists at most this many broken trials (the latest ones).
_MAX_BROKEN_LISTED = 10


class WorkerExit(str, enum.Enum):
    """Why a worker left; each maps to one exit code and one closing line."""

    DONE = "done"
    EXHAUSTED = "exhausted"
    WORKER_LIMIT = "worker_limit"
    IDLE = "idle"
    INTERRUPTED = "interrupted"
    #: --max-duration passed: the worker left, giving its running trial back.
    DURATION = "duration"


@dataclass
class WorkerSettings:
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    worker_max_trials: int | None = None
    idle_timeout_s: float | None = None
    max_retries: int = 0
    history_max_age_s: float = DEFAULT_HISTORY_MAX_AGE_S
    #: The worker leaves after this long (its running trial goes back to the pool).
    max_duration_s: float | None = None


@dataclass
class WorkerReport:
    reason: WorkerExit
    worker_id: str
    trials_run: int = 0
    completed: int = 0
    broken: int = 0
    lost: int = 0
    #: Trials this worker gave back to the pool (Ctrl-C, SIGTERM).
    interrupted: int = 0
    pruned: int = 0


def new_worker_id() -> str:
    """Unique per worker run, and readable in ``status`` (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Controls:
    def __init__(self, stop: StopRequest, lost: threading.Event) -> None:
        self._stop = stop
        self._lost = lost

    def interrupted(self) -> bool:
        return self._stop.requested.is_set()

    def forced(self) -> bool:
        return self._stop.forced.is_set()

    def lost(self) -> bool:
        return self._lost.is_set()

    def stop_signal(self) -> int:
        return self._stop.stop_signal()


class Worker:
    """One worker of one experiment. Any number of them may run, anywhere."""

    def __init__(
        self,
        experiment: Experiment,
        runner: TrialRunner,
        settings: WorkerSettings | None = None,
        stop: StopRequest | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.experiment = experiment
        self.runner = runner
        self.settings = settings or WorkerSettings()
        self.stop = stop or StopRequest()
        self.worker_id = worker_id or new_worker_id()
        self._pending: PendingResult | None = None
        self._last_trial_s: float | None = None

    def run(self) -> WorkerReport:
        report = WorkerReport(WorkerExit.DONE, self.worker_id)
        log.debug(
            "worker %s joined %r v%s",
            self.worker_id,
            self.experiment.name,
            self.experiment.version,
            extra={"action": "worker_started"},
        )
        self._heartbeat = Heartbeat(self.experiment.storage, self.settings.heartbeat_s)
        timer = self._start_duration_timer()
        try:
            with self.experiment.storage.keep_connection():
                self._loop(report)
            if self._out_of_time.is_set() and report.reason is WorkerExit.INTERRUPTED:
                report.reason = WorkerExit.DURATION
        except BaseException:
            with contextlib.suppress(Exception):  # the error on its way matters more
                self._settle(report)
            raise
        else:
            self._settle(report)
        finally:
            if timer is not None:
                timer.cancel()
            self._heartbeat.close()
        return report

    def _start_duration_timer(self) -> threading.Timer | None:
        """--max-duration: once it passes, stop like a SIGTERM (the running trial goes
        back to the pool, none starts), but leave as DURATION, not INTERRUPTED."""
        self._out_of_time = threading.Event()
        if self.settings.max_duration_s is None:
            return None

        def expire() -> None:
            self._out_of_time.set()
            self.stop.request(signal.SIGTERM)

        timer = threading.Timer(self.settings.max_duration_s, expire)
        timer.daemon = True
        timer.start()
        return timer

    def _loop(self, report: WorkerReport) -> None:
        lease = lease_seconds(self.settings.heartbeat_s)
        idle_since: float | None = None
        poll: float | None = None
        # When an acquisition last found the budget spent while others' trials ran.
        finishing_since: float | None = None
        while True:
            if self.stop.requested.is_set():
                report.reason = WorkerExit.INTERRUPTED
                return
            if finishing_since is None or not self._others_still_running(finishing_since):
                acquired = self._acquire(report, lease)
                if isinstance(acquired, WorkerExit):
                    report.reason = acquired
                    return
                if isinstance(acquired, TrialRecord):
                    idle_since = poll = finishing_since = None
                    if self.stop.requested.is_set():
                        # Stopped while reserving: give the trial back rather than start it.
                        self._give_back(acquired)
                        report.interrupted += 1
                        report.reason = WorkerExit.INTERRUPTED
                        return
                    if self._run_trial(acquired, report) is TrialStatus.INTERRUPTED:
                        report.reason = WorkerExit.INTERRUPTED
                        return
                    continue
                finishing_since = time.monotonic() if acquired is Wait.FINISHING else None
            now = time.monotonic()
            idle_since = idle_since or now
            timeout = self.settings.idle_timeout_s
            if timeout is not None and now - idle_since >= timeout:
                report.reason = WorkerExit.IDLE
                return
            if poll is None:
                poll = _FIRST_POLL_S if finishing_since is None else self._first_poll_s()
            # Jittered backoff: idle workers should not hammer the database in step.
            self.stop.requested.wait(poll * random.uniform(0.5, 1.5))
            poll = min(MAX_POLL_S, poll * 2)

    def _acquire(self, report: WorkerReport, lease: float) -> TrialRecord | Wait | WorkerExit:
        """The next trial, why to wait (BUSY, FINISHING), or why to leave."""
        # One read of what changed per trial serves both the --max-broken check and the
        # algorithm's suggestion; after a short trial, a read younger than
        # history_max_age_s serves again.
        max_age_s = self.settings.history_max_age_s if self._pending is not None else 0.0
        history = self.experiment.history(reuse_finish_read=True, max_age_s=max_age_s)
        self._check_broken_limit()
        limit = self.settings.worker_max_trials
        if limit is not None and report.trials_run >= limit:
            return WorkerExit.WORKER_LIMIT
        acquired = self.experiment.acquire(self.worker_id, lease, history, self._pending)
        self._settle(report)
        if isinstance(acquired, Wait) and acquired not in (Wait.BUSY, Wait.FINISHING):
            return WorkerExit(acquired.value)
        return acquired

    def _first_poll_s(self) -> float:
        """Twice this worker's last trial, between _MIN_POLL_S and _FIRST_POLL_S."""
        if self._last_trial_s is None:
            return _FIRST_POLL_S
        return min(_FIRST_POLL_S, max(_MIN_POLL_S, 2 * self._last_trial_s))

    def _others_still_running(self, finishing_since: float) -> bool:
        """While the budget is spent: whether only others' running trials remain, nothing
        to take over and no slot to fill, asked with one read. An acquisition would ask
        the same with a write (on SQLite the write lock, which the last workers need to
        record their results). One runs anyway once MAX_POLL_S has passed since the last.
        """
        if time.monotonic() - finishing_since >= MAX_POLL_S:
            return False
        return self.experiment.storage.only_live_reservations(self.experiment.id)

    def _give_back(self, trial: TrialRecord) -> None:
        try:
            self.experiment.storage.finish_trial(trial, TrialStatus.INTERRUPTED)
        except ReservationLostError:
            pass  # someone else has it already: nothing to give back

    def _run_trial(self, trial: TrialRecord, report: WorkerReport) -> TrialStatus | None:
        log.info(
            "trial %s started: %s",
            trial.id,
            _Formatted(format_params, trial.params),
            extra={"action": "trial_started", "trial_id": trial.id},
        )
        lost = self._heartbeat.hold(trial)
        started = time.monotonic()
        # While the trial's process runs, a second Ctrl-C kills it (and the trial is
        # still recorded interrupted); elsewhere it raises KeyboardInterrupt.
        self.stop.trial_running = True
        try:
            outcome = self.runner.run(trial, _Controls(self.stop, lost))
        except BaseException:
            self._heartbeat.drop(trial)
            raise
        finally:
            self.stop.trial_running = False
        report.trials_run += 1
        if outcome.lost:
            self._heartbeat.drop(trial)
            refused = ReservationLostError.result_refused(trial.id, process_stopped=outcome.stopped)
            self._refused(trial, refused, report)
            return None
        self._last_trial_s = time.monotonic() - started
        return self._record(trial, outcome, self._last_trial_s, report)

    def _record(
        self, trial: TrialRecord, outcome: TrialOutcome, ran_s: float, report: WorkerReport
    ) -> TrialStatus | None:
        assert outcome.status is not None
        outcome = declared(outcome, self.experiment.objectives)
        status = outcome.status
        assert status is not None
        values = {
            "objective": outcome.objective,
            "results": outcome.results,
            "exit_code": outcome.exit_code,
            "error": outcome.error,
        }
        if (
            status is TrialStatus.COMPLETED
            and ran_s < _RECORD_WITH_NEXT_BELOW_S
            and not self.stop.requested.is_set()
        ):
            # Recorded with the next reservation, in one transaction (the heartbeat keeps
            # the trial until then): see _RECORD_WITH_NEXT_BELOW_S.
            self._pending = PendingResult(trial, status, values)
            self.experiment.remember(self._pending)
            return status
        self._heartbeat.drop(trial)
        retrying = status is TrialStatus.BROKEN and trial.retries < self.settings.max_retries
        if retrying:
            values["retries"] = trial.retries + 1
        try:
            # Also reads the history's changes for the next trial (one round trip).
            self.experiment.finish(trial, TrialStatus.NEW if retrying else status, **values)
        except ReservationLostError as exc:
            self._refused(trial, exc, report)
            return None
        self._recorded(trial, status, outcome, retrying, report)
        return status

    def _settle(self, report: WorkerReport) -> None:
        """Record the pending result if no reservation took it along, and report it."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            self.experiment.storage.record_pending(pending)
        finally:
            self._heartbeat.drop(pending.trial)
        if pending.lost:
            self._refused(
                pending.trial, ReservationLostError.result_refused(pending.trial.id), report
            )
            return
        outcome = TrialOutcome(pending.status, objective=pending.values["objective"])
        self._recorded(pending.trial, pending.status, outcome, False, report)

    @staticmethod
    def _refused(trial: TrialRecord, exc: ReservationLostError, report: WorkerReport) -> None:
        report.lost += 1
        log.warning("%s", exc, extra={"action": "trial_lost", "trial_id": trial.id})

    def _recorded(
        self,
        trial: TrialRecord,
        status: TrialStatus,
        outcome: TrialOutcome,
        retrying: bool,
        report: WorkerReport,
    ) -> None:
        if status is TrialStatus.COMPLETED:
            report.completed += 1
            log.info(
                "trial %s completed: objective %s",
                trial.id,
                _Formatted(format_value, outcome.objective),
                extra={"action": "trial_completed", "trial_id": trial.id},
            )
        elif status is TrialStatus.PRUNED:
            report.pruned += 1
            log.info(
                "trial %s pruned: %s",
                trial.id,
                outcome.error or "stopped by the experiment's stop rule",
                extra={"action": "trial_pruned", "trial_id": trial.id},
            )
        elif status is TrialStatus.BROKEN:
            report.broken += 1
            first_line = (outcome.error or "").strip().splitlines()[:1]
            log.warning(
                "trial %s broken%s: %s",
                trial.id,
                f" (retry {trial.retries + 1} of {self.settings.max_retries})" if retrying else "",
                first_line[0] if first_line else "no error message",
                extra={"action": "trial_broken", "trial_id": trial.id},
            )
        else:
            report.interrupted += 1
            log.warning(
                "trial %s interrupted: it goes back to the pool",
                trial.id,
                extra={"action": "trial_interrupted", "trial_id": trial.id},
            )

    def _check_broken_limit(self) -> None:
        """Leave once the experiment (all workers together) has ``max_broken`` broken
        trials, saying which broke and why: one line per trial, then the full stderr tail
        of the last one."""
        storage = self.experiment.storage
        record = self.experiment.record
        broken = self.experiment.count(TrialStatus.BROKEN)  # as of the loop's history read
        if record.broken_counted(broken) < record.max_broken:
            return
        # At the limit: read the experiment again, as a requeue or `orionlite set` may
        # have reset the count or raised the limit since this worker started.
        record = storage.get_experiment_by_id(record.id) or record
        self.experiment.record = record
        max_broken = record.max_broken
        if record.broken_counted(broken) < max_broken:
            return
        trials = sorted(
            storage.trials(self.experiment.id, (TrialStatus.BROKEN,)),
            key=lambda t: (t.ended_at or 0.0, t.id),
        )
        # Read just now, the list may hold a trial that broke since the count: say so.
        broken = record.broken_counted(max(broken, len(trials)))
        trials = trials[record.broken_baseline :] if broken < len(trials) else trials
        shown = trials[-_MAX_BROKEN_LISTED:]
        lines = [f"  trial {t.id} ({format_params(t.params)}): {_why(t.error)}" for t in shown]
        if len(trials) > len(shown):
            lines.insert(0, f"  ... and {len(trials) - len(shown)} earlier")
        details = "\n" + "\n".join(lines) if lines else ""
        last = trials[-1] if trials else storage.last_broken_trial(self.experiment.id)
        if last is not None:
            details += last_broken_details(last)
        ids = ", ".join(str(t.id) for t in shown)
        raise TooManyBrokenTrialsError(
            f"Experiment {self.experiment.name!r} stopped: {broken} trials broke "
            f"(--max-broken {max_broken}){f': trials {ids}' if ids else ''}.{details}",
            hint=too_many_broken_hint(self.experiment.name, self.experiment.version),
        )


def too_many_broken_hint(name: str, version: int) -> str:
    """The next steps once --max-broken is reached: the broken trials stay broken, and
    count, until requeued."""
    which = f"-n {name}" if version == 1 else f"-n {name} --version {version}"
    return (
        "Fix the script (each trial's output is in stdout.log and stderr.log in its "
        f"folder), then put the broken trials back and go on: orionlite requeue {which} "
        f"&& hunt {which}. To tolerate more broken trials instead: "
        f"orionlite set {which} --max-broken N (or hunt --max-broken N)."
    )


class _Formatted:
    """Formats a log argument only if the record is emitted: with logging off (the
    Python API's default) a trial should not pay for text nobody reads."""

    def __init__(self, format: Callable[[Any], str], value: Any) -> None:
        self._format = format
        self._value = value

    def __str__(self) -> str:
        return self._format(self._value)


def _why(error: str | None) -> str:
    """One line on why a trial broke: the executor's summary ("The command exited with
    code 1.") and the last line of its stderr, where Python puts the exception."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    # A hint the executor appended is not why the trial broke: the stderr line before it is.
    hints = [line for line in lines if line.startswith("Hint: ")]
    lines = [line for line in lines if not line.startswith("Hint: ")] or lines
    if hints and len(lines) > 1:
        return f"{lines[0].rstrip('.')}: {lines[-1]} ({hints[-1]})"
    if not lines:
        return "no error message was recorded"
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0].rstrip('.')}: {lines[-1]}"
