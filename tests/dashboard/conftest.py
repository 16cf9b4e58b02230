"""Fixtures of the dashboard tests: the installed ``orionlite dashboard`` in its own
process, databases filled by real ``hunt`` workers, pages driven in Debian's Chromium.

Chromium comes from the system (``apt-get install chromium``; ``.ci/run`` installs it when
missing): Playwright's own browser download is not used. A missing browser fails the
browser tests with that instruction rather than skipping them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import Dashboard, chromium_path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows each dashboard's exit status and output with its report."""
    outcome = yield
    report = outcome.get_result()
    started: list[Dashboard] = getattr(item, "dashboards", [])
    if report.failed:
        item.dashboards_shown = True  # type: ignore[attr-defined]
        for number, dashboard in enumerate(started, 1):
            report.sections.append((f"dashboard {number}", dashboard.output()))


@pytest.fixture
def start_dashboard(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Starts dashboards in the test's folder, with its ``cli`` (every backend) or else
    its ``sqlite_cli``; any still running at the end are stopped, whatever the outcome,
    and one that died before the test stopped it fails the test."""
    cli = request.getfixturevalue("cli" if "cli" in request.fixturenames else "sqlite_cli")
    started: list[Dashboard] = []
    request.node.dashboards = started

    def start(
        *args: str, storage: str | None = None, env: dict[str, str] | None = None
    ) -> Dashboard:
        dashboard = Dashboard(cli, *args, storage=storage, env=env)
        started.append(dashboard)
        return dashboard

    yield start
    died = [d for d in started if d.process.poll() is not None and not d.stopped_by_test]
    for dashboard in started:
        dashboard.close()
    if died and not getattr(request.node, "dashboards_shown", False):
        pytest.fail("the dashboard died during the test\n" + died[0].output())


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import expect, sync_playwright

    # Workers and pages start slowly on a loaded machine: assertions wait up to a minute.
    expect.set_options(timeout=60_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh page; any JavaScript dialog (an injected alert) or page error fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.problems = problems
    yield opened
    context.close()
    assert not problems, problems
