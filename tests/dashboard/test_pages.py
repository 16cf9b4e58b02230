"""The dashboard in a real browser, against databases written by real ``hunt`` workers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import (
    file_digest,
    finish,
    hunt,
    row_counts,
    screenshot,
    write_script,
)
from playwright.sync_api import expect

from orionlite.storage import Storage

XSS = "<script>alert(1)</script>"
TIMEOUT_MS = 30_000


def _state(url: str, tmp_path: Path) -> object:
    """What must not change: the SQLite file's bytes, or the server's row counts (and
    MySQL's table checksums)."""
    if url.startswith("sqlite"):
        return file_digest(tmp_path / "orionlite.db")
    return row_counts(url)


def _with_password(url: str) -> str:
    """The PostgreSQL URL with a password (the test server trusts any)."""
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cretpw@")


def _reserved_trial(url: str) -> int:
    reader = Storage(url)
    record = reader.get_experiment("live")
    assert record is not None
    (trial,) = [t for t in reader.trials(record.id) if t.status.value == "reserved"]
    reader.close()
    return trial.id


def _rename_experiment(db_url: str, old: str, new: str) -> None:
    import sqlalchemy as sa

    from orionlite.storage.urls import normalize_url

    engine = sa.create_engine(normalize_url(db_url))
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE experiments SET name = :new WHERE name = :old"),
            {"new": new, "old": old},
        )
    engine.dispose()


def _objectives(page: Any) -> list[float]:
    cells = page.locator("#trials-table tbody tr td:nth-child(3)").all_inner_texts()
    return [float(text) for text in cells]


def test_experiments_to_trial_in_a_browser_changes_nothing(
    cli: Any, start_dashboard: Any, page: Any, tmp_path: Path, db_url: str
) -> None:
    hunt(cli, "quadratic", 10)
    hunt(cli, "hostile", 2)
    # hunt refuses a name with a path separator, but a database made before that check
    # (or written by another tool) may hold one: the dashboard must show it as text.
    _rename_experiment(db_url, "hostile", XSS)
    before = _state(db_url, tmp_path)
    storage = _with_password(db_url) if db_url.startswith("postgresql") else db_url
    dashboard = start_dashboard(storage=storage)
    page.set_default_timeout(TIMEOUT_MS)

    # Experiments: both rows, the hostile name shown as text, counts and best.
    page.goto(dashboard.url)
    expect(page.locator("#experiment-rows tr")).to_have_count(2)
    expect(page.locator("a.experiment-link", has_text=XSS)).to_have_text(XSS)
    row = page.locator("#experiment-rows tr", has=page.locator("a", has_text="quadratic"))
    expect(row.locator('td[data-status="completed"]')).to_have_text("10")
    expect(row.locator('td[data-status="new"]')).to_have_text("0")
    assert re.fullmatch(r"-?[0-9.e-]+", row.locator("td.best").inner_text())
    screenshot(page, tmp_path, "experiments")

    # Experiment: plots drawn, ten trials, sorting and filtering by the database.
    page.locator("a.experiment-link", has_text="quadratic").click()
    expect(page.locator("#experiment-title")).to_contain_text("quadratic")
    for plot in ("curve", "parallel", "importance"):
        expect(page.locator(f"#plot-{plot} .main-svg").first).to_be_visible()
    expect(page.locator("#trials-table tbody tr")).to_have_count(10)
    page.select_option("select[name=sort]", "objective")
    page.locator("#apply-filters").click()
    expect(page).to_have_url(re.compile(r"sort=objective"))
    objectives = _objectives(page)
    assert objectives == sorted(objectives) and len(objectives) == 10
    page.check("input[name=desc]")
    page.locator("#apply-filters").click()
    assert _objectives(page) == sorted(objectives, reverse=True)
    page.select_option("select[name=param]", "x")
    page.fill("input[name=low]", "0")
    page.fill("input[name=high]", "0.5")
    page.check('input[name=status][value="completed"]')
    page.locator("#apply-filters").click()
    reader = Storage(db_url)
    record = reader.get_experiment("quadratic")
    assert record is not None
    expected = [t for t in reader.trials(record.id) if t.params["x"] <= 0.5]
    reader.close()
    expect(page.locator("#trials-table tbody tr")).to_have_count(len(expected))
    expect(page.locator("#trials-total")).to_contain_text(f"{len(expected)} trial")
    screenshot(page, tmp_path, "experiment")

    # Trial: parameters, results, history, command and output, all as text.
    page.goto(dashboard.url + f"experiments/{record.id}?sort=objective")
    best_id = page.locator("#trials-table tbody tr").first.get_attribute("data-trial")
    page.locator("a.trial-link").first.click()
    expect(page.locator("h1")).to_contain_text(f"Trial {best_id}")
    expect(page.locator("#trial-status")).to_have_text("completed")
    expect(page.locator("#trial-params")).to_contain_text("x")
    expect(page.locator("#trial-results")).to_contain_text("acc")
    expect(page.locator("#trial-history")).to_contain_text("attempt 1 started")
    expect(page.locator("#trial-command")).to_contain_text("trial.py --x=")
    expect(page.locator("#trial-stdout")).to_contain_text("<b>not bold</b>")
    expect(page.locator("#trial-stderr")).to_contain_text("<script>alert('stdout')</script>")
    screenshot(page, tmp_path, "trial")
    page.locator("#experiment-crumb").click()
    expect(page.locator("#experiment-title")).to_contain_text("quadratic")

    # The hostile experiment's own page: its name is text, nothing ran.
    page.goto(dashboard.url)
    page.locator("a.experiment-link", has_text=XSS).click()
    expect(page.locator("#experiment-title")).to_contain_text(XSS)
    assert page.title().startswith(XSS)
    scripts = page.locator("script").all_inner_texts()
    assert not any("alert(1)" in script for script in scripts)
    screenshot(page, tmp_path, "escaped-name")

    # Passwords never reach a page.
    content = page.content()
    assert "s3cretpw" not in content
    if db_url.startswith("postgresql"):
        assert "postgres:***@" in content

    dashboard.stop()
    assert _state(db_url, tmp_path) == before


