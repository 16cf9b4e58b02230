"""A throwaway MariaDB server of its own (tools/chaos.py --backend mysql): never the shared
server on 3306, which CI and other tests use. ``mariadb-install-db`` makes a data folder
in a temp folder, ``mariadbd`` serves it on a free port and a private socket; a restart
in ``immediate`` mode is a crash (SIGKILL, then InnoDB's recovery at start)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from pgcluster import free_port


def unavailable_reason() -> str | None:
    for program in ("mariadb-install-db", "mariadbd"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            return f"no {program} found (install the mariadb-server package)"
    return None


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class ThrowawayMariaDB:
    """``start()``, ``restart(mode)``, ``create_database(name)``, ``destroy()``; root
    without a password (grant tables are skipped: nothing else can reach it)."""

    def __init__(self) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="orionlite-mariadb-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ThrowawayMariaDB:
        if not self.data.exists():
            with open(self.root / "install.out", "w") as output:
                subprocess.run(
                    [
                        _program("mariadb-install-db"),
                        "--no-defaults",
                        f"--datadir={self.data}",
                        "--user=root",
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                    ],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=120,
                )
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    _program("mariadbd"),
                    "--no-defaults",
                    f"--datadir={self.data}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={self.root / 'mariadb.sock'}",
                    f"--pid-file={self.root / 'mariadb.pid'}",
                    "--user=root",
                    "--skip-grant-tables",
                    "--innodb-buffer-pool-size=32M",
                    "--max-connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready()
        return self

    def restart(self, mode: str = "fast") -> None:
        """``fast`` shuts down cleanly (SIGTERM); ``immediate`` is a crash (SIGKILL)."""
        self.stop(mode)
        self.start()

    def stop(self, mode: str = "fast") -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
            self.process.wait(timeout=120)
        self.process = None

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "mysql") -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def _connect(self) -> object:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", autocommit=True, connect_timeout=2
        )

    def create_database(self, name: str) -> str:
        connection = self._connect()
        try:
            connection.cursor().execute(f"CREATE DATABASE `{name}`")  # type: ignore[attr-defined]
        finally:
            connection.close()  # type: ignore[attr-defined]
        return self.url(name)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._connect().close()  # type: ignore[attr-defined]
                return
            except Exception:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"mariadbd exited ({self.process.returncode}):\n"
                        f"{self.log.read_text()[-2000:]}"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


if __name__ == "__main__":  # a quick check: start, crash-restart, destroy
    server = ThrowawayMariaDB().start()
    try:
        print(server.create_database("check"))
        server.restart("immediate")
        print("restarted; pid", server.process.pid if server.process else None, os.getpid())
    finally:
        server.destroy()
