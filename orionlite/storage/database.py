"""``Storage``: the narrow seam between orionlite and its database.

Each method is one short transaction, retried while the failure is transient (see
``storage.retry``). Nothing outside ``orionlite.storage`` imports SQLAlchemy.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from orionlite.errors import ReservationLostError
from orionlite.records import ExperimentRecord, TrialRecord, TrialStatus
from orionlite.storage import queries, reservation
from orionlite.storage.engine import make_engine, transaction
from orionlite.storage.retry import RetryPolicy
from orionlite.storage.schema import ensure_schema
from orionlite.storage.urls import mask_url, normalize_url, resolve_url

T = TypeVar("T")

DEFAULT_OUTAGE_DEADLINE_S = 300.0


class CreateRefusal(str, enum.Enum):
    """Why ``create_trial`` made no trial."""

    BUDGET_SPENT = "budget_spent"
    DUPLICATE = "duplicate"


class _DuplicateTrial(Exception):
    """Internal: roll back a creation whose parameters already exist."""


class Storage:
    """A database holding experiments and trials, shared by every worker.

    Pickles as its URL, so a storage handed to another process (joblib, Dask) opens its
    own connections there instead of sharing pooled ones across a fork.
    """

    def __init__(
        self, url: str | None = None, *, outage_deadline_s: float = DEFAULT_OUTAGE_DEADLINE_S
    ) -> None:
        given = resolve_url(url)
        self.url = normalize_url(given)
        self.display_url = mask_url(given)
        self.outage_deadline_s = outage_deadline_s
        self._engine: sa.Engine | None = None
        self._retry = RetryPolicy(outage_deadline_s, lambda: self.display_url)

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "outage_deadline_s": self.outage_deadline_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], outage_deadline_s=state["outage_deadline_s"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Storage({self.display_url!r})"

    @property
    def engine(self) -> sa.Engine:
        """Connect on first use and check the schema once per process, not per trial."""
        if self._engine is None:
            engine = make_engine(self.url)
            try:
                self._retry.run(lambda: ensure_schema(engine, self.display_url))
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _run(self, work: Callable[[sa.Connection], T], *, write: bool) -> T:
        def attempt() -> T:
            with transaction(self.engine, write=write) as connection:
                return work(connection)

        return self._retry.run(attempt)

    # -- experiments ------------------------------------------------------------------

    def create_experiment(self, values: dict[str, Any]) -> ExperimentRecord | None:
        """Insert an experiment; None if (name, version) was taken meanwhile."""
        try:
            row = self._run(lambda c: queries.insert_experiment(c, values), write=True)
        except sa.exc.IntegrityError:
            return None
        return queries.experiment_from_row(row)

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
        row = self._run(
            lambda c: reservation.reserve_existing(c, experiment_id, worker_id, lease_s),
            write=True,
        )
        return queries.trial_from_row(row) if row is not None else None

    def create_trial(
        self,
        experiment_id: int,
        params: dict[str, Any],
        params_hash: str,
        worker_id: str,
        lease_s: float,
        parent_trial_id: int | None = None,
    ) -> TrialRecord | CreateRefusal:
        """Create a trial reserved by ``worker_id``, within the experiment's budget."""

        def work(connection: sa.Connection) -> TrialRecord | CreateRefusal:
            if not reservation.claim_budget(connection, experiment_id):
                return CreateRefusal.BUDGET_SPENT
            row = reservation.insert_reserved(
                connection, experiment_id, params, params_hash, worker_id, lease_s, parent_trial_id
            )
            if row is None:
                raise _DuplicateTrial  # rolls back, giving the budget slot back
            return queries.trial_from_row(row)

        try:
            return self._run(work, write=True)
        except _DuplicateTrial:
            return CreateRefusal.DUPLICATE

    def heartbeat(self, trial: TrialRecord, lease_s: float) -> bool:
        """Extend the lease; False if another worker took the trial over."""
        return self._run(
            lambda c: reservation.extend_lease(c, trial.id, trial.attempt, lease_s), write=True
        )

    def finish_trial(self, trial: TrialRecord, status: TrialStatus, **values: Any) -> None:
        """Record a trial's end under its fencing token.

        Raises ReservationLostError if the token no longer matches. If the connection
        dropped after the commit, the retried update finds nothing to do: the row is then
        read back, and a row already in the state we wrote counts as success.
        """
        done = self._run(
            lambda c: reservation.finish(c, trial.id, trial.attempt, status, values), write=True
        )
        if done:
            return
        current = self.get_trial(trial.id)
        if (
            current is not None
            and current.attempt == trial.attempt
            and current.reserved_by == trial.reserved_by
            and current.status is status
        ):
            return
        raise ReservationLostError(
            f"Trial {trial.id} was reclaimed by another worker after this worker's "
            "heartbeat expired; its result from this worker was discarded.",
        )

    # -- reads ------------------------------------------------------------------------

    def get_trial(self, trial_id: int) -> TrialRecord | None:
        row = self._run(lambda c: queries.select_trial(c, trial_id), write=False)
        return queries.trial_from_row(row) if row is not None else None

    def fetch_changed_trials(self, experiment_id: int, since: int) -> tuple[list[TrialRecord], int]:
        rows, horizon = self._run(
            lambda c: queries.select_changed_trials(c, experiment_id, since), write=False
        )
        return [queries.trial_from_row(row) for row in rows], horizon

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
        return self._run(lambda c: queries.count_status(c, experiment_id, status), write=False)

    def has_unfinished(self, experiment_id: int) -> bool:
        return self._run(lambda c: queries.has_unfinished(c, experiment_id), write=False)

    def last_broken_trial(self, experiment_id: int) -> TrialRecord | None:
        row = self._run(lambda c: queries.select_last_broken(c, experiment_id), write=False)
        return queries.trial_from_row(row) if row is not None else None

    def best_trial(self, experiment_id: int) -> TrialRecord | None:
        row = self._run(lambda c: queries.select_best_trial(c, experiment_id), write=False)
        return queries.trial_from_row(row) if row is not None else None
