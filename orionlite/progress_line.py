"""What ``hunt`` shows while it runs (SPEC §7).

In a terminal: one line that updates in place (completed/max, running, broken, best
objective and its trial, elapsed time, rate, ETA), drawn with rich on stderr. Finished
trials scroll above it, one line each. Elsewhere (a pipe, a log file, a batch job),
with ``--quiet`` or with ``--verbose``: plain timestamped log lines only, because escape
codes would garble a log file and ``--verbose`` prints the trials' own output, which
cannot share the terminal with a line redrawn in place.

The line is read from the database, not from the worker loop: a background thread asks
for the counts by status and the best trial about once a second (two cheap, indexed
queries on its own connection). The workers never wait for the display, and with
``--n-workers`` the one line covers every worker of the experiment, wherever it runs.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from orionlite.logs import configure_logging

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from orionlite.storage import Storage

log = logging.getLogger(__name__)

REFRESH_S = 1.0
# The display's own reads give up quickly during an outage: the workers' retries matter,
# a stale line does not.
_MONITOR_OUTAGE_S = 2.0
# Lines not worth a row above the live line: the line itself shows what is running.
_HIDDEN_ACTIONS = frozenset({"trial_started"})


@dataclass(frozen=True)
class Snapshot:
    """The experiment's state at one read, plus this hunt's clock."""

    name: str
    version: int
    counts: dict[str, int]
    max_trials: int | None
    best_objective: float | None
    best_trial_id: int | None
    completed_at_start: int
    started_at: float
    #: The best trial's number in the experiment, shown instead of its id.
    best_trial_number: int | None = None
    #: Several objectives: the size of the Pareto front (best_* are then None).
    front_size: int | None = None

    @property
    def completed(self) -> int:
        # Pruned trials count toward max_trials like completed ones.
        return self.counts.get("completed", 0) + self.counts.get("pruned", 0)

    def rate_per_s(self, now: float) -> float | None:
        """Trials completed per second by everyone since this hunt started, or None."""
        done = self.completed - self.completed_at_start
        elapsed = now - self.started_at
        return done / elapsed if done > 0 and elapsed > 0 else None


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(per_s: float | None) -> str:
    if per_s is None:
        return "-/min"
    per_min = per_s * 60
    return f"{per_min:.1f}/min" if per_min >= 1 else f"{per_min * 60:.1f}/h"


def format_line(snapshot: Snapshot, now: float | None = None) -> str:
    """The one progress line, most important first (a narrow terminal cuts the end), e.g.
    ``12/50 completed · 3 running · 1 broken · best 0.0123 (trial 7) · 0:42 · 17.1/min ·
    ETA 2:13 · exp v1``."""
    now = time.time() if now is None else now
    counts = snapshot.counts
    limit = f"/{snapshot.max_trials}" if snapshot.max_trials else ""
    pruned = counts.get("pruned", 0)
    parts = [
        f"{snapshot.completed}{limit} completed" + (f" ({pruned} pruned)" if pruned else ""),
        f"{counts.get('reserved', 0)} running",
        f"{counts.get('broken', 0)} broken",
    ]
    if snapshot.front_size is not None:
        parts.append(f"Pareto front {snapshot.front_size}")
    elif snapshot.best_trial_id is not None:
        parts.append(
            f"best {snapshot.best_objective:.6g} "
            f"(trial {snapshot.best_trial_number or snapshot.best_trial_id})"
        )
    else:
        parts.append("best -")
    parts.append(format_duration(now - snapshot.started_at))
    rate = snapshot.rate_per_s(now)
    parts.append(format_rate(rate))
    if rate and snapshot.max_trials:
        remaining = max(0, snapshot.max_trials - snapshot.completed)
        parts.append(f"ETA {format_duration(remaining / rate)}")
    parts.append(f"{snapshot.name} v{snapshot.version}")
    return " · ".join(parts)


_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _spinner_frame(now: float) -> str:
    """rich's "dots" spinner, one frame per 80 ms."""
    return _SPINNER[int(now / 0.08) % len(_SPINNER)]


