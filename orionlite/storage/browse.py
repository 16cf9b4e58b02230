"""Read-only queries behind the dashboard: summaries, one page of trials, samples, changes.

Every read is a handful of short statements on a read-only engine (``storage.readonly``),
and none reads a whole history into memory: the trials table is sorted, filtered and cut
into pages by the database, plots read bounded samples, and live updates read only the
rows whose change marker moved (the workers' own ``change_seq``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import sqlalchemy as sa

from orionlite.objectives import MAXIMIZE, Objectives, feasible
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.storage import queries
from orionlite.storage.backends import backend_for
from orionlite.storage.plot_reads import FrontPoints, read_front
from orionlite.storage.progress import Point, select_progress
from orionlite.storage.readonly import check_readable, readonly_engine
from orionlite.storage.sqlfunctions import db_now, nulls_last, read_horizon, read_in_progress
from orionlite.storage.tables import experiments, trial_progress, trials

T = TypeVar("T")

# Columns the trials table can be sorted by; parameters sort as "param:<name>".
SORT_COLUMNS = {
    "id": trials.c.id,
    "status": trials.c.status,
    "objective": trials.c.objective,
    "created": trials.c.created_at,
    "started": trials.c.started_at,
    "ended": trials.c.ended_at,
    "duration": trials.c.ended_at - trials.c.started_at,
    "worker": trials.c.reserved_by,
}
MAX_PAGE_SIZE = 500
# Changed rows a live update reads at most; beyond, the page redraws (Changes.overflow).
MAX_CHANGES = 500
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class ExperimentOverview:
    """One experiment as the experiments page shows it."""

    record: ExperimentRecord
    counts: dict[str, int]
    best_objective: float | None
    live_workers: int
    last_activity: float | None
    #: With several objectives: the Pareto front's size (best_objective is then None).
    front_size: int | None = None

    @property
    def objectives(self) -> Objectives:
        return Objectives.from_json(self.record.objectives)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class TrialQuery:
    """One page of an experiment's trials: filters, order and position."""

    statuses: tuple[str, ...] = ()
    text: str = ""
    param: str | None = None
    low: float | None = None
    high: float | None = None
    sort: str = "id"
    sort_numeric: bool = True
    descending: bool = False
    #: The first objective is maximised: sorting by objective puts the highest first
    #: unless ``descending`` (which then means worst first).
    maximize: bool = False
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class TrialPage:
    trials: list[TrialRecord]
    total: int
    query: TrialQuery

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


@dataclass(frozen=True)
class Changes:
    """What changed in one experiment since a watermark, and the next watermark."""

    trials: list[TrialRecord]
    watermark: str
    counts: dict[str, int] = field(default_factory=dict)
    overflow: bool = False


