"""Run a trial by calling a Python function: the ``workon`` counterpart of the
command-line runner (:mod:`orionlite.command_runner`).

``fn(**params)`` returns the objective (a number) or a results list (SPEC §1). The
function runs in the worker's own thread, so it needs no pickling when ``workon`` runs in
this process, and the worker's heartbeat thread keeps its reservation alive meanwhile.

A Python call cannot be killed from outside. When the worker runs in a process's main
thread (in this process, a joblib/loky worker, an ``executor="process"`` worker), a stop or
a lost lease raises ``KeyboardInterrupt`` inside the function through the signal handler
(see :func:`orionlite.stop_channels.worker_signals`), like Ctrl-C on a script: a function may
catch it to save a checkpoint, and the trial then becomes ``interrupted`` all the same. In
another thread (Dask runs tasks in threads) the call finishes first; its result is kept.
"""

from __future__ import annotations

import inspect
import numbers
import reprlib
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.errors import ConfigError, ResultsError, TrialFailedError
from orionlite.outcome import LOST, LOST_AND_STOPPED, RunControls, TrialOutcome
from orionlite.records import TrialRecord, TrialStatus
from orionlite.reporting import in_process
from orionlite.results import normalize_results, objective_of
from orionlite.trial import Trial

if TYPE_CHECKING:
    from orionlite.experiment import Experiment
    from orionlite.signals import StopRequest
    from orionlite.stopping import StopRule
    from orionlite.trial_progress import ProgressMonitor

ON_ERROR = ("raise", "count")
# Tracebacks are kept whole unless huge (a recursion error); the end says the most.
MAX_ERROR_CHARS = 20_000
_RETURN_HINT = (
    "Return the objective as a number (it is minimised), or a results list such as "
    '[{"name": "loss", "type": "objective", "value": 0.1}].'
)


def accepts_trial(fn: Callable[..., Any], space: Mapping[str, Any]) -> bool:
    """Check ``fn`` against the space before any worker starts; True if it takes ``trial``.

    Every dimension is passed by name, so each must be a parameter of ``fn`` (or be
    collected by ``**kwargs``), and every parameter without a default must be a
    dimension (or ``trial``). A dimension named ``trial`` takes precedence over the
    trial object.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C callables: trust the user
        return False
    parameters = signature.parameters
    by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    catch_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    name = getattr(fn, "__name__", repr(fn))
    refused = [
        dim
        for dim in space
        if not (dim in parameters and parameters[dim].kind in by_name) and not catch_all
    ]
    if refused:
        raise ConfigError(
            f"{name}() does not accept the dimension(s) {', '.join(map(repr, refused))}: "
            "each trial calls it with every dimension as a keyword argument.",
            hint=f"Add them as parameters of {name}(), or collect them with **params.",
        )
    takes_trial = (
        "trial" in parameters and parameters["trial"].kind in by_name and "trial" not in space
    )
    required = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in space
        and not (takes_trial and p.name == "trial")
    ]
    if required:
        raise ConfigError(
            f"{name}() requires {', '.join(map(repr, required))}, which the search space "
            f"does not define (dimensions: {', '.join(space)}).",
            hint="Give those parameters a default, or add them to the space.",
        )
    return takes_trial


def results_from_return(value: Any) -> list[dict[str, Any]]:
    """What ``fn`` returned, as a validated results list (ResultsError if unusable)."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        try:
            return normalize_results(value)
        except ResultsError as exc:
            raise ResultsError(
                f"The function returned an invalid results list. {exc.message}", hint=_RETURN_HINT
            ) from None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return normalize_results(float(value))
    if hasattr(value, "__float__") and not isinstance(value, (str, bytes, bool)):
        try:  # a 0-d array or a framework's scalar tensor
            return normalize_results(float(value))
        except (TypeError, ValueError):
            pass
    raise ResultsError(
        f"The function returned {reprlib.repr(value)}, not an objective.", hint=_RETURN_HINT
    )


@dataclass
class _Failure:
    trial: TrialRecord
    exception: BaseException
    text: str


