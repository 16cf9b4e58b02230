"""``orionlite plot``: regret curve, parallel coordinates, parameter importance.

The file's extension picks the library: ``.png``, ``.svg`` or ``.pdf`` are drawn with
matplotlib, ``.html`` with plotly (an interactive page). Both are optional
(``pip install 'orionlite[plot]'``) and imported only here, only when asked for.

Only completed trials are plotted, in completion order (``ended_at``), which is what
"after N trials" means when several workers finish trials in an order unrelated to ids.

Parameter importance is the share of a random forest's impurity decrease when the forest,
50 trees with a fixed seed, learns to predict the objective from the parameters
(``orionlite.forest``, numpy only: importing scikit-learn took longer than the fit). Log-scale
dimensions are fed in log10, choices as their option index. It ranks parameters sensibly
once a few dozen trials exist, sees parameters that matter only together, and says which
parameters the objective depends on in the region explored, not why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orionlite.errors import ConfigError, OrionliteError
from orionlite.figure_files import (
    DPI,
    MATPLOTLIB_SUFFIXES,
    PLOTLY_SUFFIXES,
    new_figure,
    require_extra,
)
from orionlite.records import TrialRecord, TrialStatus
from orionlite.sampling import BEST_LINES, MAX_FIT, MAX_LINES, for_fit, for_lines
from orionlite.space import Choices, Fidelity, LogUniform, Prior, Uniform

if TYPE_CHECKING:
    from orionlite.experiment import Experiment

KINDS = ("regret", "parallel", "importance", "curves", "pareto")


def completed_trials(experiment: Experiment) -> list[TrialRecord]:
    """Completed trials in the order they completed."""
    # The history's read (all JSON decoded at once) is a third faster than row by row.
    every, _ = experiment.storage.fetch_changed_trials(experiment.id, 0)
    trials = [trial for trial in every if trial.status is TrialStatus.COMPLETED]
    return sorted(trials, key=lambda t: (t.ended_at or 0.0, t.id))


@dataclass(frozen=True)
class Regret:
    """What the regret curve shows: objective and best-so-far per completed trial."""

    numbers: list[int]
    trial_ids: list[int]
    objectives: list[float]
    best_so_far: list[float]


def regret(trials: Sequence[TrialRecord], maximize: bool = False) -> Regret:
    """Best so far by the objective's direction; a trial that violates a constraint
    never counts as best (the curve keeps the previous best, or starts at the first)."""
    from orionlite.objectives import feasible

    sign = -1.0 if maximize else 1.0
    best = math.inf
    best_so_far = []
    for trial in trials:
        assert trial.objective is not None
        if feasible(trial):
            best = min(best, sign * trial.objective)
        best_so_far.append(sign * best if math.isfinite(best) else float(trial.objective))
    return Regret(
        numbers=list(range(1, len(trials) + 1)),
        # What people call the trials: their number in the experiment (the id before
        # numbers existed).
        trial_ids=[trial.number or trial.id for trial in trials],
        objectives=[float(trial.objective or 0.0) for trial in trials],
        best_so_far=best_so_far,
    )


@dataclass(frozen=True)
class Axis:
    """One dimension encoded as numbers: raw values mapped for plotting and fitting."""

    name: str
    values: list[float]
    log: bool
    categories: list[Any] | None
    bounds: tuple[float, float]

    def label(self, value: float) -> str:
        if self.categories is not None:
            return str(self.categories[round(value)])
        shown = 10**value if self.log else value
        return f"{shown:.3g}"


def _encode(name: str, prior: Prior | None, raw: list[Any]) -> Axis:
    """Numbers for one dimension: log10 for log scales, option index for choices."""
    if isinstance(prior, Choices):
        categories = list(prior.options)
        index = {repr(option): i for i, option in enumerate(categories)}
        values = [float(index.get(repr(value), 0)) for value in raw]
        return Axis(name, values, False, categories, (0.0, float(max(len(categories) - 1, 1))))
    if prior is None and any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in raw):
        categories = sorted({repr(v): v for v in raw}.values(), key=repr)
        index = {repr(option): i for i, option in enumerate(categories)}
        values = [float(index[repr(value)]) for value in raw]
        return Axis(name, values, False, categories, (0.0, float(max(len(categories) - 1, 1))))
    log = isinstance(prior, LogUniform)
    values = [math.log10(v) if log else float(v) for v in raw]
    if isinstance(prior, (Uniform, LogUniform, Fidelity)):
        low, high = (
            (math.log10(prior.low), math.log10(prior.high))
            if log
            else (
                float(prior.low),
                float(prior.high),
            )
        )
    else:
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return Axis(name, values, log, None, (low, high))


def axes(experiment: Experiment, trials: Sequence[TrialRecord]) -> list[Axis]:
    """One encoded axis per dimension of the space (and any extra parameter seen)."""
    names = list(experiment.space)
    for trial in trials:
        names += [name for name in trial.params if name not in names]
    result = []
    for name in names:
        raw = [trial.params.get(name) for trial in trials]
        prior = experiment.space.get(name)
        if any(value is None for value in raw):
            continue  # a parameter only some trials have cannot be drawn as a line
        result.append(_encode(name, prior, raw))
    return result


def parcoords_dimensions(
    experiment: Experiment, trials: Sequence[TrialRecord]
) -> list[dict[str, Any]]:
    """Plotly's parallel-coordinates dimensions: one per parameter, then the objective."""
    dimensions: list[dict[str, Any]] = []
    for axis in axes(experiment, trials):
        entry: dict[str, Any] = {
            "label": axis.name + (" (log10)" if axis.log else ""),
            "values": axis.values,
            "range": list(axis.bounds),
        }
        if axis.categories is not None:
            entry["tickvals"] = list(range(len(axis.categories)))
            entry["ticktext"] = [str(option) for option in axis.categories]
        dimensions.append(entry)
    objectives = [trial.objective for trial in trials]
    dimensions.append({"label": "objective", "values": objectives})
    return dimensions


