"""The dashboard on experiments with directions, several objectives, constraints and
early stopping, filled by real ``hunt`` workers on both backends: "best" follows the
direction and skips infeasible trials, several objectives show the Pareto front, and
the intermediate values reported through ``$ORIONLITE_PROGRESS_PATH`` are drawn."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from orionlite.dashboard.app import REDRAW_ENV
from orionlite.objectives import Objectives, feasible, pareto_front
from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage

# One script, three experiments (chosen by --mode): grid search makes each deterministic.
SCRIPT = """
import json, os, sys, time
args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
x, y, mode = float(args["x"]), float(args.get("y", "1")), args["mode"]
if mode == "curve":
    for step in range(1, 5):  # steps further apart than the workers' 0.2 s batching
        with open(os.environ["ORIONLITE_PROGRESS_PATH"], "a") as handle:
            handle.write(json.dumps({"step": step, "value": x + 1 / step}) + "\\n")
        time.sleep(0.3)
        if os.path.exists(os.environ["ORIONLITE_STOP_PATH"]):
            sys.exit(0)
    results = [{"name": "loss", "type": "objective", "value": x + 0.25}]
elif mode == "max":
    results = [
        {"name": "score", "type": "objective", "value": x},
        {"name": "cap", "type": "constraint", "value": x - 0.7},
    ]
else:
    results = [
        {"name": "loss", "type": "objective", "value": x + y / 10},
        {"name": "acc", "type": "objective", "value": x},
        {"name": "cap", "type": "constraint", "value": y - 5},
    ]
with open(os.environ["ORIONLITE_RESULTS_PATH"], "w") as handle:
    json.dump(results, handle)
