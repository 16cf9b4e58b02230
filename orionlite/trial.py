"""The trial as users of the Python API see it: a frozen snapshot of one stored trial, a
context manager while it is held, and the way a function run by ``workon`` reports
progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from orionlite.errors import TrialNotHeldError
from orionlite.records import TrialRecord, TrialStatus

if TYPE_CHECKING:
    from orionlite.trial_progress import ProgressMonitor


class TrialOwner(Protocol):
    """What holds a suggested trial (the ExperimentClient): it gives the trial back when
    its ``with`` block ends."""

    def _leave(self, trial: Trial, exc: BaseException | None) -> None: ...


@dataclass(frozen=True)
class Trial:
    """A trial as users see it; a snapshot, not a live view.

    ``suggest()`` returns one with status ``reserved``; ``observe`` and ``release`` return
    the updated snapshot. A trial from ``suggest()`` is also a context manager: leaving
    the block without ``observe`` gives it back (``interrupted``), and an exception marks
    it ``broken`` with the traceback in ``error`` before propagating.
    """

    id: int
    params: dict[str, Any]
    status: TrialStatus
    objective: float | None
    working_dir: Path
    results: list[dict[str, Any]] | None = None
    error: str | None = None
    #: Everything stored about the trial (timestamps, worker, attempt...).
    record: TrialRecord | None = field(default=None, repr=False, compare=False)
    _client: TrialOwner | None = field(default=None, repr=False, compare=False)
    #: The intermediate values it reported, as (step, value) in step order.
    progress: list[tuple[int, float]] = field(default_factory=list, repr=False, compare=False)
    # Set while a workon function runs the trial (see FunctionRunner).
    _monitor: ProgressMonitor | None = field(default=None, repr=False, compare=False)

    def report(self, step: int, value: float) -> bool:
        """Report the objective's value at ``step`` (an epoch); returns whether the
        experiment's stop rule stopped the trial (then also :attr:`should_stop`).

        For functions run by ``workon``. Steps must increase; values are stored in
        batches and judged by the rule (``build_experiment(..., early_stop=...)``). A
        function that returns after a stop is recorded ``pruned`` with its last value.
        """
        from orionlite.reporting import check_point

        step, value = check_point(step, value)
        if self._monitor is None:
            raise TrialNotHeldError(
                f"Trial {self.id} is not being run by workon, so it cannot report progress.",
                hint="Call trial.report(step, value) inside a function run by exp.workon(fn).",
            )
        return self._monitor.report(step, value)

    @property
    def should_stop(self) -> bool:
        """Whether the experiment's stop rule stopped this trial (see :meth:`report`)."""
        return self._monitor is not None and self._monitor.stop_reason is not None

    @classmethod
    def from_record(
        cls,
        record: TrialRecord,
        experiment_dir: Path,
        client: TrialOwner | None = None,
        progress: list[tuple[int, float]] | None = None,
        monitor: ProgressMonitor | None = None,
    ) -> Trial:
        return cls(
            id=record.id,
            params=dict(record.params),
            status=record.status,
            objective=record.objective,
            working_dir=experiment_dir / str(record.id),
            results=record.results,
            error=record.error,
            record=record,
            _client=client,
            progress=list(progress or []),
            _monitor=monitor,
        )

    def __enter__(self) -> Trial:
        if self._client is None:
            raise TrialNotHeldError(
                f"Trial {self.id} did not come from suggest(), so it cannot be used in a "
                "with statement."
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._client is not None
        self._client._leave(self, exc)

    def __getstate__(self) -> dict[str, Any]:
        # The client holds threads and connections; a copy elsewhere is a plain snapshot.
        return {**self.__dict__, "_client": None, "_monitor": None}


__all__ = ["Trial", "TrialOwner"]
