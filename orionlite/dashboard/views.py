"""What the pages show, computed from records: no web framework and no SQL here.

Every string that reaches a page goes through the templates' autoescaping; nothing here
builds HTML.
"""

from __future__ import annotations

import datetime
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orionlite.objectives import MAXIMIZE, Objectives
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.space import Choices, Space

# The end of a trial's stdout/stderr a trial page shows.
LOG_TAIL_BYTES = 16_384
# Intermediate values a trial page lists at most (an even spread, the last one always).
MAX_PROGRESS_ROWS = 200


def branch_tree(records: Sequence[Any]) -> list[tuple[Any, int]]:
    """Items with a ``record`` (or records) in tree order, each with its depth: every
    child (a branch or a later version) right under its parent."""

    def record_of(item: Any) -> ExperimentRecord:
        return item.record if hasattr(item, "record") else item

    ids = {record_of(item).id for item in records}
    children: dict[int | None, list[Any]] = {}
    for item in records:
        parent = record_of(item).parent_id
        children.setdefault(parent if parent in ids else None, []).append(item)
    ordered: list[tuple[Any, int]] = []

    def visit(parent: int | None, depth: int) -> None:
        for item in children.get(parent, []):
            ordered.append((item, depth))
            visit(record_of(item).id, depth + 1)

    visit(None, 0)
    return ordered


def when(timestamp: float | None) -> str:
    """A stored time (UTC seconds) as text; the pages say the zone once."""
    if timestamp is None:
        return ""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def host_of(worker: str | None) -> str:
    """Workers are named host:pid:suffix (worker.new_worker_id)."""
    return worker.split(":", 1)[0] if worker else ""


def dimensions(record: ExperimentRecord) -> list[tuple[str, bool]]:
    """(name, numeric) of each dimension of the search space: numeric ones can be sorted
    and filtered as numbers."""
    space = Space.from_json(record.space)
    return [(name, not isinstance(prior, Choices)) for name, prior in space.items()]


def status_names() -> list[str]:
    """Every status the package knows, from its one list (records.TrialStatus)."""
    return [status.value for status in TrialStatus]


@dataclass(frozen=True)
class Attempt:
    """One line of a trial's status history, from what the trial row keeps."""

    label: str
    time: float | None
    detail: str


def history(trial: TrialRecord) -> list[Attempt]:
    """Created, each reservation it is known to have had, and how it ended.

    The trial row keeps its latest attempt only (``attempt`` counts reservations,
    ``retries`` the automatic re-runs), so earlier attempts appear as a count.
    """
    lines = [Attempt("created", trial.created_at, "")]
    if trial.attempt > 1:
        lines.append(
            Attempt(
                f"{trial.attempt - 1} earlier attempt(s)",
                None,
                f"{trial.retries} automatic retr{'y' if trial.retries == 1 else 'ies'}",
            )
        )
    if trial.started_at is not None or trial.reserved_by:
        lines.append(
            Attempt(
                f"attempt {trial.attempt} started",
                trial.started_at,
                f"worker {trial.reserved_by or '?'} on host {host_of(trial.reserved_by)}",
            )
        )
    if trial.heartbeat_at is not None and trial.status is TrialStatus.RESERVED:
        lines.append(Attempt("last heartbeat", trial.heartbeat_at, ""))
    if trial.ended_at is not None:
        detail = "" if trial.exit_code is None else f"exit code {trial.exit_code}"
        lines.append(Attempt(str(trial.status), trial.ended_at, detail))
    return lines


def trial_folder(record: ExperimentRecord, trial: TrialRecord) -> Path:
    """Where the trial ran, as a worker started in the dashboard's folder would have it
    (relative working folders are taken from each worker's own folder)."""
    default = f"orionlite-runs/{record.name}-v{record.version}"
    return Path(record.working_dir or default).absolute() / str(trial.id)


def log_tail(path: Path) -> str | None:
    """The end of a log file, or None when it cannot be read from here."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return text if size <= LOG_TAIL_BYTES else "…" + text


def command_line(record: ExperimentRecord, trial: TrialRecord, folder: Path) -> str:
    """The command the trial ran, as a shell would show it; the template when it cannot
    be rendered (a parameter the command lacks)."""
    from orionlite.cmdline import CommandTemplate

    if not record.command:
        return ""
    context = {
        "trial.id": str(trial.id),
        "trial.working_dir": str(folder),
        "trial.hash_params": trial.params_hash,
        "exp.name": record.name,
        "exp.version": str(record.version),
        "exp.working_dir": str(folder.parent),
    }
    try:
        return shlex.join(CommandTemplate.from_json(record.command).render(trial.params, context))
    except Exception:  # an old or hand-made command: show what is stored
        return shlex.join(str(part) for part in record.command)


def results_rows(trial: TrialRecord) -> list[Mapping[str, Any]]:
    return [dict(item) for item in trial.results or [] if isinstance(item, Mapping)]


def objectives_of(record: ExperimentRecord) -> Objectives:
    return Objectives.from_json(record.objectives)


def maximized(record: ExperimentRecord) -> bool:
    """Whether the (first) objective is maximised: "best" is then the highest."""
    return objectives_of(record).first.direction == MAXIMIZE


def best_label(overview: Any) -> str:
    """The experiments page's "best" cell: the value ("(max)" when maximised), or the
    Pareto front's size with several objectives."""
    if overview.front_size is not None:
        return f"front: {overview.front_size}"
    if overview.best_objective is None:
        return ""
    suffix = " (max)" if maximized(overview.record) else ""
    return number(overview.best_objective) + suffix


def objective_rows(record: ExperimentRecord, trial: TrialRecord) -> list[tuple[str, str, Any]]:
    """(label, direction, value) of each declared objective, as the trial reported it."""
    objectives = objectives_of(record)
    reported = {
        str(item.get("name")): item.get("value")
        for item in trial.results or []
        if isinstance(item, Mapping) and item.get("type") == "objective"
    }
    rows = []
    for item, name in zip(objectives.items, objectives.names, strict=True):
        value = trial.objective if not objectives.several else reported.get(name)
        rows.append((name, item.direction, value))
    return rows


def constraint_rows(trial: TrialRecord) -> list[tuple[str, Any, bool]]:
    """(name, value, satisfied) of each constraint the trial reported (<= 0 satisfies)."""
    rows = []
    for item in trial.results or []:
        if isinstance(item, Mapping) and item.get("type") == "constraint":
            value = item.get("value")
            ok = isinstance(value, (int, float)) and value == value and value <= 0
            rows.append((str(item.get("name", "")), value, bool(ok)))
    return rows


def progress_rows(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """At most MAX_PROGRESS_ROWS points, spread evenly, the last one always kept."""
    from orionlite.sampling import evenly

    if len(points) <= MAX_PROGRESS_ROWS:
        return list(points)
    return [*evenly(points[:-1], MAX_PROGRESS_ROWS - 1), points[-1]]