"""


def _hunt(cli: Any, name: str, mode: str, *options: str, space: tuple[str, ...]) -> None:
    (cli.cwd / "modes.py").write_text(textwrap.dedent(SCRIPT))
    result = cli.run(
        "hunt", "-n", name, "--max-trials", "20", "--algorithm", "grid", *options,
        "--", cli.python, "modes.py", f"--mode={mode}", *space,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _trials(cli: Any, name: str) -> tuple[Any, list[TrialRecord]]:
    storage = Storage(cli.storage, create=False)
    try:
        record = storage.get_experiment(name)
        assert record is not None
        return record, storage.trials(record.id)
    finally:
        storage.close()


def _row(html: str, experiment_id: int) -> str:
    found = re.search(rf'<tr data-experiment="{experiment_id}">(.*?)</tr>', html, re.S)
    assert found, html
    return found.group(1)


def test_best_follows_the_direction_and_constraints_and_several_objectives_show_the_front(
    cli: Any, start_dashboard: Any
) -> None:
    x5 = "--x~uniform(0, 1)"
    _hunt(cli, "maxed", "max", "--maximize", "--algorithm-config", '{"n_values": 5}', space=(x5,))
    _hunt(
        cli, "two", "two", "--objective", "loss", "--objective", "acc:max",
        "--algorithm-config", '{"n_values": 3}', space=(x5, "--y~loguniform(0.1, 10)"),
    )  # fmt: skip
    maxed, maxed_trials = _trials(cli, "maxed")
    two, two_trials = _trials(cli, "two")
    completed = [t for t in maxed_trials if t.status is TrialStatus.COMPLETED]
    feasible_ones = [t for t in completed if feasible(t)]
    # The grid holds trials past the constraint, and the highest of them is not the best.
    assert len(feasible_ones) < len(completed)
    best = max(feasible_ones, key=lambda t: (t.objective, -t.id))
    assert best.objective is not None
    assert max(t.objective or 0.0 for t in completed) > best.objective
    front = pareto_front(two_trials, Objectives.from_json(two.objectives))
    assert 0 < len(front) < len(two_trials)

    dashboard = start_dashboard()
    status, html = dashboard.get("/")
    assert status == 200
    assert f"{best.objective:.6g} (max)" in _row(html, maxed.id)
    assert f"front: {len(front)}" in _row(html, two.id)

    # The experiment page: the best by direction, the trials sorted best first.
    status, html = dashboard.get(f"/experiments/{maxed.id}")
    assert status == 200 and f"(trial {best.id})" in html and "maximized" in html
    status, table = dashboard.get(f"/experiments/{maxed.id}/trials?sort=objective")
    ids = [int(i) for i in re.findall(r'<tr data-trial="(\d+)">', table)]
    expected = sorted(completed, key=lambda t: (-(t.objective or 0.0), t.id))
    assert ids[: len(expected)] == [t.id for t in expected]
    status, curve = dashboard.get(f"/api/experiments/{maxed.id}/curve")
    assert json.loads(curve)["best"]["y"][-1] == best.objective

    # Several objectives: the front's plot data, and the best of the front first.
    status, body = dashboard.get(f"/api/experiments/{two.id}/pareto")
    data = json.loads(body)
    assert status == 200 and data["labels"] == ["loss (min)", "acc (max)"]
    assert sorted(data["front"]["id"]) == sorted(t.id for t in front)
    assert data["infeasible"]["total"] == sum(not feasible(t) for t in two_trials)
    status, html = dashboard.get(f"/experiments/{two.id}")
    assert 'id="plot-pareto"' in html and f"(trial {front[0].id})" in html
    status, body = dashboard.get(f"/api/experiments/{maxed.id}/pareto")
    assert status == 400 and "2 or 3 objectives" in json.loads(body)["error"]

    # The trial page: objectives by name, constraint values, feasibility.
    infeasible = next(t for t in two_trials if not feasible(t))
    status, html = dashboard.get(f"/trials/{infeasible.id}")
    assert status == 200
    objectives = re.search(r'id="trial-objectives">(.*?)</table>', html, re.S)
    assert objectives and "<td>loss</td>" in objectives.group(1) and "maximize" in html
    assert 'id="trial-constraints"' in html and "<td>cap</td>" in html
    assert "<b>infeasible</b>" in html
    status, html = dashboard.get(f"/trials/{best.id}")
    assert 'id="trial-feasible">feasible' in html
    dashboard.stop()


def test_intermediate_values_and_pruned_trials_are_shown(cli: Any, start_dashboard: Any) -> None:
    _hunt(
        cli, "curves", "curve", "--algorithm-config", '{"n_values": 4}',
        "--early-stop", "threshold", "--early-stop-config", '{"upper": 1.5}',
        "--stop-grace", "2", space=("--x~uniform(0, 1)",),
    )  # fmt: skip
    record, found = _trials(cli, "curves")
    pruned = [t for t in found if t.status is TrialStatus.PRUNED]
    done = [t for t in found if t.status is TrialStatus.COMPLETED]
    assert pruned and done, [(t.params, t.status) for t in found]

    dashboard = start_dashboard()
    status, html = dashboard.get("/")
    cell = re.search(r'data-status="pruned">(\d+)<', _row(html, record.id))
    assert cell and int(cell.group(1)) == len(pruned)

    status, body = dashboard.get(f"/api/experiments/{record.id}/progress")
    data = json.loads(body)
    assert status == 200 and data["total"] == len(found)
    curves = {curve["id"]: curve for curve in data["curves"]}
    for trial in done:
        assert curves[trial.id]["steps"] == [1, 2, 3, 4] and not curves[trial.id]["pruned"]
        assert curves[trial.id]["values"][0] == trial.params["x"] + 1
    for trial in pruned:
        assert curves[trial.id]["pruned"] and curves[trial.id]["steps"][0] == 1
    status, html = dashboard.get(f"/experiments/{record.id}")
    assert 'id="plot-progress"' in html

    status, html = dashboard.get(f"/trials/{pruned[0].id}")
    table = re.search(r'id="trial-progress">(.*?)</table>', html, re.S)
    assert table and "<td>1</td>" in table.group(1) and "pruned after step" in html
    status, html = dashboard.get(f"/trials/{done[0].id}")
    table = re.search(r'id="trial-progress">(.*?)</table>', html, re.S)
    assert table and table.group(1).count("<tr>") == 5  # the header and 4 steps
    dashboard.stop()


def test_front_and_curves_in_a_browser_follow_a_worker(
    cli: Any, start_dashboard: Any, page: Any, tmp_path: Path
) -> None:
    from dashboard_helpers import finish, screenshot
    from playwright.sync_api import expect

    x = "--x~uniform(0, 1)"
    _hunt(
        cli, "two", "two", "--objective", "loss", "--objective", "acc:max",
        "--algorithm-config", '{"n_values": 3}', space=(x, "--y~loguniform(0.1, 10)"),
    )  # fmt: skip
    # No stop rule here: pruned trials are checked above, without a browser.
    curves = ("--algorithm-config", '{"n_values": 4}', "--max-trials", "2")
    _hunt(cli, "curves", "curve", *curves, space=(x,))
    two, _ = _trials(cli, "two")
    record, _ = _trials(cli, "curves")
    # Plots redrawn 0.5 s after a change rather than 10 s: the live redraw is what is checked.
    dashboard = start_dashboard(env={REDRAW_ENV: "500"})

    page.goto(dashboard.url + f"experiments/{two.id}")
    expect(page.locator("#plot-pareto .main-svg").first).to_be_visible()
    expect(page.locator("#pareto-note")).to_contain_text("on the front")
    expect(page.locator("#objectives")).to_contain_text("acc (max)")
    screenshot(page, tmp_path, "pareto")

    # The curves page follows a worker that runs the rest of the grid.
    page.goto(dashboard.url + f"experiments/{record.id}")
    expect(page.locator("#plot-progress .main-svg").first).to_be_visible()
    expect(page.locator("#progress-note")).to_have_text("(2 trials)")
    worker = cli.start(
        "hunt", "-n", "curves", "--max-trials", "20", "--",
        cli.python, "modes.py", "--mode=curve", x,
    )  # fmt: skip
    stderr = finish(worker)
    assert worker.returncode == 0, stderr
    expect(page.locator('#counts b[data-status="completed"]')).to_have_text("4")
    # Redrawn live (a trailing redraw follows the last change), without a reload.
    expect(page.locator("#progress-note")).to_have_text("(4 trials)")
    assert page.evaluate("document.getElementById('plot-progress').data.length") == 4 + 1
    screenshot(page, tmp_path, "curves")

    _, found = _trials(cli, "curves")
    page.goto(dashboard.url + f"trials/{found[-1].id}")
    expect(page.locator("#trial-progress tr")).to_have_count(5)  # the header and 4 steps
    expect(page.locator("#trial-feasible")).to_contain_text("feasible")
    screenshot(page, tmp_path, "trial-progress")
    dashboard.stop()