def drawn(shown: int, total: int) -> str:
    """How many trials a plot shows, out of how many (see orionlite.sampling)."""
    if shown == total:
        return f"{total} completed trials"
    return f"{shown} of {total} completed trials: the best and an even spread"


def fitted(used: int, total: int) -> str:
    """How many trials importance was fitted on, out of how many (orionlite.sampling)."""
    if used == total:
        return f"{total} completed trials"
    return f"fitted on {used} of {total} completed trials, evenly spread"


def importances(experiment: Experiment, trials: Sequence[TrialRecord]) -> dict[str, float]:
    """Parameter -> importance (summing to 1, or all 0 when nothing varies); see module doc."""
    import numpy as np

    from orionlite import forest

    trials = for_fit(trials)
    encoded = axes(experiment, trials)
    if len(trials) < 2 or not encoded:
        raise OrionliteError(
            f"Parameter importance needs at least 2 completed trials; {experiment.name!r} "
            f"has {len(trials)}.",
            hint="Run more trials first (a few dozen give a meaningful ranking).",
        )
    features = np.array([axis.values for axis in encoded], dtype=float).T
    target = np.array([trial.objective for trial in trials], dtype=float)
    if np.ptp(target) == 0:
        return {axis.name: 0.0 for axis in encoded}
    scores = forest.importances(features, target)
    return {axis.name: float(value) for axis, value in zip(encoded, scores, strict=True)}


# -- output -------------------------------------------------------------------------------


def plot(experiment: Experiment, kind: str, output: str | Path) -> Path:
    """Draw ``kind`` for ``experiment`` into ``output``; the extension picks the library."""
    path = Path(output)
    suffix = path.suffix.lower()
    if kind not in KINDS:
        raise ConfigError(f"Unknown plot kind {kind!r}.", hint=f"Choose one of: {', '.join(KINDS)}")
    if suffix not in MATPLOTLIB_SUFFIXES + PLOTLY_SUFFIXES:
        raise ConfigError(
            f"Cannot tell the plot format from {str(path)!r}.",
            hint="End the file name with .png, .svg or .pdf (matplotlib) or .html (plotly).",
        )
    if kind == "curves":  # intermediate values, not completed trials: its own module
        from orionlite.plot_curves import plot_curves

        require_extra("plotly" if suffix in PLOTLY_SUFFIXES else "matplotlib")
        return plot_curves(experiment, path, interactive=suffix in PLOTLY_SUFFIXES)
    # A fit or lines of a sample: only the sample's rows are read.
    if kind == "importance":
        trials, total = experiment.storage.completed_spread(experiment.id, MAX_FIT)
    elif kind == "parallel":
        trials, total = experiment.storage.completed_lines(experiment.id, MAX_LINES, BEST_LINES)
    else:
        trials = completed_trials(experiment)
        total = len(trials)
    if not trials:
        raise OrionliteError(
            f"Experiment {experiment.name!r} v{experiment.version} has no completed trial to "
            "plot yet.",
            hint=f"Check its trials with: orionlite status -n {experiment.name}",
        )
    title = f"{experiment.name} v{experiment.version}"
    if kind == "pareto":
        from orionlite.pareto_plot import draw_pareto

        return draw_pareto(experiment, trials, title, path)
    if kind == "importance":
        title += f" ({fitted(len(trials), total)})"
    elif kind == "parallel":
        title += f" ({drawn(len(trials), total)})"
    if suffix in PLOTLY_SUFFIXES:
        require_extra("plotly")
        figure = _PLOTLY[kind](experiment, trials, title)
        # Self-contained (plotly.js inlined): opens offline, e.g. copied from a cluster.
        figure.write_html(str(path), include_plotlyjs=True)
    else:
        require_extra("matplotlib")
        figure = _MATPLOTLIB[kind](experiment, trials, title)
        figure.savefig(str(path), dpi=DPI)
    return path


