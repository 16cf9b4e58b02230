"""``orionlite plot --kind curves``: the intermediate values of every trial, per step.

One line per trial that reported progress; pruned trials are drawn apart (orange, ending
in a cross where they were stopped) from the others (blue), so a glance shows where the
stop rule cut and whether the survivors went on to do better.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.errors import OrionliteError
from orionlite.figure_files import DPI
from orionlite.records import TrialStatus

if TYPE_CHECKING:
    from orionlite.experiment import Experiment

_FIGSIZE = (9.0, 5.5)


@dataclass(frozen=True)
class Curve:
    trial_id: int
    status: TrialStatus
    steps: list[int]
    values: list[float]

    @property
    def pruned(self) -> bool:
        return self.status is TrialStatus.PRUNED


def curves(experiment: Experiment) -> list[Curve]:
    """Every trial's reported points (current attempt), in trial order."""
    statuses = {trial.id: trial.status for trial in experiment.storage.trials(experiment.id)}
    return [
        Curve(trial_id, statuses.get(trial_id, TrialStatus.RESERVED), *_unzip(points))
        for trial_id, points in sorted(experiment.storage.progress(experiment.id).items())
    ]


def _unzip(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [step for step, _ in points], [value for _, value in points]


def plot_curves(experiment: Experiment, path: Path, *, interactive: bool) -> Path:
    found = curves(experiment)
    if not found:
        raise OrionliteError(
            f"Experiment {experiment.name!r} v{experiment.version} has no trial that "
            "reported progress yet.",
            hint="Trials report values per step to $ORIONLITE_PROGRESS_PATH, or with "
            "orionlite.report_progress(step, value) (see docs/early-stopping.md).",
        )
    title = f"Learning curves: {experiment.name} v{experiment.version}"
    pruned = sum(curve.pruned for curve in found)
    title += f" ({len(found)} trials, {pruned} pruned)"
    if interactive:
        _plotly(found, title).write_html(str(path), include_plotlyjs=True)
    else:
        _matplotlib(found, title).savefig(str(path), dpi=DPI)
    return path


def _matplotlib(found: list[Curve], title: str) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=_FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    labelled: set[bool] = set()
    for curve in found:
        color = "tab:orange" if curve.pruned else "tab:blue"
        label = None
        if curve.pruned not in labelled:
            labelled.add(curve.pruned)
            label = "pruned" if curve.pruned else "not pruned"
        ax.plot(curve.steps, curve.values, color=color, alpha=0.6, linewidth=1.2, label=label)
        if curve.pruned:
            ax.plot(curve.steps[-1:], curve.values[-1:], marker="x", color=color, linestyle="")
    ax.set_xlabel("Step")
    ax.set_ylabel("Reported value (lower is better)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    return figure


def _plotly(found: list[Curve], title: str) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    for curve in found:
        color = "darkorange" if curve.pruned else "royalblue"
        figure.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.values,
                mode="lines",
                line={"color": color, "width": 1.2},
                opacity=0.7,
                name=f"trial {curve.trial_id}" + (" (pruned)" if curve.pruned else ""),
            )
        )
    figure.update_layout(title=title, xaxis_title="Step", yaxis_title="Reported value")
    return figure
