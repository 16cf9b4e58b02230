"""A running trial's intermediate values, on the worker's side: kept, stored in batches
under the trial's fencing token, judged by the experiment's stop rule after each batch,
and, for a command, the stop sequence (stop file, SIGTERM, SIGKILL).

A batch is one transaction however many values it holds, and one read of the other
trials' values for the rule: a trial that reports every few milliseconds costs the
database one write and one read per ``FLUSH_S``, while a trial reporting once per long
epoch has each value stored and judged at once.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from orionlite.outcome import TrialOutcome
from orionlite.progress_file import ProgressFile, ProgressRead
from orionlite.records import TrialRecord, TrialStatus
from orionlite.reporting import PROGRESS_PATH_ENV, STOP_PATH_ENV
from orionlite.stopping import StopRule

if TYPE_CHECKING:
    from orionlite.storage import Storage

log = logging.getLogger(__name__)

# Values that arrive sooner than this after the last batch wait for the next one.
FLUSH_S = 0.2
DEFAULT_STOP_GRACE_S = 10.0
PROGRESS_LOG = "progress.log"


class ProgressMonitor:
    """One attempt of one trial. ``stop_reason`` is set once the rule stops it."""

    def __init__(
        self,
        storage: Storage,
        trial: TrialRecord,
        rule: StopRule,
        *,
        log_path: Path | None = None,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.storage = storage
        self.trial = trial
        self.rule = rule
        self.log_path = log_path
        self.flush_s = flush_s
        self.points: list[tuple[int, float]] = []
        self.stop_reason: str | None = None
        self.refused = False
        self._unsent: list[tuple[int, float]] = []
        self._last_flush = -math.inf

    @property
    def last_step(self) -> int | None:
        return self.points[-1][0] if self.points else None

    @property
    def last_value(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def take(self, read: ProgressRead) -> None:
        """Take in what a read of the progress file found."""
        self.warn(read.warnings)
        self.points.extend(read.points)
        self._unsent.extend(read.points)
        if read.non_finite and self.rule.stops_non_finite() and self.stop_reason is None:
            self.stop_reason = f"it reported a non-finite value (line {read.non_finite[0]})"

    def warn(self, messages: list[str]) -> None:
        """Protocol warnings: into the trial's ``progress.log`` and the worker's log."""
        if not messages:
            return
        for message in messages:
            log.warning(
                "trial %s progress: %s",
                self.trial.id,
                message,
                extra={"action": "progress_warning", "trial_id": self.trial.id},
            )
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.writelines(f"warning: {message}\n" for message in messages)

    def flush(self, *, force: bool = False, judge: bool = True) -> None:
        """Store the values not stored yet, if the last batch is ``FLUSH_S`` old (or
        ``force``), then ask the rule about them (unless ``judge`` is False)."""
        now = time.monotonic()
        if (
            not self._unsent
            or self.refused
            or (not force and now - self._last_flush < self.flush_s)
        ):
            return
        batch, self._unsent = self._unsent, []
        self._last_flush = now
        if not self.storage.record_progress(self.trial, batch):
            self.refused = True
            log.warning(
                "trial %s: its progress was refused, as another worker holds it now "
                "(this worker's lease ran out)",
                self.trial.id,
                extra={"action": "progress_refused", "trial_id": self.trial.id},
            )
            return
        if judge and self.stop_reason is None and self.rule.stops_anything:
            self.stop_reason = self._judge(batch)

    def _judge(self, batch: list[tuple[int, float]]) -> str | None:
        steps = self.rule.steps_to_compare([step for step, _ in batch])
        others: dict[int, list[float]] = {}
        if steps:
            others = self.storage.values_at_steps(self.trial.experiment_id, steps, self.trial.id)
        return self.rule.decide(self.points, batch, others)

    def report(self, step: int, value: float) -> bool:
        """A value reported in-process (``trial.report``); returns whether to stop."""
        read = ProgressRead()
        last = self.last_step
        if last is not None and step <= last:
            read.warnings.append(
                f"step {step} does not increase (the last one was {last}); ignored"
            )
        elif not math.isfinite(value):
            read.warnings.append(f"value {value!r} at step {step} is not finite; ignored")
            read.non_finite.append(step)
        else:
            read.points.append((step, value))
        self.take(read)
        self.flush()
        return self.stop_reason is not None

    def pruned(self, ended: TrialOutcome) -> TrialOutcome:
        """The outcome of a trial stopped by the rule: ``pruned``, its last value as its
        objective, whatever the process did after being asked to stop."""
        value = self.last_value
        results = (
            None if value is None else [{"name": "objective", "type": "objective", "value": value}]
        )
        where = f" at step {self.last_step}" if self.last_step is not None else ""
        return TrialOutcome(
            TrialStatus.PRUNED,
            objective=value,
            results=results,
            exit_code=ended.exit_code,
            error=f"Stopped{where} by the {self.rule.name} rule: {self.stop_reason}.",
        )


class CommandProgress:
    """A command trial's progress file and stop sequence, driven by the runner's loop:
    :meth:`poll` while the process runs, :meth:`conclude` once it exited."""

    def __init__(self, monitor: ProgressMonitor, trial_dir: Path, grace_s: float) -> None:
        self.monitor = monitor
        attempt = monitor.trial.attempt
        # Per attempt, like the results file: a stale worker's files never mix with the
        # new owner's.
        self.progress_path = trial_dir / f"progress-attempt{attempt}.jsonl"
        self.stop_path = trial_dir / f"stop-attempt{attempt}"
        self.progress_path.unlink(missing_ok=True)
        self.stop_path.unlink(missing_ok=True)
        self.file = ProgressFile(self.progress_path)
        self.grace_s = grace_s
        self._stop_at: float | None = None
        self._signalled = 0

    def environment(self) -> dict[str, str]:
        return {PROGRESS_PATH_ENV: str(self.progress_path), STOP_PATH_ENV: str(self.stop_path)}

    @property
    def stopping(self) -> bool:
        return self._stop_at is not None

    def poll(self, pid: int) -> None:
        self.monitor.take(self.file.read())
        self.monitor.flush()
        now = time.monotonic()
        if self._stop_at is None:
            if self.monitor.stop_reason is not None and not self.monitor.refused:
                self._begin_stop(now)
            return
        # Stop file first; after one grace period SIGTERM to the group, after another
        # SIGKILL: a trial that ignores both is killed all the same.
        elapsed = now - self._stop_at
        if self._signalled == 0 and elapsed >= self.grace_s:
            self._signal(pid, signal.SIGTERM)
        elif self._signalled == 1 and elapsed >= 2 * self.grace_s:
            self._signal(pid, signal.SIGKILL)

    def _begin_stop(self, now: float) -> None:
        trial = self.monitor.trial
        log.info(
            "trial %s stopped by the %s rule: %s",
            trial.id,
            self.monitor.rule.name,
            self.monitor.stop_reason,
            extra={"action": "trial_stopping", "trial_id": trial.id},
        )
        self.stop_path.touch()
        self._stop_at = now

    def _signal(self, pid: int, signum: int) -> None:
        self._signalled += 1
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass

    def conclude(self, outcome: TrialOutcome) -> TrialOutcome:
        """The trial's outcome once its process exited: its last values stored, and
        ``pruned`` if the rule had stopped it."""
        if outcome.lost:
            return outcome
        self.monitor.take(self.file.read(final=True))
        self.monitor.flush(force=True, judge=False)
        if self._stop_at is None:
            return outcome
        return self.monitor.pruned(outcome)