def _maximize(experiment: Experiment) -> bool:
    return experiment.objectives.first.direction == "maximize"


def _objective_label(experiment: Experiment) -> str:
    better = "higher" if _maximize(experiment) else "lower"
    return f"{experiment.objectives.first.name or 'Objective'} ({better} is better)"


def _use_log_scale(values: Sequence[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) > 1e3


def _regret_matplotlib(experiment: Experiment, trials: Sequence[TrialRecord], title: str) -> Any:
    data = regret(trials, _maximize(experiment))
    figure = new_figure()
    ax = figure.add_subplot()
    ax.scatter(
        data.numbers,
        data.objectives,
        s=18,
        color="tab:blue",
        alpha=0.45,
        label="objective of each trial",
        zorder=2,
    )
    ax.step(
        data.numbers,
        data.best_so_far,
        where="post",
        color="tab:red",
        linewidth=2,
        label="best so far",
        zorder=3,
    )
    best_index = data.objectives.index(data.best_so_far[-1])
    ax.annotate(
        f"best {data.best_so_far[-1]:.4g} (trial {data.trial_ids[best_index]})",
        xy=(data.numbers[best_index], data.objectives[best_index]),
        xytext=(8, 10),
        textcoords="offset points",
        fontsize=9,
        color="tab:red",
    )
    if _use_log_scale(data.objectives):
        ax.set_yscale("log")
    ax.set_xlabel("Trials completed (in completion order)")
    ax.set_ylabel(_objective_label(experiment))
    ax.set_title(f"Regret: {title}")
    ax.set_xlim(0.5, max(len(data.numbers), 1) + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    return figure


def _regret_plotly(experiment: Experiment, trials: Sequence[TrialRecord], title: str) -> Any:
    import plotly.graph_objects as go

    data = regret(trials, _maximize(experiment))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=data.numbers,
            y=data.objectives,
            mode="markers",
            name="objective of each trial",
            text=[f"trial {i}" for i in data.trial_ids],
            opacity=0.6,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=data.numbers,
            y=data.best_so_far,
            mode="lines",
            line={"shape": "hv", "width": 3},
            name="best so far",
        )
    )
    figure.update_layout(
        title=f"Regret: {title}",
        xaxis_title="Trials completed (in completion order)",
        yaxis_title=_objective_label(experiment),
        yaxis_type="log" if _use_log_scale(data.objectives) else "linear",
    )
    return figure


def _normalised(axis: Axis) -> list[float]:
    low, high = axis.bounds
    return [(value - low) / (high - low) for value in axis.values]


def _axis_labels(axis: Axis) -> list[tuple[float, str]]:
    """(height 0..1, text) of the values written along one parallel axis."""
    low, high = axis.bounds
    if axis.categories is not None:
        points = [float(index) for index in range(len(axis.categories))]
    else:
        points = [low, (low + high) / 2, high]
        integers = [value for value in axis.values if float(value).is_integer()]
        if not axis.log and len(integers) == len(axis.values) and high - low <= 6:
            points = [float(v) for v in range(math.ceil(low), math.floor(high) + 1)]
    return [((value - low) / (high - low), axis.label(value)) for value in points]


