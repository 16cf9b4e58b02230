"""``Storage``: the narrow seam between orionlite and its database.

Each method is one short transaction, retried while the failure is transient (see
``storage.retry``). Nothing outside ``orionlite.storage`` imports SQLAlchemy.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from orionlite.errors import LiveTrialsError, ReservationLostError
from orionlite.objectives import MAXIMIZE, Objectives, best_of
from orionlite.records import ExperimentRecord, PendingResult, TrialRecord, TrialStatus
from orionlite.results import storable_results
from orionlite.storage import manage, progress, queries, reservation
from orionlite.storage.connection import OneConnection
from orionlite.storage.plot_reads import read_completed_lines, read_completed_spread


class CreateRefusal(str, enum.Enum):
    """Why ``acquire_trial`` made no trial."""

    BUDGET_SPENT = "budget_spent"
    DUPLICATE = "duplicate"


def _storable(values: dict[str, Any]) -> None:
    if values.get("results") is not None:
        values["results"] = storable_results(values["results"])


class Storage(OneConnection):
    """A database holding experiments and trials, shared by every worker."""

    # -- experiments ------------------------------------------------------------------

    def create_experiment(self, values: dict[str, Any]) -> ExperimentRecord | None:
        """Insert an experiment; None if (name, version) was taken meanwhile."""
        try:

            def work(connection: sa.Connection) -> sa.Row[Any] | None:
                row = queries.insert_experiment(
                    connection, values, self.backend.insert_unless_taken
                )
                if row is not None:
                    self.backend.experiment_created(connection, row._mapping["id"], 0)
                return row

            row = self._run(work, write=True)
        except sa.exc.IntegrityError:
            return None
        return queries.experiment_from_row(row) if row is not None else None

    def create_branch(
        self, values: dict[str, Any], copied_trials: list[dict[str, Any]]
    ) -> ExperimentRecord | None:
        """Insert a child experiment and the parent's trials it starts with, atomically.

        One transaction, so a worker joining the child never sees it without its inherited
        history. None if (name, version) was taken meanwhile.
        """

        def work(connection: sa.Connection) -> sa.Row[Any] | None:
            row = queries.insert_experiment(
                connection, values, self.backend.insert_unless_taken, used=len(copied_trials)
            )
            if row is not None:
                experiment_id = row._mapping["id"]
                self.backend.experiment_created(connection, experiment_id, len(copied_trials))
                self.backend.lock_experiment(connection, experiment_id)
                queries.insert_copied_trials(connection, experiment_id, copied_trials)
            return row

        try:
            row = self._run(work, write=True)
        except sa.exc.IntegrityError:
            return None
        return queries.experiment_from_row(row) if row is not None else None

    def get_experiment(self, name: str, version: int | None = None) -> ExperimentRecord | None:
        """The given version, or the newest one."""
        row = self._run(lambda c: queries.select_experiment(c, name, version), write=False)
        return queries.experiment_from_row(row) if row is not None else None

    def get_experiment_by_id(self, experiment_id: int) -> ExperimentRecord | None:
        row = self._run(lambda c: queries.select_experiment_by_id(c, experiment_id), write=False)
        return queries.experiment_from_row(row) if row is not None else None

    def list_experiments(self) -> list[ExperimentRecord]:
        rows = self._run(queries.select_experiments, write=False)
        return [queries.experiment_from_row(row) for row in rows]

    def update_experiment(self, experiment_id: int, **values: Any) -> None:
        self._run(lambda c: queries.update_experiment(c, experiment_id, values), write=True)

    # -- reservations -----------------------------------------------------------------

    def reserve_trial(
        self, experiment_id: int, worker_id: str, lease_s: float
    ) -> TrialRecord | None:
        row = self._run_single(lambda c: self.backend.reserve(c, experiment_id, worker_id, lease_s))
        return queries.record_from_values(row) if row is not None else None

    def acquire_trial(
        self,
        experiment_id: int,
        params: dict[str, Any],
        params_hash: str,
        worker_id: str,
        lease_s: float,
        parent_trial_id: int | None = None,
        pending: PendingResult | None = None,
    ) -> TrialRecord | CreateRefusal:
        """Reserve a waiting trial if there is one, else create the proposed one.

        ``reserve_trial`` then a creation in one unit of work: the worker's hot path
        pays one round trip on PostgreSQL (one statement) and one write lock on SQLite,
        instead of a reservation that misses and then a creation. A trial whose lease ran
        out (its worker died) is taken here, before any new one is made.

        ``pending``, the worker's previous trial completed, is recorded in the same
        transaction (one commit, and on SQLite one write lock, per trial instead of two);
        its ``lost`` tells the outcome. Any other end is recorded on its own, first.
        """
        if pending is not None and pending.status is not TrialStatus.COMPLETED:
            self.record_pending(pending)
            pending = None
        finishing = None
        if pending is not None:
            _storable(pending.values)
            finishing = (pending.trial.id, pending.trial.attempt, pending.values)
        new_trial = reservation.new_trial_parameters(
            experiment_id, params, params_hash, worker_id, lease_s, parent_trial_id
        )
        outcome, row, finished = self._run_single(
            lambda c: self.backend.acquire(c, new_trial, finishing)
        )
        acquired: TrialRecord | CreateRefusal
        if row is not None:
            acquired = queries.record_from_values(row)
        elif outcome == "duplicate":
            acquired = CreateRefusal.DUPLICATE
        else:
            acquired = CreateRefusal.BUDGET_SPENT
        if pending is not None:
            pending.lost = not finished and self._lost(pending.trial, pending.status)
        return acquired

    def record_pending(self, pending: PendingResult) -> None:
        """Record ``pending`` on its own, unless it was recorded already (its ``lost`` is
        set); sets its ``lost``."""
        if pending.lost is not None:
            return
        try:
            self.finish_trial(pending.trial, pending.status, **pending.values)
        except ReservationLostError:
            pending.lost = True
        else:
            pending.lost = False

    def heartbeat(
        self,
        trial: TrialRecord,
        lease_s: float,
        *,
        deadline_s: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """Extend the lease; False if another worker took the trial over. An outage is
        retried for ``deadline_s`` at most, and not once ``cancelled()`` is true."""
        return self._run_single(
            lambda c: reservation.extend_lease(c, trial.id, trial.attempt, lease_s),
            deadline_s=deadline_s,
            cancelled=cancelled,
        )

    def finish_trial(self, trial: TrialRecord, status: TrialStatus, **values: Any) -> None:
        """Record a trial's end under its fencing token.

        Raises ReservationLostError if the token no longer matches. If the connection
        dropped after the commit, the retried update finds nothing to do: the row is then
        read back, and a row already in the state we wrote counts as success.
        """
        _storable(values)

        key = (trial.id, trial.attempt, trial.experiment_id)
        done = self._run_hot(
            lambda c: self.backend.finish(c, key, status, values),
            one_statement=self.backend.finish_is_one_statement(status),
        )
        if not done:
            self._check_finished_before(trial, status)

    def finish_and_read(
        self, trial: TrialRecord, status: TrialStatus, since: queries.Watermark, **values: Any
    ) -> tuple[list[TrialRecord], queries.Watermark]:
        """``finish_trial``, then ``fetch_changed_trials(trial.experiment_id, since)``.

        The worker loop records a result and then reads the history for its next trial:
        on PostgreSQL both go in one statement (one round trip instead of two). The read
        does not include this trial's own new state (the caller knows it); it comes with
        the next read. Raises ReservationLostError like ``finish_trial``.
        """
        if not self.backend.finishes_and_reads:
            self.finish_trial(trial, status, **values)
            return self.fetch_changed_trials(trial.experiment_id, since)
        _storable(values)
        key = (trial.id, trial.attempt, trial.experiment_id)
        done, changed, watermark = self._run_single(
            lambda c: self.backend.finish_and_read(c, key, status, values, since)
        )
        if not done:
            self._check_finished_before(trial, status)
        return changed, watermark

    def _check_finished_before(self, trial: TrialRecord, status: TrialStatus) -> None:
        """The token did not match: success if an earlier try of this very write committed
        (its acknowledgement lost with the connection), else ReservationLostError."""
        if not self._lost(trial, status):
            return
        raise ReservationLostError.result_refused(trial.id)

    def _lost(self, trial: TrialRecord, status: TrialStatus) -> bool:
        """After a recording matched no row: False if the row is already as we wrote it."""
        current = self.get_trial(trial.id)
        return not (
            current is not None
            and current.attempt == trial.attempt
            and current.reserved_by == trial.reserved_by
            and current.status is status
        )

    # -- reads ------------------------------------------------------------------------

    def get_trial(self, trial_id: int) -> TrialRecord | None:
        row = self._run_single(lambda c: queries.select_trial(c, trial_id))
        return queries.trial_from_row(row) if row is not None else None

    def fetch_changed_trials(
        self, experiment_id: int, since: queries.Watermark
    ) -> tuple[list[TrialRecord], queries.Watermark]:
        """The trials changed since the watermark ``since`` (0 for all), and the watermark
        to pass next time (opaque: see ``queries.Watermark``)."""
        return self._run_single(
            lambda c: queries.select_changed_trials(c, self.backend, experiment_id, since)
        )

    def completed_spread(self, experiment_id: int, limit: int) -> tuple[list[TrialRecord], int]:
        """At most ``limit`` completed trials spread evenly in completion order, and how
        many there are: the rows of the sample only (storage.plot_reads)."""
        return self._run_single(lambda c: read_completed_spread(c, experiment_id, limit))

    def completed_lines(
        self, experiment_id: int, limit: int, best: int
    ) -> tuple[list[TrialRecord], int]:
        """The completed trials sampling.for_lines keeps, and how many there are."""
        return self._run_single(lambda c: read_completed_lines(c, experiment_id, limit, best))

    def trials(
        self, experiment_id: int, statuses: tuple[TrialStatus, ...] | None = None
    ) -> list[TrialRecord]:
        values = tuple(s.value for s in statuses) if statuses else None
        rows = self._run(lambda c: queries.select_trials(c, experiment_id, values), write=False)
        return [queries.trial_from_row(row) for row in rows]

    def count_by_status(self, experiment_id: int) -> dict[TrialStatus, int]:
        counts = self._run(lambda c: queries.count_by_status(c, experiment_id), write=False)
        return {status: counts.get(status.value, 0) for status in TrialStatus}

    def count_status(self, experiment_id: int, status: TrialStatus) -> int:
        return self._run_single(lambda c: queries.count_status(c, experiment_id, status))

    def has_unfinished(self, experiment_id: int) -> bool:
        return self._run_single(lambda c: queries.has_unfinished(c, experiment_id))

    def only_live_reservations(self, experiment_id: int) -> bool:
        """Whether nothing can be taken or created, while others' trials still run."""
        return self._run_single(lambda c: reservation.only_live_reservations(c, experiment_id))

    def last_broken_trial(self, experiment_id: int) -> TrialRecord | None:
        row = self._run(lambda c: queries.select_last_broken(c, experiment_id), write=False)
        return queries.trial_from_row(row) if row is not None else None

    # -- operating by hand (storage.manage) --------------------------------------------

    def requeue_trials(
        self,
        experiment_id: int,
        statuses: tuple[TrialStatus, ...],
        trial_ids: tuple[int, ...] = (),
    ) -> manage.Requeued:
        values = tuple(status.value for status in statuses)

        def work(connection: sa.Connection) -> manage.Requeued:
            self.backend.lock_experiment(connection, experiment_id)
            return manage.requeue(connection, experiment_id, values, trial_ids)

        return self._run(work, write=True)

    def enqueue_trial(self, experiment_id: int, params: dict[str, Any], params_hash: str) -> int:
        def work(connection: sa.Connection) -> int:
            self.backend.lock_experiment(connection, experiment_id)
            return manage.enqueue(
                connection,
                experiment_id,
                params,
                params_hash,
                lambda: self.backend.take_number(connection, experiment_id),
            )

        return self._run(work, write=True)

    def live_reservations(self, experiment_ids: list[int]) -> list[int]:
        return self._run(lambda c: manage.live_reservations(c, experiment_ids), write=False)

    def delete_experiments(self, experiment_ids: list[int], *, force: bool = False) -> int:
        """Delete the experiments and their trials; unless ``force``, refuse (LiveTrialsError)
        while a worker holds one of their trials under a live lease."""

        def work(connection: sa.Connection) -> int:
            live = [] if force else manage.live_reservations(connection, experiment_ids)
            if live:
                raise LiveTrialsError(
                    f"Workers are running trial{'s' if len(live) > 1 else ''} "
                    f"{', '.join(map(str, live))} of this experiment (their leases are live).",
                    hint="Stop those hunt workers first (Ctrl-C), or delete anyway with "
                    "--force: their results will then be refused.",
                )
            deleted = manage.delete_experiments(connection, experiment_ids)
            self.backend.experiments_deleted(connection, experiment_ids)
            return deleted

        return self._run(work, write=True)

    def best_trial(
        self, experiment_id: int, objectives: Objectives | None = None
    ) -> TrialRecord | None:
        """The best feasible completed trial by the (first) objective's direction; with
        several objectives, the Pareto front's first (see orionlite.objectives)."""
        objectives = objectives or Objectives()
        if objectives.several:
            return best_of(self.trials(experiment_id, (TrialStatus.COMPLETED,)), objectives)
        maximize = objectives.first.direction == MAXIMIZE

        return self._run(
            lambda c: queries.select_best_feasible(c, experiment_id, maximize), write=False
        )

    # -- intermediate values (see storage.progress) -------------------------------------

    def record_progress(self, trial: TrialRecord, points: list[tuple[int, float]]) -> bool:
        """Store a batch of (step, value) under the trial's fencing token; False if the
        token no longer matches (nothing stored)."""
        return self._run(
            lambda c: progress.insert_points(
                c, trial.id, trial.attempt, points, self.backend.insert_new
            ),
            write=True,
        )

    def values_at_steps(
        self, experiment_id: int, steps: list[int], excluded_trial: int
    ) -> dict[int, list[float]]:
        """The values of the experiment's other trials at each of ``steps``."""
        return self._run(
            lambda c: progress.select_values_at_steps(c, experiment_id, steps, excluded_trial),
            write=False,
        )

    def progress(
        self, experiment_id: int, trial_ids: list[int] | None = None
    ) -> dict[int, list[tuple[int, float]]]:
        """Each trial's reported (step, value) points, by trial id, in step order."""
        return self._run(
            lambda c: progress.select_progress(c, experiment_id, trial_ids), write=False
        )
