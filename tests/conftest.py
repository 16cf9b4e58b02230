"""Shared fixtures: every storage test runs on SQLite, PostgreSQL and MySQL (MariaDB).

PostgreSQL comes from ``ORIONLITE_TEST_PG_URL`` (default: the local server on
127.0.0.1:5432, database ``test``). When no server answers, PostgreSQL tests are skipped
with the reason shown, unless ``ORIONLITE_REQUIRE_PG=1`` (set by CI), which makes that a
failure. Each test gets its own database, copied from a template migrated once per run;
the server's own databases are never dropped.

MySQL likewise comes from ``ORIONLITE_TEST_MYSQL_URL`` (default: the local MariaDB on
127.0.0.1:3306, database ``test``), required when ``ORIONLITE_REQUIRE_MYSQL=1``. MySQL has
no template databases: each test gets a new database, given the schema at head.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_setup import connect_creating_database

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
VENV_BIN = Path(sys.executable).parent


def _pg_admin_url() -> str:
    return os.environ.get("ORIONLITE_TEST_PG_URL", DEFAULT_PG_URL)


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own orionlite settings."""
    for key in list(os.environ):
        if key.startswith("ORIONLITE_") and key not in (
            "ORIONLITE_TEST_PG_URL",
            "ORIONLITE_REQUIRE_PG",
            "ORIONLITE_TEST_MYSQL_URL",
            "ORIONLITE_REQUIRE_MYSQL",
        ):
            monkeypatch.delenv(key)


class PostgresDatabases:
    """Creates per-test databases from a template migrated once."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self._psycopg = psycopg
        self.template = f"orionlite_tpl_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{self.template}"')
        from orionlite.storage import Storage

        storage = Storage(_with_database(admin_url, self.template))
        storage.list_experiments()  # connects, creating the schema at head
        storage.close()

    def _admin(self, sql: str) -> None:
        with self._psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql)

    def create(self) -> str:
        name = f"orionlite_t_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY FILE_COPY')
        return name

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.drop(self.template)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    admin_url = _pg_admin_url()
    try:
        connect_creating_database(admin_url)
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {admin_url}: {exc}".splitlines()[0]
        if os.environ.get("ORIONLITE_REQUIRE_PG") == "1":
            pytest.fail(f"{reason} (ORIONLITE_REQUIRE_PG=1)")
        pytest.skip(reason)
    databases = PostgresDatabases(admin_url)
    yield databases
    databases.close()


class MysqlDatabases:
    """Creates per-test databases on the MySQL server, each with the schema at head."""

    def __init__(self, admin_url: str) -> None:
        import pymysql

        url = sa_url(admin_url)
        self._connect = lambda: pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            autocommit=True,
            connect_timeout=3,
        )
        self.admin_url = admin_url
        self._connect().close()

    def _admin(self, sql: str) -> None:
        connection = self._connect()
        try:
            connection.cursor().execute(sql)
        finally:
            connection.close()

    def create(self) -> str:
        from orionlite.storage import Storage

        name = f"orionlite_t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE `{name}`")
        storage = Storage(_with_database(self.admin_url, name))
        storage.list_experiments()  # connects, creating the schema at head
        storage.close()
        return name

    def drop(self, name: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS `{name}`")


def sa_url(url: str) -> Any:
    import sqlalchemy as sa

    return sa.make_url(url)


@pytest.fixture(scope="session")
def mysql() -> MysqlDatabases:
    admin_url = os.environ.get("ORIONLITE_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
    try:
        return MysqlDatabases(admin_url)
    except Exception as exc:
        reason = f"MySQL not reachable at {admin_url}: {exc}".splitlines()[0]
        if os.environ.get("ORIONLITE_REQUIRE_MYSQL") == "1":
            pytest.fail(f"{reason} (ORIONLITE_REQUIRE_MYSQL=1)")
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database ``db_url`` is on. A folder's conftest may narrow it by overriding
    this fixture."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty-of-experiments database URL on each backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'orionlite.db'}"
        return
    databases: PostgresDatabases | MysqlDatabases = request.getfixturevalue(
        "postgres" if backend == "postgresql" else "mysql"
    )
    name = databases.create()
    try:
        yield _with_database(databases.admin_url, name)
    finally:
        databases.drop(name)


@pytest.fixture
def storage(db_url: str) -> Iterator[object]:
    from orionlite.storage import Storage

    store = Storage(db_url)
    yield store
    store.close()


@pytest.fixture
def bin_path() -> Path:
    """Folder holding the installed ``hunt`` and ``orionlite`` scripts."""
    return VENV_BIN


class Cli:
    """Runs the installed ``hunt`` / ``orionlite`` scripts as real processes."""

    def __init__(self, cwd: Path, storage: str) -> None:
        self.cwd = cwd
        self.storage = storage
        self.python = str(VENV_BIN / "python")

    def env(self) -> dict[str, str]:
        # No $COLUMNS/$LINES of the test runner's (pytest-xdist sets them): output is a pipe,
        # so commands print at full width unless a test sets a width.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ORIONLITE_") and k not in ("COLUMNS", "LINES")
        }
        env["ORIONLITE_STORAGE"] = self.storage
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self, program: str, *args: str) -> list[str]:
        return [str(VENV_BIN / program), *args]

    def run(
        self, program: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(program, *args),
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, program: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(program, *args),
            cwd=self.cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    """The CLI, run in a temp folder against this test's database (both backends)."""
    return Cli(tmp_path, db_url)


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    """The CLI on SQLite only, for behaviour that does not depend on the backend."""
    return Cli(tmp_path, f"sqlite:///{tmp_path / 'orionlite.db'}")