def _parallel_matplotlib(experiment: Experiment, trials: Sequence[TrialRecord], title: str) -> Any:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    trials = for_lines(trials)  # already a sample when plot() read it
    encoded = axes(experiment, trials)
    objectives = [float(trial.objective or 0.0) for trial in trials]
    objective_axis = Axis("objective", objectives, False, None, (min(objectives), max(objectives)))
    if objective_axis.bounds[1] <= objective_axis.bounds[0]:
        low = objective_axis.bounds[0]
        objective_axis = Axis("objective", objectives, False, None, (low - 0.5, low + 0.5))
    columns = [*encoded, objective_axis]
    normalised = [_normalised(axis) for axis in columns]
    colour = Normalize(vmin=min(objectives), vmax=max(objectives))
    # Dark = low objective = good: the best lines stand out on white.
    sign = -1.0 if _maximize(experiment) else 1.0
    cmap = colormaps["viridis_r" if sign < 0 else "viridis"]
    figure = new_figure()
    ax = figure.add_subplot()
    xs = list(range(len(columns)))
    # Worst first, so the best trials are drawn on top. One collection for every line: a
    # Line2D per trial made drawing a thousand of them the plot's largest cost.
    order = sorted(range(len(trials)), key=lambda i: -sign * objectives[i])
    lines = [list(zip(xs, [column[i] for column in normalised], strict=True)) for i in order]
    colours = [cmap(colour(objectives[i])) for i in order]
    ax.add_collection(LineCollection(lines, colors=colours, alpha=0.65, linewidths=1.1))
    best = order[-1]
    ax.plot(
        xs,
        [column[best] for column in normalised],
        color="tab:red",
        linewidth=2.5,
        label=f"best: trial {trials[best].number or trials[best].id} ({objectives[best]:.4g})",
        zorder=5,
    )
    label_box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"}
    for x, axis in zip(xs, columns, strict=True):
        ax.axvline(x, color="black", linewidth=0.8, zorder=4)
        for y, text in _axis_labels(axis):
            ax.text(x + 0.03, y, text, fontsize=8, va="center", bbox=label_box, zorder=6)
    ax.set_xticks(xs)
    ax.set_xticklabels(
        [axis.name + (" (log)" if axis.log else "") for axis in columns],
        rotation=20 if len(columns) > 5 else 0,
        ha="right" if len(columns) > 5 else "center",
    )
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.2, len(columns) - 0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Parallel coordinates: {title}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False, fontsize=9)
    mappable = ScalarMappable(norm=colour, cmap=cmap)
    figure.colorbar(mappable, ax=ax, label="Objective (lower is better)", pad=0.02)
    return figure


def _parallel_plotly(experiment: Experiment, trials: Sequence[TrialRecord], title: str) -> Any:
    import plotly.graph_objects as go

    trials = for_lines(trials)
    dimensions = parcoords_dimensions(experiment, trials)
    objectives = dimensions[-1]["values"]
    figure = go.Figure(
        go.Parcoords(
            line={
                "color": objectives,
                "colorscale": "Viridis",
                "reversescale": True,
                "showscale": True,
                "colorbar": {"title": {"text": "objective"}},
            },
            dimensions=dimensions,
        )
    )
    figure.update_layout(title=f"Parallel coordinates: {title}")
    return figure


def _importance_matplotlib(
    experiment: Experiment, trials: Sequence[TrialRecord], title: str
) -> Any:
    scores = sorted(importances(experiment, trials).items(), key=lambda item: item[1])
    figure = new_figure()
    ax = figure.add_subplot()
    names = [name for name, _ in scores]
    values = [value for _, value in scores]
    bars = ax.barh(names, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{value:.2f}" for value in values], padding=3, fontsize=9)
    ax.set_xlim(0, max([*values, 0.01]) * 1.15)
    ax.set_xlabel("Importance (share of a random forest's impurity decrease)")
    ax.set_ylabel("Parameter")
    ax.set_title(f"Parameter importance: {title}")
    ax.grid(True, axis="x", alpha=0.3)
    return figure


def _importance_plotly(experiment: Experiment, trials: Sequence[TrialRecord], title: str) -> Any:
    import plotly.graph_objects as go

    scores = sorted(importances(experiment, trials).items(), key=lambda item: item[1])
    figure = go.Figure(
        go.Bar(
            x=[value for _, value in scores],
            y=[name for name, _ in scores],
            orientation="h",
            text=[f"{value:.2f}" for _, value in scores],
        )
    )
    figure.update_layout(
        title=f"Parameter importance: {title}",
        xaxis_title="Importance (share of a random forest's impurity decrease)",
        yaxis_title="Parameter",
    )
    return figure


_MATPLOTLIB = {
    "regret": _regret_matplotlib,
    "parallel": _parallel_matplotlib,
    "importance": _importance_matplotlib,
}
_PLOTLY = {
    "regret": _regret_plotly,
    "parallel": _parallel_plotly,
    "importance": _importance_plotly,
}
