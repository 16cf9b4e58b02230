"""``plot --kind pareto``: completed trials by two or three objectives, front marked.

Axes are the objectives as reported (not negated), so a maximised objective reads the
way the trial reported it; infeasible trials are drawn apart, in grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.errors import ConfigError
from orionlite.figure_files import DPI, PLOTLY_SUFFIXES, new_figure, require_extra
from orionlite.objectives import feasible, pareto_front

if TYPE_CHECKING:
    from orionlite.experiment import Experiment
    from orionlite.records import TrialRecord


def draw_pareto(
    experiment: Experiment, trials: Sequence[TrialRecord], title: str, path: Path
) -> Path:
    objectives = experiment.objectives
    if len(objectives.items) not in (2, 3):
        raise ConfigError(
            f"A Pareto plot needs 2 or 3 objectives; {experiment.name!r} declares "
            f"{len(objectives.items)}.",
            hint="Use --kind regret for one objective.",
        )
    front_ids = {trial.id for trial in pareto_front(trials, objectives)}
    groups: dict[str, list[tuple[int, list[float]]]] = {"front": [], "other": [], "infeasible": []}
    for trial in trials:
        values = objectives.values(trial)
        if values is None:
            continue
        group = "front" if trial.id in front_ids else "other" if feasible(trial) else "infeasible"
        groups[group].append((trial.id, values))
    labels = [item.label() for item in objectives.items]
    if path.suffix.lower() in PLOTLY_SUFFIXES:
        require_extra("plotly")
        _plotly(groups, labels, f"Pareto front: {title}").write_html(
            str(path), include_plotlyjs=True
        )
    else:
        require_extra("matplotlib")
        _matplotlib(groups, labels, f"Pareto front: {title}").savefig(str(path), dpi=DPI)
    return path


# Hex (matplotlib's tab:red and tab:blue): plotly takes CSS colours only.
_STYLE = {"front": ("#d62728", "Pareto front"), "other": ("#1f77b4", "dominated")}
_STYLE["infeasible"] = ("lightgrey", "violates a constraint")


def _matplotlib(
    groups: dict[str, list[tuple[int, list[float]]]], labels: list[str], title: str
) -> Any:
    figure = new_figure()
    three = len(labels) == 3
    ax = figure.add_subplot(projection="3d") if three else figure.add_subplot()
    for group in ("infeasible", "other", "front"):
        points = groups[group]
        if not points:
            continue
        colour, name = _STYLE[group]
        columns = list(zip(*(values for _, values in points), strict=True))
        ax.scatter(*columns, s=22 if group == "front" else 14, color=colour, label=name)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if three:
        ax.set_zlabel(labels[2])
    ax.set_title(title)
    ax.legend(loc="best")
    return figure


def _plotly(groups: dict[str, list[tuple[int, list[float]]]], labels: list[str], title: str) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    three = len(labels) == 3
    for group in ("infeasible", "other", "front"):
        points = groups[group]
        if not points:
            continue
        colour, name = _STYLE[group]
        columns = list(zip(*(values for _, values in points), strict=True))
        common = {
            "mode": "markers",
            "name": name,
            "marker": {"color": colour},
            "text": [f"trial {trial_id}" for trial_id, _ in points],
        }
        if three:
            figure.add_trace(go.Scatter3d(x=columns[0], y=columns[1], z=columns[2], **common))
        else:
            figure.add_trace(go.Scatter(x=columns[0], y=columns[1], **common))
    if three:
        figure.update_layout(
            title=title,
            scene={"xaxis_title": labels[0], "yaxis_title": labels[1], "zaxis_title": labels[2]},
        )
    else:
        figure.update_layout(title=title, xaxis_title=labels[0], yaxis_title=labels[1])
    return figure
