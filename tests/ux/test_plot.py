"""``orionlite plot``: each kind as PNG (matplotlib) and HTML (plotly), and the message
users get when the optional extra is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from orionlite.cli import run
from orionlite.cli.plot import plot_command
from orionlite.errors import MissingExtraError, OrionliteError
from orionlite.experiment import Experiment
from orionlite.plotting import completed_trials, importances, plot, regret
from orionlite.sampling import for_fit, for_lines

KINDS = ("regret", "parallel", "importance")


def test_regret_is_best_so_far_in_completion_order(sqlite_quadratic: Experiment) -> None:
    trials = completed_trials(sqlite_quadratic)
    data = regret(trials)
    assert data.numbers == list(range(1, 21))
    assert data.best_so_far == [
        min(t.objective for t in trials[: i + 1])
        for i in range(len(trials))  # type: ignore[misc]
    ]
    assert [t.ended_at for t in trials] == sorted(t.ended_at for t in trials)  # type: ignore[misc]


def test_importance_ranks_the_parameter_the_objective_depends_on(
    sqlite_quadratic: Experiment,
) -> None:
    scores = importances(sqlite_quadratic, completed_trials(sqlite_quadratic))
    assert set(scores) == {"lr", "layers", "opt"}
    assert sum(scores.values()) == pytest.approx(1.0)
    # sgd adds 1.0 to the loss; lr and layers move it by at most 0.4 and 0.2.
    assert max(scores, key=lambda name: scores[name]) == "opt"


def test_importance_and_parallel_read_only_the_sample_they_draw(
    quadratic_experiment: Experiment,
) -> None:
    """The rows read for a fit or for lines are the samples for_fit and for_lines take of
    every completed trial."""
    every = completed_trials(quadratic_experiment)
    storage = quadratic_experiment.storage
    sample, total = storage.completed_spread(quadratic_experiment.id, 7)
    assert total == len(every) > 7
    assert sample == for_fit(every, 7)
    lines, total = storage.completed_lines(quadratic_experiment.id, 7, 2)
    assert total == len(every) and lines == for_lines(every, 7, 2) and len(lines) == 7
    assert quadratic_experiment.storage.completed_spread(quadratic_experiment.id, 99) == (
        every,
        len(every),
    )


def test_parallel_draws_every_trial_worst_first(sqlite_quadratic: Experiment) -> None:
    pytest.importorskip("matplotlib", reason="the 'plot' extra (matplotlib) is not installed")
    from orionlite import plotting

    trials = completed_trials(sqlite_quadratic)
    figure = plotting._parallel_matplotlib(sqlite_quadratic, trials, "quad")
    (lines,) = figure.axes[0].collections
    drawn = [segment[-1][1] for segment in lines.get_segments()]  # the objective axis
    assert len(drawn) == len(trials)
    assert drawn == sorted(drawn, reverse=True)  # minimised: the best, lowest, last


@pytest.mark.parametrize("kind", KINDS)
def test_png(sqlite_quadratic: Experiment, tmp_path: Path, kind: str) -> None:
    pytest.importorskip("matplotlib", reason="the 'plot' extra (matplotlib) is not installed")
    path = plot(sqlite_quadratic, kind, tmp_path / f"{kind}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("kind", KINDS)
def test_html(sqlite_quadratic: Experiment, tmp_path: Path, kind: str) -> None:
    pytest.importorskip("plotly", reason="the 'plot' extra (plotly) is not installed")
    path = plot(sqlite_quadratic, kind, tmp_path / f"{kind}.html")
    text = path.read_text()
    assert "<html>" in text and "plotly" in text.lower()
    assert "quad v1" in text


def test_cli_writes_the_file(quadratic_experiment: Experiment, db_url: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the 'plot' extra (matplotlib) is not installed")
    out = tmp_path / "r.png"
    assert run(plot_command, ["-n", "quad", "--storage", db_url, "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_missing_extra_names_the_install_command(
    sqlite_quadratic: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingExtraError) as caught:
        plot(sqlite_quadratic, "regret", tmp_path / "r.png")
    assert caught.value.hint == "Install the plotting extra: pip install 'orionlite[plot]'"
    assert not (tmp_path / "r.png").exists()


def test_unknown_extension_and_empty_experiment(
    sqlite_quadratic: Experiment, sqlite_storage: Any, tmp_path: Path
) -> None:
    with pytest.raises(OrionliteError, match="Cannot tell the plot format"):
        plot(sqlite_quadratic, "regret", tmp_path / "r.jpeg")
    from ux_helpers import make_experiment

    empty = make_experiment(sqlite_storage, "empty", {"x": "uniform(0, 1)"})
    with pytest.raises(OrionliteError, match="has no completed trial to plot yet"):
        plot(empty, "regret", tmp_path / "r.png")


def _three_objectives(tmp_path: Path) -> Experiment:
    from orionlite import build_experiment
    from orionlite.experiment import open_experiment
    from orionlite.storage import Storage

    url = f"sqlite:///{tmp_path / 'mo.db'}"
    client = build_experiment(
        "mo",
        space={"x": "uniform(0, 1)"},
        storage=url,
        objectives={"a": "minimize", "b": "minimize", "c": "maximize"},
    )
    for _ in range(12):
        trial = client.suggest()
        x = trial.params["x"]
        client.observe(
            trial,
            [
                {"name": "a", "type": "objective", "value": x},
                {"name": "b", "type": "objective", "value": 1 - x},
                {"name": "c", "type": "objective", "value": x * x},
                {"name": "limit", "type": "constraint", "value": x - 0.9},
            ],
        )
    client.close()
    return open_experiment(Storage(url), "mo")


def test_pareto_in_three_objectives_as_png_and_html(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the 'plot' extra (matplotlib) is not installed")
    pytest.importorskip("plotly", reason="the 'plot' extra (plotly) is not installed")
    experiment = _three_objectives(tmp_path)
    png = plot(experiment, "pareto", tmp_path / "front.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = plot(experiment, "pareto", tmp_path / "front.html").read_text()
    assert "Pareto front: mo v1" in text and "c (max)" in text


def test_pareto_needs_two_or_three_objectives(sqlite_quadratic: Experiment, tmp_path: Path) -> None:
    with pytest.raises(OrionliteError) as info:
        plot(sqlite_quadratic, "pareto", tmp_path / "front.png")
    assert "A Pareto plot needs 2 or 3 objectives" in info.value.message