class ExperimentProgress:
    """Reads an experiment's progress from the database, on a connection of its own.

    The experiment is looked up by name on every read: it may not exist yet when ``hunt``
    starts (the first worker creates it), and its limits may be changed by another hunt.
    """

    def __init__(self, storage_url: str | None, name: str, version: int | None = None) -> None:
        self.storage_url = storage_url
        self.name = name
        self.version = version
        self.started_at = time.time()
        self._storage: Storage | None = None
        self._completed_at_start: int | None = None
        self._experiment_id: int | None = None

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            from orionlite.storage import Storage

            self._storage = Storage(
                self.storage_url, outage_deadline_s=_MONITOR_OUTAGE_S, create=False
            )
        return self._storage

    def snapshot(self) -> Snapshot | None:
        """The current state, or None while the experiment does not exist."""
        from orionlite.storage.sqlite_files import missing_sqlite_file

        if missing_sqlite_file(self.storage.url) is not None:
            # Not created yet (watching must not create it): this hunt will create it.
            self._completed_at_start = 0
            return None
        record = self.storage.get_experiment(self.name, self.version)
        if record is None:
            # Created by this hunt, then: everything it completes counts for the rate.
            self._completed_at_start = 0
            return None
        from orionlite.objectives import Objectives, pareto_front
        from orionlite.records import TrialStatus

        counts = self.storage.count_by_status(record.id)
        objectives = Objectives.from_json(record.objectives)
        front = None
        if objectives.several:
            completed = self.storage.trials(record.id, (TrialStatus.COMPLETED,))
            front = len(pareto_front(completed, objectives))
            best = None
        else:
            best = self.storage.best_trial(record.id, objectives)
        values = {status.value: count for status, count in counts.items()}
        if self._experiment_id != record.id:
            if self._completed_at_start is None or self._experiment_id is not None:
                self._completed_at_start = values.get("completed", 0) + values.get("pruned", 0)
            self._experiment_id = record.id
        assert self._completed_at_start is not None
        return Snapshot(
            name=record.name,
            version=record.version,
            counts=values,
            max_trials=record.max_trials,
            best_objective=best.objective if best else None,
            best_trial_id=best.id if best else None,
            best_trial_number=best.number if best else None,
            front_size=front,
            completed_at_start=self._completed_at_start,
            started_at=self.started_at,
        )

    def close(self) -> None:
        if self._storage is not None:
            self._storage.close()


class _LiveLogHandler(logging.Handler):
    """Prints log lines above the live line (rich keeps the line at the bottom)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) in _HIDDEN_ACTIONS:
            return
        try:
            from rich.text import Text

            stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
            style = "yellow" if record.levelno >= logging.WARNING else ""
            self.console.print(Text(f"[{stamp}] {record.getMessage()}", style=style))
        except Exception:
            self.handleError(record)


class LiveProgress:
    """The single updating line, as a context manager around the hunt.

    A background thread polls the database; rich redraws the line several times a second
    (the clock and spinner move even between reads). The line is erased on exit, where
    ``hunt`` prints its closing summary instead.
    """

    def __init__(
        self,
        monitor: ExperimentProgress,
        console: Console | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.monitor = monitor
        self.refresh_s = refresh_s
        self._console = console
        self._live: Live | None = None
        self._snapshot: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_handlers: list[logging.Handler] = []

    def _render(self) -> RenderableType:
        from rich.text import Text

        if self._snapshot is None:
            line = f"{self.monitor.name}  starting..."
        else:
            line = format_line(self._snapshot)
        frame = _spinner_frame(time.monotonic())
        # No wrapping: a narrow terminal cuts the line with an ellipsis, as a wrapped
        # second line would be left behind by the next redraw.
        text = Text.assemble((frame, "cyan"), " ", line, no_wrap=True, overflow="ellipsis")
        text.no_wrap, text.overflow = True, "ellipsis"
        return text

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                snapshot = self.monitor.snapshot()
            except Exception as exc:  # a stale line is better than a dead hunt
                log.debug("progress read failed: %s", exc)
            else:
                if snapshot is not None:
                    self._snapshot = snapshot
            self._stop.wait(self.refresh_s if self._snapshot else min(self.refresh_s, 0.25))

    def __enter__(self) -> LiveProgress:
        from rich.console import Console
        from rich.live import Live

        console = self._console or Console(stderr=True, highlight=False)
        self._live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        logger = logging.getLogger("orionlite")
        self._saved_handlers = list(logger.handlers)
        logger.handlers[:] = [_LiveLogHandler(console)]
        self._live.start()
        self._thread = threading.Thread(target=self._poll, name="orionlite-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_s + _MONITOR_OUTAGE_S)
        if self._live is not None:
            self._live.stop()
        logging.getLogger("orionlite").handlers[:] = self._saved_handlers
        self.monitor.close()


class NoProgress:
    """Plain mode: the log lines configured by the CLI are the whole display."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None


def stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal that can redraw a line (not TERM=dumb)."""
    from rich.console import Console

    console = Console(stderr=True)
    return bool(console.is_terminal) and not console.is_dumb_terminal


def use_live_display(*, quiet: bool, verbose: bool) -> bool:
    return not quiet and not verbose and stderr_is_terminal()


def progress_display(
    storage_url: str | None, name: str, version: int | None, *, live: bool
) -> LiveProgress | NoProgress:
    """The display for one ``hunt``: a live line, or nothing beyond the log lines."""
    if not live:
        return NoProgress()
    return LiveProgress(ExperimentProgress(storage_url, name, version))


class _ClearLineFormatter(logging.Formatter):
    """Erases the current terminal line first, so a worker process's message does not
    land on the end of the live line the parent ``hunt`` is drawing."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return "\r\x1b[2K" + self.inner.format(record)


def configure_worker_logging(*, verbose: bool, quiet: bool) -> None:
    """Logging of one ``--n-workers`` process.

    Under a live line (``quiet`` is then set by ``hunt``) worker processes print only
    warnings, each erasing the line first; the parent redraws it within a second.
    """
    configure_logging(verbose=verbose, quiet=quiet)
    if quiet and sys.stderr.isatty():
        for handler in logging.getLogger("orionlite").handlers:
            handler.setFormatter(_ClearLineFormatter(handler.formatter))
