"""Fixtures of the Python API tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orionlite.client import ExperimentClient


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def api_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real database on each backend, shared by the tests of one module.

    Like ``db_url``, but one database per module: creating and dropping a PostgreSQL or
    MySQL database costs over a second per test on a busy machine, and these tests make many
    small experiments. They stay apart by experiment name (the ``name`` fixture).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'orionlite.db'}"
        return
    databases = request.getfixturevalue(request.param if request.param == "mysql" else "postgres")
    database = databases.create()
    try:
        base, _, _ = databases.admin_url.rpartition("/")
        yield f"{base}/{database}"
    finally:
        databases.drop(database)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """An experiment name no other test of the shared database uses."""
    return f"{request.node.originalname}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def runs(tmp_path: Path) -> str:
    """The experiment's working_dir: trial folders land in this test's temp folder."""
    return str(tmp_path / "runs")


@pytest.fixture(autouse=True)
def _close_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every client a test opened, at the end of that test.

    An unclosed client's pooled connections would be garbage-collected later, in some
    other test, as a ResourceWarning (an error under this project's warning filters).
    """
    opened: list[ExperimentClient] = []
    original = ExperimentClient.__init__

    def tracking(self: ExperimentClient, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    monkeypatch.setattr(ExperimentClient, "__init__", tracking)
    yield
    for client in opened:
        client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For behaviour that does not depend on the backend (signal plumbing): SQLite only."""
    return f"sqlite:///{tmp_path / 'orionlite.db'}"