@pytest.mark.slow
def test_pages_update_while_a_worker_finishes_trials(
    cli: Any, start_dashboard: Any, page: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    hunt(cli, "live", 2, "--sleep=0.2", f"--gate={gate}")
    dashboard = start_dashboard()
    page.set_default_timeout(60_000)
    page.goto(dashboard.url)
    page.locator("a.experiment-link", has_text="live").click()
    completed = page.locator('#counts b[data-status="completed"]')
    expect(completed).to_have_text("2")
    expect(page.locator("#plot-curve .main-svg").first).to_be_visible()
    curve = "document.getElementById('plot-curve').data.map(trace => trace.x.length)"
    points, _ = page.evaluate(curve)
    # Where the best-so-far line ends, and where the last point is: the line runs to it.
    ends = (
        "(() => { const [pts, best] = document.getElementById('plot-curve').data;"
        " return [best.x[best.x.length - 1], pts.x[pts.x.length - 1]]; })()"
    )
    line_end_before, _ = page.evaluate(ends)
    page.evaluate("window.notReloaded = true")
    overview = page.context.new_page()
    overview.goto(dashboard.url)
    listed = overview.locator('#experiment-rows td[data-status="completed"]')
    expect(listed).to_have_text("2")

    gate.unlink()
    script = write_script(cli.cwd)
    worker = cli.start(
        "hunt", "-n", "live", "--max-trials", "7", "--", cli.python, script,
        "--x~uniform(0, 1)", "--y~loguniform(0.1, 10)", "--sleep=0.2", f"--gate={gate}",
    )  # fmt: skip
    try:
        # The trial the worker holds (its script waits for the gate) shows as reserved.
        expect(page.locator('#counts b[data-status="reserved"]')).to_have_text("1")
        expect(listed).to_have_text("2")
        held = page.context.new_page()
        held.goto(dashboard.url + f"trials/{_reserved_trial(cli.storage)}")
        expect(held.locator("#trial-status")).to_have_text("reserved")
        gate.touch()
        expect(held.locator("#trial-status")).to_have_text("completed")
        expect(held.locator("#trial-stdout")).to_contain_text("training with")
        expect(completed).to_have_text("7")
        expect(page.locator("#trials-table tbody tr")).to_have_count(7)
        expect(listed).to_have_text("7")
    finally:
        gate.touch()
        stderr = finish(worker)
    assert worker.returncode == 0, stderr
    assert page.evaluate("window.notReloaded") is True
    # The curve grew by the five new objectives, and its best-so-far line runs to the last
    # of them (it gains steps only where one improved on the best, which is chance).
    page.wait_for_function(f"{curve}[0] === {points + 5}")
    line_end, last_point = page.evaluate(ends)
    assert line_end == last_point != line_end_before
    screenshot(page, tmp_path, "live")
    held.close()
    overview.close()
    dashboard.stop()