class FunctionRunner:
    """A :class:`~orionlite.outcome.TrialRunner` calling ``fn(**params)``.

    ``on_error="count"``: an exception marks the trial broken (traceback in ``error``) and
    counts toward max_broken. ``on_error="raise"``: the same, then the worker stops and
    :meth:`failure_error` gives the error that ``workon`` raises.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        experiment: Experiment,
        stop: StopRequest,
        on_error: str = "count",
        working_dir: Path | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ConfigError(f"on_error must be one of {ON_ERROR}, not {on_error!r}.")
        self.fn = fn
        self.experiment = experiment
        self.stop = stop
        self.on_error = on_error
        # Given by workon as resolved where it was called: a reused joblib worker may
        # still sit in the folder of an earlier call.
        self.working_dir = working_dir or experiment.working_dir
        self.takes_trial = accepts_trial(fn, experiment.space)
        self.failure: _Failure | None = None
        self._calling = False
        self._controls: RunControls | None = None
        self._call_number = 0
        self._nudged_call = 0
        self._interrupt_delivered = False
        self._rule: StopRule | None = None

    # -- interruption (see orionlite.stop_channels.worker_signals) ------------------------

    def wants_interrupt(self) -> bool:
        """True once per call if the running call should be interrupted now."""
        controls = self._controls
        if not self._calling or controls is None or self._nudged_call == self._call_number:
            return False
        if controls.interrupted() or controls.lost():
            self._nudged_call = self._call_number
            return True
        return False

    def on_signal(self) -> None:
        """Called by the main thread's signal handler: interrupt the call if one runs."""
        if self._calling:
            self._interrupt_delivered = True
            raise KeyboardInterrupt

    # -- running a trial ----------------------------------------------------------------

    def run(self, trial: TrialRecord, controls: RunControls) -> TrialOutcome:
        if controls.lost():
            return LOST
        if controls.interrupted():
            return TrialOutcome(TrialStatus.INTERRUPTED, error="Stopped before it started.")
        kwargs = dict(trial.params)
        monitor = self._monitor(trial)
        if self.takes_trial:
            kwargs["trial"] = Trial.from_record(trial, self.working_dir, monitor=monitor)
            # Only ``trial`` leads to the trial's folder: a function without it gets none
            # (an empty folder per trial, and a directory created on disk, 60 us each).
            (self.working_dir / str(trial.id)).mkdir(parents=True, exist_ok=True)
        self._controls = controls
        self._interrupt_delivered = False
        reporting = in_process.set(monitor)  # report_progress() goes to this trial
        try:
            try:
                self._call_number += 1
                self._calling = True
                value = self.fn(**kwargs)
            finally:
                self._calling = False
                in_process.reset(reporting)
        except KeyboardInterrupt:
            if controls.lost():
                return LOST_AND_STOPPED
            # Ctrl-C, a stop from another worker, or the function's own KeyboardInterrupt:
            # this worker stops either way.
            self.stop.requested.set()
            return TrialOutcome(
                TrialStatus.INTERRUPTED, error="Interrupted while the function ran."
            )
        except BaseException as exc:
            if controls.lost():
                return LOST
            return self._broken(trial, exc, format_error(exc, skip_frames=1))
        finally:
            self._controls = None
        if controls.lost():
            return LOST
        if self._interrupt_delivered:  # the function caught the interrupt and returned
            return TrialOutcome(
                TrialStatus.INTERRUPTED, error="Interrupted while the function ran."
            )
        monitor.flush(force=True, judge=False)
        if monitor.stop_reason is not None:  # it returned after the rule stopped it
            return monitor.pruned(TrialOutcome(TrialStatus.COMPLETED))
        try:
            results = results_from_return(value)
        except ResultsError as exc:
            # A wrong return type is a bug that every trial would repeat: like an exception.
            return self._broken(trial, exc, _message(exc))
        try:
            objective = objective_of(results)
        except ResultsError as exc:
            # NaN or infinity is an outcome of the hyperparameters (divergence), not a bug:
            # broken and counted, never raised.
            return TrialOutcome(TrialStatus.BROKEN, results=results, error=_message(exc))
        return TrialOutcome(TrialStatus.COMPLETED, objective=objective, results=results)

    def _monitor(self, trial: TrialRecord) -> ProgressMonitor:
        from orionlite.experiment import stored_early_stop
        from orionlite.stopping import StopRule
        from orionlite.trial_progress import ProgressMonitor

        if self._rule is None:
            self._rule = StopRule.from_spec(stored_early_stop(self.experiment.record))
        return ProgressMonitor(self.experiment.storage, trial, self._rule)

    def _broken(self, trial: TrialRecord, exc: BaseException, text: str) -> TrialOutcome:
        if self.on_error == "raise" and self.failure is None:
            self.failure = _Failure(trial, exc, text)
            self.stop.requested.set()  # the worker records this trial, then leaves
        return TrialOutcome(TrialStatus.BROKEN, error=text)

    def failure_error(self, *, portable: bool) -> TrialFailedError | None:
        """The error ``workon`` raises for an ``on_error="raise"`` failure, if any.

        The original exception rides along as ``original`` when it can cross a process
        boundary (``portable``); the traceback text always does.
        """
        failure = self.failure
        if failure is None:
            return None
        record = self.experiment.storage.get_trial(failure.trial.id) or failure.trial
        params = ", ".join(f"{k}={v!r}" for k, v in failure.trial.params.items())
        summary, _, details = failure.text.partition("\n\n")
        error = TrialFailedError(
            f"Trial {failure.trial.id} ({params}) failed: {summary}"
            + (f"\n{details}" if details else ""),
            hint="The trial is recorded broken with this traceback in its error. Fix the "
            "function and call workon again, or pass on_error='count' to keep going "
            "until max_broken trials broke.",
            trial=Trial.from_record(record, self.working_dir),
            traceback=failure.text,
            original=failure.exception,
        )
        if portable and not _survives_pickling(failure.exception):
            error.original = None
        return error


def format_error(exc: BaseException, *, skip_frames: int = 0) -> str:
    """The exception's summary line, then its traceback (minus our own frames).

    Summary first because listings and worker logs show an error's first line, and a
    traceback's first line ("Traceback (most recent call last):") says nothing.
    """
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = f"{summary}\n\n{''.join(lines).rstrip()}"
    if len(text) > MAX_ERROR_CHARS:  # keep the summary and the innermost frames
        text = f"{summary}\n\n...{text[-MAX_ERROR_CHARS:]}"
    return text


def _survives_pickling(value: object) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(value))
    except Exception:
        return False
    return True


def _message(exc: ResultsError) -> str:
    return exc.message + (f"\n{exc.hint}" if exc.hint else "")


__all__ = [
    "ON_ERROR",
    "FunctionRunner",
    "accepts_trial",
    "format_error",
    "results_from_return",
]
