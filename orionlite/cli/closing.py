"""The closing lines of ``hunt`` and its exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orionlite.cli.output import echo_err, format_value

if TYPE_CHECKING:
    from orionlite.launch import HuntResult

EXIT_OK = 0
EXIT_INTERRUPTED = 130


def print_closing(result: HuntResult) -> int:
    from orionlite.summary import summarize
    from orionlite.worker import WorkerExit

    experiment = result.experiment
    summary = summarize(experiment.storage, experiment.record)
    label = f"{experiment.name!r} v{experiment.version}"
    completed: int | str = summary.counts["completed"]
    if summary.counts.get("pruned"):
        # Pruned trials count toward max_trials like completed ones.
        pruned = summary.counts["pruned"]
        completed = f"{summary.counts['completed'] + pruned} ({pruned} pruned)"
    limit = f" of {summary.max_trials}" if summary.max_trials else ""
    reason = result.reason
    if reason is WorkerExit.DONE:
        echo_err(f"Experiment {label} is done: {completed}{limit} trials completed.")
    elif reason is WorkerExit.EXHAUSTED:
        echo_err(f"The search space of {label} is exhausted: every point was proposed.")
    elif reason is WorkerExit.WORKER_LIMIT:
        echo_err(f"This worker ran its --worker-max-trials trials; {completed}{limit} completed.")
    elif reason is WorkerExit.DURATION:
        gave_back = sum(r.interrupted for r in result.reports)
        echo_err(
            "This worker reached --max-duration"
            + (f"; {_given_back(gave_back)}" if gave_back else ".")
            + f" {completed}{limit} trials completed."
        )
    elif reason is WorkerExit.IDLE:
        echo_err("No trial could be reserved within --idle-timeout; this worker leaves.")
    else:
        echo_err(f"Interrupted: {_given_back(sum(r.interrupted for r in result.reports))}")
    if summary.pareto_front is not None:
        echo_err(
            f"Pareto front of {', '.join(summary.objectives)}: "
            f"{len(summary.pareto_front)} trials "
            f"({', '.join(str(point['trial']) for point in summary.pareto_front[:10])}"
            f"{', ...' if len(summary.pareto_front) > 10 else ''}); see orionlite info"
        )
    elif summary.best_trial_id is not None:
        params = ", ".join(f"{k}={format_value(v)}" for k, v in (summary.best_params or {}).items())
        echo_err(
            f"Best objective {format_value(summary.best_objective)} "
            f"(trial {summary.best_trial_number or summary.best_trial_id} of "
            f"{experiment.name!r}): {params}"
        )
    return EXIT_INTERRUPTED if reason is WorkerExit.INTERRUPTED else EXIT_OK


def _given_back(trials: int) -> str:
    if trials == 0:
        return "no trial was running."
    if trials == 1:
        return "the running trial went back to the pool."
    return f"the {trials} running trials went back to the pool."
