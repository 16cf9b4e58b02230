"""Helpers of the dashboard tests: the installed ``orionlite dashboard`` in its own
process, databases filled by real ``hunt`` workers, screenshots and what must not change."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# A folder to keep the screenshots in too (docs/images is made this way); read at import,
# as the tests' own environment is cleared of ORIONLITE_ settings.
KEEP_SCREENSHOTS = os.environ.get("ORIONLITE_SCREENSHOTS_DIR", "")

TRIAL_SCRIPT = """
import os, sys, time
from orionlite import report_results
args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
x, y = float(args["x"]), float(args["y"])
time.sleep(float(args.get("sleep", "0")))
while "gate" in args and not os.path.exists(args["gate"]):  # held until the test opens it
    time.sleep(0.05)
print(f"training with x={x} y={y} <b>not bold</b>")
print("epoch 1 <script>alert('stdout')</script>", file=sys.stderr)
report_results([
    {"name": "loss", "type": "objective", "value": (x - 0.3) ** 2 + (y - 1) ** 2},
    {"name": "acc", "type": "statistic", "value": 1 - x},
])
"""


def write_script(folder: Path) -> str:
    path = folder / "trial.py"
    path.write_text(textwrap.dedent(TRIAL_SCRIPT))
    return path.name


def hunt(cli: Any, name: str, trials: int, *extra: str) -> None:
    """``hunt`` to the end: ``trials`` completed trials of experiment ``name``."""
    script = write_script(cli.cwd)
    result = cli.run(
        "hunt", "-n", name, "--max-trials", str(trials), "--",
        cli.python, script, "--x~uniform(0, 1)", "--y~loguniform(0.1, 10)", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


class Dashboard:
    """A running ``orionlite dashboard`` process and its address.

    Its stdout and stderr go to files in the test's folder, not pipes: a pipe nobody reads
    would stall a server that logs a lot, and one left open at a failure is garbage
    collected later with a ResourceWarning. ``output()`` is shown when a test fails.
    """

    def __init__(
        self, cli: Any, *args: str, storage: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        command = ["dashboard", "--port", "0", *args]
        if storage is not None:
            command += ["--storage", storage]
        folder = Path(tempfile.mkdtemp(prefix="dashboard-", dir=cli.cwd))
        self.stdout_path, self.stderr_path = folder / "stdout.log", folder / "stderr.log"
        self.stopped_by_test = False
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                cli.command("orionlite", *command),
                cwd=cli.cwd,
                env={**cli.env(), **(env or {})},
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        self.url = self._address()
        # Serving (Ctrl-C handled by the server) once a request is answered.
        deadline = time.monotonic() + 30
        while self.get("static/dashboard.css")[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard answers no request\n{self.output()}")
            time.sleep(0.05)

    def _address(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"(http://\S+/) ", self.stdout_path.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                pytest.fail(f"orionlite dashboard exited\n{self.output()}")
            time.sleep(0.05)
        pytest.fail(f"orionlite dashboard printed no address within 60 s\n{self.output()}")

    def output(self) -> str:
        """How the process stands (its exit status: -11 is a segfault) and what it printed."""
        code = self.process.poll()
        state = "running" if code is None else f"exited with status {code}"
        if code is not None and code < 0:
            state += f" ({signal.Signals(-code).name})"
        return (
            f"orionlite dashboard: {state}\n"
            f"--- stdout ---\n{self.stdout_path.read_text(errors='replace')}"
            f"--- stderr ---\n{self.stderr_path.read_text(errors='replace')}"
        )

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()
        except OSError as exc:  # refused, reset, closed without an answer: the server died
            return 0, str(exc)

    def stop(self) -> str:
        """Ctrl-C, as a user stops it; it must exit cleanly. Returns its stderr."""
        self.stopped_by_test = True
        if self.process.poll() is not None:
            pytest.fail(f"the dashboard died during the test\n{self.output()}")
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"orionlite dashboard ignored Ctrl-C for 20 s\n{self.output()}")
        stderr = self.stderr_path.read_text(errors="replace")
        assert self.process.returncode == 0, self.output()
        assert "Dashboard stopped." in stderr, self.output()
        return stderr

    def close(self) -> None:
        """Stops the process if it still runs (any test outcome)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    """A worker's stderr once it exits; killed after ``timeout`` s. Its pipes are closed
    either way (left open, they would be garbage collected in a later test with a
    ResourceWarning)."""
    try:
        return process.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        stderr = process.communicate()[1]
        pytest.fail(f"the worker did not finish within {timeout} s: {stderr}")


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "Chromium is not installed: run `apt-get install -y chromium` "
            "(.ci/run does it when missing)."
        )
    return found


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot in the test's folder (and in $ORIONLITE_SCREENSHOTS_DIR)."""
    path = folder / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    if KEEP_SCREENSHOTS:
        Path(KEEP_SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(KEEP_SCREENSHOTS) / path.name)
    assert path.stat().st_size > 10_000
    return path


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def row_counts(url: str) -> dict[str, Any]:
    """Rows of every table of a PostgreSQL database; on MySQL and MariaDB also each
    table's checksum of its contents (``CHECKSUM TABLE``)."""
    if url.startswith(("mysql", "mariadb")):
        return _mysql_row_counts(url)
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        counts = {
            table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # type: ignore[index]
            for table in tables
        }
    return counts


def _mysql_row_counts(url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from orionlite.storage.urls import normalize_url

    engine = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            tables = sorted(connection.execute(sa.text("SHOW TABLES")).scalars())
            return {
                table: (
                    connection.execute(sa.text(f"SELECT count(*) FROM `{table}`")).scalar(),
                    connection.execute(sa.text(f"CHECKSUM TABLE `{table}`")).one()[1],
                )
                for table in tables
            }
    finally:
        engine.dispose()
