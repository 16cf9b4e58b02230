"""ExperimentClient: one experiment opened from Python (SPEC §4): its trials, suggest /
observe / release, and ``workon``, which runs the very :class:`~orionlite.worker.Worker`
loop of ``hunt`` with a :class:`~orionlite.function_runner.FunctionRunner` in place of the
command runner."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from orionlite.api_arguments import absolute_sqlite, check_count, id_of_trial, parse_status
from orionlite.errors import (
    CompletedExperimentError,
    ConfigError,
    ExperimentNotFoundError,
    OrionliteError,
    ReadOnlyExperimentError,
    ResultsError,
    TooManyBrokenTrialsError,
    TrialNotHeldError,
    WaitingForTrialsError,
)
from orionlite.experiment import Experiment, Wait
from orionlite.formatting import last_broken_details
from orionlite.function_runner import format_error
from orionlite.heartbeat import Heartbeat, lease_seconds
from orionlite.records import TrialRecord, TrialStatus
from orionlite.results import normalize_results, objective_of
from orionlite.storage import Storage
from orionlite.trial import Trial
from orionlite.trials_frame import trials_frame
from orionlite.worker import DEFAULT_HEARTBEAT_S, MAX_POLL_S, WorkerSettings, new_worker_id
from orionlite.workon import WorkonResult, conclude

if TYPE_CHECKING:
    import pandas

    from orionlite.summary import ExperimentSummary

log = logging.getLogger(__name__)


class ExperimentClient:
    """One experiment, opened from Python. Made by :func:`build_experiment` (can run
    trials) or :func:`get_experiment` (read-only).

    Each client is one worker of the experiment (its own ``worker_id``), like one ``hunt``
    process; any number of clients, ``hunt`` commands and ``workon`` workers may share the
    experiment. Methods are safe to call from several threads.
    """

    def __init__(
        self,
        experiment: Experiment,
        *,
        read_only: bool = False,
        heartbeat: float = DEFAULT_HEARTBEAT_S,
    ) -> None:
        self._experiment = experiment
        self.read_only = read_only
        self.heartbeat = heartbeat
        self.worker_id = new_worker_id()
        self._held: dict[int, TrialRecord] = {}
        self._heartbeat = Heartbeat(experiment.storage, heartbeat)
        self._lock = threading.RLock()

    # -- identity -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._experiment.name

    @property
    def version(self) -> int:
        return self._experiment.version

    @property
    def id(self) -> int:
        return self._experiment.id

    @property
    def storage(self) -> Storage:
        return self._experiment.storage

    @property
    def record(self) -> Any:
        """The stored :class:`~orionlite.records.ExperimentRecord` (as last read)."""
        return self._experiment.record

    @property
    def space(self) -> dict[str, str]:
        """Dimension name -> prior, as written (``"loguniform(1e-05, 1)"``)."""
        return {name: str(prior) for name, prior in self._experiment.space.items()}

    @property
    def algorithm(self) -> dict[str, Any]:
        """The stored configuration, e.g. ``{"random": {"seed": 1}}``."""
        return dict(self._experiment.record.algorithm)

    @property
    def max_trials(self) -> int | None:
        return self._experiment.record.max_trials

    @property
    def max_broken(self) -> int:
        return self._experiment.record.max_broken

    @property
    def working_dir(self) -> Path:
        """The experiment's folder; trial ``N`` gets ``working_dir / "N"``."""
        return self._experiment.working_dir

    def __repr__(self) -> str:
        mode = ", read-only" if self.read_only else ""
        return (
            f"<ExperimentClient {self.name!r} v{self.version} in {self.storage.display_url}{mode}>"
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickles as a reference (storage URL, experiment id), never with held trials."""
        return {
            "url": self.storage.url,
            "experiment_id": self.id,
            "read_only": self.read_only,
            "heartbeat": self.heartbeat,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        storage = Storage(state["url"])
        record = storage.get_experiment_by_id(state["experiment_id"])
        if record is None:
            raise ExperimentNotFoundError(
                f"Experiment id {state['experiment_id']} is not in {storage.display_url}."
            )
        self.__init__(  # type: ignore[misc]
            Experiment(storage, record), read_only=state["read_only"], heartbeat=state["heartbeat"]
        )

    def __enter__(self) -> ExperimentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Give back every trial this client still holds, and close its connections."""
        with self._lock:
            held = list(self._held)
        for trial_id in held:
            try:
                self.release(trial_id)
            except OrionliteError as exc:
                log.warning("could not release trial %s: %s", trial_id, exc)
        self._heartbeat.close()
        self.storage.close()

    # -- reading --------------------------------------------------------------------

    def _refresh(self) -> None:
        record = self.storage.get_experiment_by_id(self.id)
        if record is not None:
            self._experiment.record = record

    def _trial(self, record: TrialRecord) -> Trial:
        return Trial.from_record(record, self.working_dir)

    def trials(
        self, status: str | TrialStatus | Iterable[str | TrialStatus] | None = None
    ) -> list[Trial]:
        """Trials in creation order, all or those with the given status(es), each with
        its reported ``progress``."""
        statuses: tuple[TrialStatus, ...] | None = None
        if status is not None:
            wanted = [status] if isinstance(status, (str, TrialStatus)) else list(status)
            statuses = tuple(parse_status(value) for value in wanted)
        records = self.storage.trials(self.id, statuses)
        curves = self.storage.progress(self.id)
        return [
            Trial.from_record(record, self.working_dir, progress=curves.get(record.id))
            for record in records
        ]

    def get_trial(self, trial_id: int) -> Trial | None:
        record = self.storage.get_trial(trial_id)
        if record is None or record.experiment_id != self.id:
            return None
        return self._trial(record)

    @property
    def best_trial(self) -> Trial | None:
        """The best feasible completed trial by the objective's direction, or None; with
        several objectives, the first of :attr:`best_trials` (best by the first one)."""
        record = self.storage.best_trial(self.id, self._experiment.objectives)
        return self._trial(record) if record is not None else None

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto front: feasible completed trials that no other one dominates on
        every objective, ordered by the first objective (one trial for one objective)."""
        from orionlite.objectives import pareto_front

        records = self.storage.trials(self.id, (TrialStatus.COMPLETED,))
        return [self._trial(r) for r in pareto_front(records, self._experiment.objectives)]

    @property
    def objectives(self) -> dict[str, str]:
        """The declared objectives: name -> "minimize" or "maximize"."""
        return {
            name: item.direction
            for name, item in zip(
                self._experiment.objectives.names, self._experiment.objectives.items, strict=True
            )
        }

    @property
    def stats(self) -> ExperimentSummary:
        """Counts by status and the best trial (the same summary as ``orionlite status``)."""
        from orionlite.summary import summarize

        self._refresh()
        return summarize(self.storage, self._experiment.record)

    @property
    def is_done(self) -> bool:
        """True once max_trials trials completed or the algorithm has nothing left."""
        self._refresh()
        max_trials = self.max_trials
        if max_trials is not None:
            # Pruned trials count toward max_trials like completed ones.
            completed = self.storage.count_status(self.id, TrialStatus.COMPLETED)
            completed += self.storage.count_status(self.id, TrialStatus.PRUNED)
            if completed >= max_trials:
                return True
        with self._lock:
            return self._experiment.algorithm.is_done(self._experiment.history())

    @property
    def is_broken(self) -> bool:
        """True once max_broken trials broke: workers refuse to go on."""
        self._refresh()
        broken = self.storage.count_status(self.id, TrialStatus.BROKEN)
        return self._experiment.record.broken_counted(broken) >= self.max_broken

    def enqueue(self, params: Mapping[str, Any]) -> Trial:
        """Add a trial with these parameters (checked against the space; dimensions left
        out take their default_value): the next free worker runs it before any new
        suggestion, like Oríon's ``insert`` and Optuna's ``enqueue_trial``. It counts
        toward max_trials. Parameters the experiment already has raise
        DuplicateTrialError; a spent max_trials raises BudgetSpentError."""
        from orionlite.operating import enqueue

        self._require_writable("enqueue trials")
        return self._trial(enqueue(self._experiment, params))

    def to_pandas(self) -> pandas.DataFrame:
        """One row per trial: id, status, objective, each parameter (and each extra
        result) as a column, then worker, attempts, error and UTC timestamps.

        Needs the ``pandas`` extra.
        """
        return trials_frame(self.storage, self.id, list(self._experiment.space))

    # -- ask / tell -------------------------------------------------------------------

    def _require_writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyExperimentError(
                f"Cannot {action}: experiment {self.name!r} v{self.version} was opened "
                "read-only with get_experiment().",
                hint=f"Open it with orionlite.build_experiment({self.name!r}) to run trials.",
            )

    def suggest(self, *, timeout: float | None = 0.0) -> Trial:
        """Reserve the next trial for this client; a heartbeat keeps it until ``observe``
        or ``release``.

        Raises :class:`CompletedExperimentError` when the experiment is done (or its
        search space exhausted), and :class:`WaitingForTrialsError` when the remaining
        trials are held by running workers (this client included) and none frees up within
        ``timeout`` seconds (0: do not wait; None: wait as long as it takes).
        """
        self._require_writable("suggest")
        self._check_broken()
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        poll = 0.05
        while True:
            with self._lock:
                acquired = self._experiment.acquire(self.worker_id, lease_seconds(self.heartbeat))
                if isinstance(acquired, TrialRecord):
                    self._heartbeat.hold(acquired)
                    self._held[acquired.id] = acquired
                    (self.working_dir / str(acquired.id)).mkdir(parents=True, exist_ok=True)
                    return Trial.from_record(acquired, self.working_dir, client=self)
            if acquired not in (Wait.BUSY, Wait.FINISHING):
                raise self._completed_error(acquired)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._waiting_error()
            remaining = None if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(poll, remaining if remaining is not None else poll)))
            poll = min(MAX_POLL_S, poll * 2)

    def observe(self, trial: Trial | int, value: float | list[dict[str, Any]]) -> Trial:
        """Record the result of a trial this client holds and return its new snapshot.

        ``value`` is the objective (minimised) or a results list (SPEC §1). A NaN or
        infinite objective marks the trial ``broken`` with a message saying so (it counts
        toward max_broken); an invalid value raises ResultsError and the trial stays held.
        Raises ReservationLostError if another worker took the trial over after this
        client's heartbeat expired.
        """
        self._require_writable("observe")
        trial_id = id_of_trial(trial)
        with self._lock:
            held = self._held_trial(trial_id)
            results = normalize_results(value)
            try:
                objective: float | None = objective_of(results)
                status, error = TrialStatus.COMPLETED, None
                problem = self._experiment.objectives.check(results)
                if problem is not None:
                    raise ResultsError(f"Results do not match the declared objectives: {problem}.")
                objective = self._experiment.objectives.primary_value(results)
            except OrionliteError as exc:
                objective, status = None, TrialStatus.BROKEN
                error = exc.message + (f"\n{exc.hint}" if exc.hint else "")
                log.warning("trial %s broken: %s", trial_id, exc.message)
            del self._held[trial_id]
        return self._finish(held, status, objective=objective, results=results, error=error)

    def release(self, trial: Trial | int, status: str | TrialStatus = "interrupted") -> Trial:
        """Give back a trial this client holds without a result.

        ``interrupted`` (default) returns it to the pool: the next ``suggest`` anywhere
        gets it. ``broken`` records it as failed (counts toward max_broken).
        """
        self._require_writable("release")
        wanted = parse_status(status)
        if wanted not in (TrialStatus.INTERRUPTED, TrialStatus.BROKEN):
            raise ConfigError(
                f"release() takes status 'interrupted' or 'broken', not {wanted.value!r}.",
                hint="Use observe(trial, value) to complete a trial.",
            )
        trial_id = id_of_trial(trial)
        with self._lock:
            held = self._held_trial(trial_id)
            del self._held[trial_id]
        error = "Released as broken." if wanted is TrialStatus.BROKEN else None
        return self._finish(held, wanted, error=error)

    def _leave(self, trial: Trial, exc: BaseException | None) -> None:
        """End of a ``with exp.suggest() as trial:`` block."""
        with self._lock:
            held = self._held.pop(trial.id, None)
        if held is None:  # observed or released inside the block
            return
        if isinstance(exc, Exception):
            status, error = TrialStatus.BROKEN, format_error(exc)
        else:  # no exception, or KeyboardInterrupt / SystemExit: back to the pool
            status, error = TrialStatus.INTERRUPTED, None
        try:
            self._finish(held, status, error=error)
        except OrionliteError as failure:
            if exc is None:
                raise
            # Never hide the user's own exception behind ours.
            log.warning("trial %s could not be recorded: %s", trial.id, failure)

    def _held_trial(self, trial_id: int) -> TrialRecord:
        held = self._held.get(trial_id)
        if held is None:
            current = self.storage.get_trial(trial_id)
            state = f" (it is {current.status.value})" if current is not None else ""
            raise TrialNotHeldError(
                f"Trial {trial_id} is not reserved by this client{state}.",
                hint="observe() and release() take trials returned by this client's "
                "suggest(), once each.",
            )
        return held

    def _finish(self, held: TrialRecord, status: TrialStatus, **values: Any) -> Trial:
        try:
            self.storage.finish_trial(held, status, **values)
        finally:
            self._heartbeat.drop(held)
        record = self.storage.get_trial(held.id) or replace(held, status=status, **values)
        return self._trial(record)

    def _check_broken(self) -> None:
        self._refresh()
        broken = self.storage.count_status(self.id, TrialStatus.BROKEN)
        if self._experiment.record.broken_counted(broken) >= self.max_broken:
            raise self._too_many_broken(broken)

    def _too_many_broken(self, broken: int | None = None) -> TooManyBrokenTrialsError:
        if broken is None:
            broken = self.storage.count_status(self.id, TrialStatus.BROKEN)
        last = self.storage.last_broken_trial(self.id)
        details = ""
        if last is not None:
            details = last_broken_details(last)
        return TooManyBrokenTrialsError(
            f"Experiment {self.name!r} v{self.version} stopped: {broken} trials broke "
            f"(max_broken={self.max_broken}).{details}",
            hint="Each broken trial's error holds its traceback (exp.trials(status='broken')). "
            f"Fix the cause, then put the broken trials back: orionlite requeue -n {self.name} "
            f"--version {self.version}; to tolerate more, raise max_broken with "
            f"build_experiment({self.name!r}, max_broken=N).",
        )

    def _completed_error(self, reason: Wait) -> CompletedExperimentError:
        hint = (
            "Read the results with exp.best_trial, exp.trials() or exp.to_pandas(); to run "
            f"more, raise max_trials with build_experiment({self.name!r}, max_trials=N)."
        )
        if reason is Wait.EXHAUSTED:
            return CompletedExperimentError(
                f"The search space of experiment {self.name!r} v{self.version} is "
                "exhausted: the algorithm has no new point to propose.",
                hint=hint,
            )
        self._refresh()
        completed = self.storage.count_status(self.id, TrialStatus.COMPLETED)
        return CompletedExperimentError(
            f"Experiment {self.name!r} v{self.version} is done: {completed} of "
            f"{self.max_trials} trials completed.",
            hint=hint,
        )

    def _waiting_error(self) -> WaitingForTrialsError:
        reserved = self.storage.count_status(self.id, TrialStatus.RESERVED)
        with self._lock:
            mine = len(self._held)
        return WaitingForTrialsError(
            f"No trial of experiment {self.name!r} v{self.version} can be reserved now: "
            f"{reserved} trial(s) are still running ({mine} held by this client), and "
            "the budget is spent or the algorithm waits for their results.",
            hint="Observe or release the trials you hold, or wait for other workers with "
            "suggest(timeout=SECONDS).",
        )

    # -- workon -----------------------------------------------------------------------

    def workon(
        self,
        fn: Callable[..., Any],
        max_trials: int | None = None,
        n_workers: int = 1,
        executor: str = "joblib",
        on_error: str = "raise",
        *,
        heartbeat: float | None = None,
        idle_timeout: float | None = None,
        worker_max_trials: int | None = None,
        client: Any = None,
    ) -> WorkonResult:
        """Run ``fn(**params)`` for trials until the experiment is done.

        Each of the ``n_workers`` workers is a full masterless worker (reserve, run,
        record), exactly like a ``hunt`` process; several ``workon`` calls, ``hunt``
        commands and ``suggest`` loops can share the experiment.

        - ``fn`` returns the objective (a number, minimised) or a results list. If it has
          a ``trial`` parameter, it also receives the :class:`Trial` (id, working_dir).
        - ``max_trials``: the experiment's budget of completed trials, all workers
          together (stored, like ``hunt --max-trials``); None keeps the stored one.
        - ``executor``: ``"joblib"`` (loky processes; with one worker, this process),
          ``"process"`` (spawned processes), or ``"dask"`` (the ``client`` given, else the
          current Dask client, else a LocalCluster started for this call).
        - ``on_error="raise"``: the first exception in ``fn`` marks its trial broken
          (traceback in ``error``), stops every worker of this call (their running trials
          become interrupted) and is raised as :class:`TrialFailedError` (the original
          exception is its ``__cause__``). ``"count"``: exceptions mark trials broken and
          workers go on until ``max_broken`` trials broke (TooManyBrokenTrialsError).
        - ``heartbeat`` (seconds, default the client's), ``idle_timeout`` (leave when no
          trial could be reserved for that long), ``worker_max_trials`` (per worker).

        Ctrl-C or SIGTERM stops every worker cleanly (running trials become
        ``interrupted``); then Ctrl-C raises KeyboardInterrupt, and SIGTERM exits with
        status 143 (or reaches the caller's own SIGTERM handler, if any).
        """
        from orionlite.fanout import EXECUTORS, WorkerTask, check_picklable, run_workers
        from orionlite.function_runner import ON_ERROR, accepts_trial

        self._require_writable("workon")
        if executor not in EXECUTORS:
            raise ConfigError(
                f"Unknown executor {executor!r}.", hint=f"Choose one of: {', '.join(EXECUTORS)}."
            )
        if on_error not in ON_ERROR:
            raise ConfigError(
                f"on_error must be 'raise' or 'count', not {on_error!r}.",
                hint="'raise' stops at the first exception; 'count' goes on until max_broken.",
            )
        check_count("n_workers", n_workers)
        if max_trials is not None:
            check_count("max_trials", max_trials)
        if worker_max_trials is not None:
            check_count("worker_max_trials", worker_max_trials)
        accepts_trial(fn, self._experiment.space)
        self._refresh()
        if max_trials is not None and max_trials != self.max_trials:
            self.storage.update_experiment(self.id, max_trials=max_trials)
            self._refresh()
        self._check_broken()
        if executor != "joblib" or n_workers > 1:
            check_picklable(fn, executor)
        settings = WorkerSettings(
            heartbeat_s=heartbeat if heartbeat is not None else self.heartbeat,
            worker_max_trials=worker_max_trials,
            idle_timeout_s=idle_timeout,
        )
        task = WorkerTask(
            absolute_sqlite(self.storage.url),
            self.id,
            fn,
            on_error,
            settings,
            working_dir=str(self.working_dir),
        )
        tasks = [task] * n_workers
        fan = run_workers(tasks, executor, dask_client=client, local_storage=self.storage)
        return conclude(fan, n_workers, self._too_many_broken)
