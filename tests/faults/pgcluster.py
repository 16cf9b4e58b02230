"""A throwaway PostgreSQL cluster for tests that stop or restart the server.

Restarting a server kills every session on it, so fault tests never touch the shared
server on 5432 (CI and other tests use it): they ``initdb`` a cluster of their own in a
temporary folder, run it on a free port (TCP on 127.0.0.1, unix socket in the folder),
and delete it at the end. PostgreSQL refuses to run as root, so when we are root the
server binaries run as the ``postgres`` OS user through ``runuser``.

Used by ``tests/faults``, ``tools/chaos.py`` and ``tools/cluster_sizing.py``; plain module, no
pytest import.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_SERVER_USER = "postgres"


def _find_bindir() -> Path | None:
    """Where initdb and pg_ctl live: on PATH, else the newest Debian-style install."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: (
            int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(candidates[-1]).parent if candidates else None


def unavailable_reason() -> str | None:
    """Why a throwaway cluster cannot be made here, or None if it can."""
    bindir = _find_bindir()
    if bindir is None:
        return "no initdb binary found (install the PostgreSQL server package)"
    if not (bindir / "pg_ctl").exists():
        return f"no pg_ctl next to {bindir / 'initdb'}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            return "running as root and there is no 'postgres' OS user to run the server"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (needed to run as 'postgres')"
    return None


def free_port() -> int:
    """A TCP port nobody listens on right now (never 5432, the shared server's)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != 5432:
            return port


class ThrowawayCluster:
    """initdb + pg_ctl on a private folder and port; ``url()`` for orionlite."""

    def __init__(self, max_connections: int = 200) -> None:
        self.max_connections = max_connections
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        bindir = _find_bindir()
        assert bindir is not None
        self.bindir = bindir
        self.port = free_port()
        # Not under pytest's tmp_path: that folder is private to root, and the server
        # process runs as 'postgres'.
        self.root = Path(tempfile.mkdtemp(prefix="orionlite-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            user = pwd.getpwnam(_SERVER_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.running = False

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", _SERVER_USER, "--", *command]
        # Output goes to a file, never a pipe: the server started by pg_ctl inherits it
        # and would keep a pipe open for as long as it runs.
        with open(self.root / "pg_ctl.out", "w") as output:
            result = subprocess.run(
                command, stdout=output, stderr=subprocess.STDOUT, timeout=timeout
            )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{(self.root / 'pg_ctl.out').read_text()}\n{log[-2000:]}"
            )

    def start(self) -> ThrowawayCluster:
        if not self.data.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={self.max_connections} -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")
        self.running = True
        return self

    def restart(self, mode: str = "fast") -> None:
        """``fast`` ends sessions cleanly; ``immediate`` is a crash (recovery at start)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "restart")

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    def destroy(self) -> None:
        """Stop the server (if running) and delete its folder."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
