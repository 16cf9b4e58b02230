"""``orionlite dashboard`` as a process: what it refuses, what it never creates or writes,
and the pages it shows instead of data when the database is missing or out of date."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import file_digest, hunt

from orionlite.dashboard.app import REDRAW_ENV
from orionlite.storage.schema import HEAD_REVISION

ROUTES = (
    "/",
    "/api/experiments",
    "/experiments/1",
    "/experiments/1/trials",
    "/api/experiments/1/changes",
    "/api/experiments/1/curve",
    "/api/experiments/1/parallel",
    "/api/experiments/1/importance",
    "/trials/1",
    "/trials/1/body",
    "/static/dashboard.js",
)


def test_a_missing_sqlite_file_is_a_page_and_stays_missing(
    sqlite_cli: Any, start_dashboard: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "nothing-here.db"
    dashboard = start_dashboard(storage=f"sqlite:///{missing}")
    for path in ROUTES[:-1]:
        status, body = dashboard.get(path)
        assert status in (400, 503), (path, status)
        assert not missing.exists()
    status, body = dashboard.get("/")
    assert status == 503
    assert "There is no database at" in body and "never creates a database" in body
    stderr = dashboard.stop()
    assert "Note: There is no database at" in stderr
    assert not missing.exists()
    assert list(tmp_path.glob("nothing-here.db*")) == []


@pytest.mark.parametrize(
    ("revision", "expected"),
    [("0002_unfinished_index", "orionlite db upgrade"), ("9999_future", "newer orionlite")],
)
def test_another_schema_revision_is_a_page_naming_the_fix(
    sqlite_cli: Any, start_dashboard: Any, tmp_path: Path, revision: str, expected: str
) -> None:
    hunt(sqlite_cli, "exp", 1)
    path = tmp_path / "orionlite.db"
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    digest = file_digest(path)
    dashboard = start_dashboard()
    for route in ("/", "/experiments/1", "/trials/1"):
        status, body = dashboard.get(route)
        assert status == 503
        assert expected in body and revision in body
    status, body = dashboard.get("/api/experiments/1/changes?since=1")
    assert status == 503 and expected in body
    dashboard.stop()
    assert file_digest(path) == digest
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (HEAD_REVISION,))


def test_no_route_accepts_a_write_method(sqlite_cli: Any, start_dashboard: Any) -> None:
    hunt(sqlite_cli, "exp", 1)
    dashboard = start_dashboard()
    for path in ROUTES:
        assert dashboard.get(path)[0] == 200, path
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert dashboard.get(path, method)[0] == 405, (method, path)
    dashboard.stop()


def test_bad_query_strings_are_explained(sqlite_cli: Any, start_dashboard: Any) -> None:
    hunt(sqlite_cli, "exp", 1)
    dashboard = start_dashboard()
    status, body = dashboard.get("/experiments/1?sort=nope")
    assert status == 400 and "Cannot sort trials by" in body and "param:x" in body
    status, body = dashboard.get("/experiments/1?param=x&low=abc")
    assert status == 400 and "is not a number" in body
    status, body = dashboard.get("/experiments/99")
    assert status == 400 and "There is no experiment 99" in body
    status, body = dashboard.get("/trials/abc")
    assert status == 400 and "whole number" in body
    dashboard.stop()


def test_base_url_prefixes_every_link(sqlite_cli: Any, start_dashboard: Any) -> None:
    hunt(sqlite_cli, "exp", 1)
    dashboard = start_dashboard("--base-url", "/tuning/")
    assert dashboard.url.endswith("/tuning/")
    status, body = dashboard.get("/")
    assert status == 200
    assert 'href="/tuning/experiments/1"' in body and "/tuning/static/dashboard.js" in body
    dashboard.stop()


def test_usage_errors_exit_2_and_a_taken_port_exits_1(sqlite_cli: Any) -> None:
    result = sqlite_cli.run("orionlite", "dashboard", "--base-url", "tuning")
    assert result.returncode == 2
    assert "is not a path prefix" in result.stderr
    result = sqlite_cli.run("orionlite", "dashboard", "--port", "70000")
    assert result.returncode == 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sqlite_cli.run("orionlite", "dashboard", "--port", str(port))
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1 port {port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_listening_beyond_this_machine_says_what_it_exposes(
    sqlite_cli: Any, start_dashboard: Any
) -> None:
    dashboard = start_dashboard("--host", "0.0.0.0")
    stderr = dashboard.stop()
    assert "Warning: listening on 0.0.0.0 shows every experiment" in stderr
    assert "without a password" in stderr


def test_many_requests_at_once_are_all_answered(cli: Any, start_dashboard: Any) -> None:
    """An experiment page fetches its five plots at once, and several pages may be open:
    the server's threads read side by side (SQLite's connections once got closed under
    a reading thread, and the process died of a segfault)."""
    hunt(cli, "exp", 3)
    dashboard = start_dashboard()
    answers: list[tuple[str, int]] = []

    def read_all() -> None:
        for path in ROUTES * 3:
            answers.append((path, dashboard.get(path)[0]))

    readers = [threading.Thread(target=read_all) for _ in range(16)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert [a for a in answers if a[1] != 200] == []
    assert len(answers) == 16 * 3 * len(ROUTES)
    dashboard.stop()


def test_a_bad_redraw_setting_is_one_clear_error(sqlite_cli: Any) -> None:
    result = subprocess.run(
        sqlite_cli.command("orionlite", "dashboard", "--port", "0"),
        cwd=sqlite_cli.cwd,
        env={**sqlite_cli.env(), REDRAW_ENV: "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{REDRAW_ENV}='soon' is not a number of milliseconds" in result.stderr
    assert "Traceback" not in result.stderr