class ReadOnlyStorage:
    """A database read through a read-only engine; see the module docstring."""

    def __init__(self, url: str | None) -> None:
        self.engine, self.display_url = readonly_engine(url)
        # What a watermark is here, and how to probe for changes (backends.base.Backend).
        self.backend = backend_for(self.engine.url.drivername)
        # Pareto fronts by experiment, with the (count, last end) of completed trials
        # they were found from: pages poll far more often than trials complete.
        self._fronts: dict[int, tuple[Any, FrontPoints]] = {}
        self._fronts_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def check(self) -> None:
        """Raise the error to show instead of a page (missing database, other schema)."""
        check_readable(self.engine, self.display_url)

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        with self.engine.connect() as connection:
            return work(connection)

    # -- experiments --------------------------------------------------------------------

    def experiment(self, experiment_id: int) -> ExperimentRecord | None:
        row = self._read(lambda c: queries.select_experiment_by_id(c, experiment_id))
        return queries.experiment_from_row(row) if row is not None else None

    def overview(self) -> list[ExperimentOverview]:
        """Every experiment; its best by its first objective's direction, feasible trials
        only, or its Pareto front's size when it has several objectives."""
        found = self._read(_overview)
        result = []
        for item in found:
            objectives = item.objectives
            if objectives.several:
                front = len(self.pareto(item.record).front)
                result.append(replace(item, best_objective=None, front_size=front))
                continue
            if item.counts.get(TrialStatus.COMPLETED.value, 0):
                best = self.best_trial(item.record.id, item.record)
                item = replace(item, best_objective=best.objective if best else None)
            result.append(item)
        return result

    def counts(self, experiment_id: int) -> dict[str, int]:
        found = self._read(lambda c: queries.count_by_status(c, experiment_id))
        return _all_statuses(found)

    def best_trial(
        self, experiment_id: int, record: ExperimentRecord | None = None
    ) -> TrialRecord | None:
        """The best feasible completed trial by the first objective's direction; with
        several objectives, the Pareto front's first (as ``orionlite status`` says)."""
        record = record or self.experiment(experiment_id)
        if record is None:
            return None
        objectives = Objectives.from_json(record.objectives)
        if objectives.several:
            front = self.pareto(record).front_ids
            return self.trial(front[0]) if front else None
        maximize = objectives.first.direction == MAXIMIZE

        return self._read(lambda c: queries.select_best_feasible(c, experiment_id, maximize))

    def pareto(self, record: ExperimentRecord) -> FrontPoints:
        """The values of the experiment's completed trials and its Pareto front (feasible,
        non-dominated; see orionlite.objectives). Every completed trial is read, its id
        and results only: a front cannot be found from a sample."""
        objectives = Objectives.from_json(record.objectives)
        statuses = (TrialStatus.COMPLETED.value,)
        marker = sa.select(sa.func.count(), sa.func.max(trials.c.ended_at)).where(
            trials.c.experiment_id == record.id, trials.c.status.in_(statuses)
        )
        key = (tuple(self._read(lambda c: c.execute(marker).one())), record.objectives)
        with self._fronts_lock:
            cached = self._fronts.get(record.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        found = self._read(lambda c: read_front(c, record.id, objectives))
        with self._fronts_lock:
            self._fronts[record.id] = (key, found)
        return found

    def progress_trials(self, experiment_id: int) -> list[tuple[int, str]]:
        """(id, status) of the experiment's trials that reported intermediate values, by id."""
        reported = sa.select(trial_progress.c.trial_id).where(
            trial_progress.c.experiment_id == experiment_id
        )
        statement = (
            sa.select(trials.c.id, trials.c.status)
            .where(trials.c.experiment_id == experiment_id, trials.c.id.in_(reported))
            .order_by(trials.c.id)
        )
        return self._read(lambda c: [(int(i), str(s)) for i, s in c.execute(statement)])

    def progress(self, experiment_id: int, trial_ids: Sequence[int]) -> dict[int, list[Point]]:
        """The reported points (current attempt) of these trials, by trial id, by step."""
        return self._read(lambda c: select_progress(c, experiment_id, list(trial_ids)))

    # -- trials -------------------------------------------------------------------------

    def trial(self, trial_id: int) -> TrialRecord | None:
        row = self._read(lambda c: queries.select_trial(c, trial_id))
        return queries.trial_from_row(row) if row is not None else None

    def trials_page(self, experiment_id: int, query: TrialQuery) -> TrialPage:
        def work(connection: sa.Connection) -> TrialPage:
            where = _filters(experiment_id, query)
            total = connection.execute(
                sa.select(sa.func.count()).select_from(trials).where(*where)
            ).scalar_one()
            order = _order(query)
            statement = (
                sa.select(trials)
                .where(*where)
                .order_by(*order)
                .limit(query.per_page)
                .offset((query.page - 1) * query.per_page)
            )
            rows = connection.execute(statement)
            return TrialPage([queries.trial_from_row(row) for row in rows], int(total), query)

        return self._read(work)

    def completion_points(self, experiment_id: int) -> list[tuple[float, float, int, bool]]:
        """(ended_at, objective, id, feasible) of every completed trial, in completion
        order, for the best-so-far curve (reduced before it leaves the server). Results are
        read only for the trials that report a constraint."""
        constrained = sa.cast(trials.c.results, sa.Text).like('%"constraint"%')
        statement = (
            sa.select(
                trials.c.ended_at,
                trials.c.objective,
                trials.c.id,
                sa.case((constrained, trials.c.results)),
            )
            .where(
                trials.c.experiment_id == experiment_id,
                trials.c.status == TrialStatus.COMPLETED.value,
                trials.c.objective.is_not(None),
            )
            .order_by(trials.c.ended_at, trials.c.id)
        )

        def work(connection: sa.Connection) -> list[tuple[float, float, int, bool]]:
            return [
                (ended, objective, trial_id, results is None or _feasible_results(results))
                for ended, objective, trial_id, results in connection.execute(statement)
            ]

        return self._read(work)

    def completed_sample(self, experiment_id: int, limit: int, best: int) -> list[TrialRecord]:
        """At most ``limit`` completed trials: the ``best`` lowest objectives and an even
        spread of the others by id, chosen by the database."""

        def work(connection: sa.Connection) -> list[TrialRecord]:
            completed = sa.and_(
                trials.c.experiment_id == experiment_id,
                trials.c.status == TrialStatus.COMPLETED.value,
                trials.c.objective.is_not(None),
            )
            total = connection.execute(
                sa.select(sa.func.count()).select_from(trials).where(completed)
            ).scalar_one()
            top = sa.select(trials).where(completed).order_by(trials.c.objective, trials.c.id)
            rows = {row.id: row for row in connection.execute(top.limit(best))}
            step = 1 if total <= limit else -(-int(total) // max(1, limit - best))
            spread = sa.select(trials).where(completed, trials.c.id % step == 0)
            for row in connection.execute(spread.limit(limit - len(rows))):
                rows.setdefault(row.id, row)
            return [queries.trial_from_row(row) for row in rows.values()]

        return self._read(work)

    # -- live updates -------------------------------------------------------------------

    def watermark(self, experiment_id: int) -> str:
        """Where a reader of the experiment stands now; pass it to :meth:`changes`."""
        statement = sa.select(read_horizon(sa.literal(experiment_id)), read_in_progress())
        horizon, in_progress = self._read(lambda c: c.execute(statement).one())
        return self.backend.watermark_text(self.backend.reader_watermark(horizon, in_progress))

    def changes(self, experiment_id: int, since: str) -> Changes:
        """The experiment's trials changed since ``since`` (the workers' change markers),
        with fresh status counts when anything changed. More than MAX_CHANGES changed
        rows (a page left asleep for hours) are not read: ``overflow`` tells the page to
        redraw from its bounded reads instead."""
        mark = self.backend.watermark_from_text(since)
        if mark == 0:  # no watermark: a reader starts from now, never from the beginning
            return Changes([], self.watermark(experiment_id))
        moved = sa.and_(trials.c.experiment_id == experiment_id, self.backend.watermark_clause())
        how_many = sa.select(sa.func.count()).select_from(
            sa.select(trials.c.id).where(moved).limit(MAX_CHANGES + 1).subquery()
        )
        parameters = self.backend.watermark_parameters(mark)

        def work(connection: sa.Connection) -> Changes:
            if connection.execute(how_many, parameters).scalar_one() > MAX_CHANGES:
                now = self.watermark(experiment_id)  # before the counts: nothing is missed
                counts = _all_statuses(queries.count_by_status(connection, experiment_id))
                return Changes([], now, counts, overflow=True)
            changed, after = queries.select_changed_trials(
                connection, self.backend, experiment_id, mark
            )
            counts = (
                _all_statuses(queries.count_by_status(connection, experiment_id)) if changed else {}
            )
            return Changes(changed, self.backend.watermark_text(after), counts)

        return self._read(work)

    def changed(self, since: str) -> tuple[bool, str]:
        """Whether any trial or experiment changed since ``since`` (text from this method,
        or "" at first), and the next one: the backend's probe of its change markers
        (``Backend.changed_anywhere``) and a count of the few experiments."""
        mark_text, _, count_text = since.partition("/")
        how_many = sa.select(sa.func.count()).select_from(experiments)

        def work(connection: sa.Connection) -> tuple[bool, str]:
            found, text = self.backend.changed_anywhere(connection, mark_text)
            count = connection.execute(how_many).scalar_one()
            return found or count_text != str(count), f"{text}/{count}"

        return self._read(work)


def _feasible_results(results: Any) -> bool:
    """Whether stored results satisfy their constraints (objectives.feasible)."""
    if isinstance(results, str):  # a JSON column read through CASE comes back as text
        import json

        results = json.loads(results)
    probe = TrialRecord(0, 0, {}, "", TrialStatus.COMPLETED, results=results)
    return feasible(probe)


def _all_statuses(found: dict[str, int]) -> dict[str, int]:
    """Counts for every status the package knows (TrialStatus is the one list), plus
    any other status a newer package wrote."""
    counts = {status.value: found.get(status.value, 0) for status in TrialStatus}
    counts.update({status: n for status, n in found.items() if status not in counts})
    return counts


def _overview(connection: sa.Connection) -> list[ExperimentOverview]:
    records = [queries.experiment_from_row(row) for row in queries.select_experiments(connection)]
    counts: dict[int, dict[str, int]] = {}
    grouped = sa.select(trials.c.experiment_id, trials.c.status, sa.func.count()).group_by(
        trials.c.experiment_id, trials.c.status
    )
    for experiment_id, status, n in connection.execute(grouped):
        counts.setdefault(experiment_id, {})[status] = n
    now = sa.select(db_now()).scalar_subquery()
    live = sa.and_(trials.c.status == TrialStatus.RESERVED.value, trials.c.lease_expires_at > now)
    summary = sa.select(
        trials.c.experiment_id,
        # The lowest; ReadOnlyStorage.overview finds the best by direction and constraints.
        sa.func.min(sa.case((trials.c.status == TrialStatus.COMPLETED.value, trials.c.objective))),
        sa.func.count(sa.distinct(sa.case((live, trials.c.reserved_by)))),
        sa.func.max(trials.c.created_at),
        sa.func.max(trials.c.started_at),
        sa.func.max(trials.c.ended_at),
        sa.func.max(trials.c.heartbeat_at),
    ).group_by(trials.c.experiment_id)
    rows = {row[0]: row for row in connection.execute(summary)}
    result = []
    for record in records:
        row = rows.get(record.id)
        times = [value for value in (row[3:] if row else ()) if value is not None]
        result.append(
            ExperimentOverview(
                record=record,
                counts=_all_statuses(counts.get(record.id, {})),
                best_objective=row[1] if row else None,
                live_workers=int(row[2]) if row else 0,
                last_activity=max(times, default=record.created_at),
            )
        )
    return result


def _param_value(name: str, numeric: bool) -> sa.ColumnElement[Any]:
    value = trials.c.params[name]
    return value.as_float() if numeric else value.as_string()


def _filters(experiment_id: int, query: TrialQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [trials.c.experiment_id == experiment_id]
    if query.statuses:
        where.append(trials.c.status.in_(query.statuses))
    if query.param is not None and (query.low is not None or query.high is not None):
        value = _param_value(query.param, numeric=True)
        if query.low is not None:
            where.append(value >= query.low)
        if query.high is not None:
            where.append(value <= query.high)
    text = query.text.strip()
    if text:
        pattern = (
            "%" + "".join(_LIKE_ESCAPE + char if char in "%_\\" else char for char in text) + "%"
        )
        matches: list[sa.ColumnElement[bool]] = [
            sa.cast(trials.c.params, sa.Text).ilike(pattern, escape=_LIKE_ESCAPE),
            trials.c.reserved_by.ilike(pattern, escape=_LIKE_ESCAPE),
            trials.c.error.ilike(pattern, escape=_LIKE_ESCAPE),
        ]
        if text.isdigit():
            matches.append(trials.c.id == int(text))
        where.append(sa.or_(*matches))
    return where


def _order(query: TrialQuery) -> Sequence[sa.ColumnElement[Any]]:
    if query.sort.startswith("param:"):
        column = _param_value(query.sort[len("param:") :], query.sort_numeric)
    else:
        column = SORT_COLUMNS.get(query.sort, trials.c.id)
    descending = query.descending
    if query.sort == "objective" and query.maximize:
        descending = not descending
    ordered = column.desc() if descending else column.asc()
    tie = trials.c.id.desc() if query.descending else trials.c.id.asc()
    return [nulls_last(ordered), tie]
