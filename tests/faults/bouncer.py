"""A throwaway PgBouncer in transaction-pooling mode, in front of a PostgreSQL server.

Tests start their own on a free port, with an ini file and a user list in a temporary
folder, and stop it at the end; the shared server behind it is only connected to. PgBouncer
refuses to run as root, so when we are root it drops to the ``postgres`` OS user (``-u``).

Used by ``tests/faults`` and ``tools/cluster_sizing.py``; plain module, no pytest import.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from pgcluster import free_port

_RUN_AS = "postgres"


def unavailable_reason() -> str | None:
    """Why a PgBouncer cannot be started here, or None if it can."""
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        return "pgbouncer is not installed (apt-get install pgbouncer)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_RUN_AS)
        except KeyError:
            return "running as root and there is no 'postgres' OS user to run pgbouncer as"
    return None


class Bouncer:
    """``pgbouncer`` with ``pool_mode = transaction`` forwarding one database of ``server_url``
    (trust auth on both sides). ``url()`` is what orionlite connects to."""

    def __init__(
        self,
        server_url: str,
        *,
        pool_size: int = 8,
        max_client_conn: int = 200,
        settings: dict[str, str] | None = None,
    ) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        parts = urlsplit(server_url)
        self.user = parts.username or "postgres"
        self.database = parts.path.lstrip("/")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="orionlite-bouncer-"))
        self.log = self.root / "pgbouncer.log"
        ini = self.root / "pgbouncer.ini"
        users = self.root / "userlist.txt"
        users.write_text(f'"{self.user}" ""\n')
        ini.write_text(
            "[databases]\n"
            f"{self.database} = host={parts.hostname} port={parts.port or 5432} "
            f"dbname={self.database} user={self.user}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.root}\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            f"max_client_conn = {max_client_conn}\n"
            f"logfile = {self.log}\n"
            f"pidfile = {self.root / 'pgbouncer.pid'}\n"
            + "".join(f"{key} = {value}\n" for key, value in (settings or {}).items())
        )
        self.ini = ini
        if os.geteuid() == 0:
            user = pwd.getpwnam(_RUN_AS)
            for path in (self.root, ini, users):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> Bouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        command = [binary, *(["-u", _RUN_AS] if os.geteuid() == 0 else []), str(self.ini)]
        with open(self.root / "pgbouncer.out", "wb") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.output()}")
            try:
                psycopg.connect(self.url(), connect_timeout=2, prepare_threshold=None).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def output(self) -> str:
        texts = [
            path.read_text(errors="replace")
            for path in (self.root / "pgbouncer.out", self.log)
            if path.exists()
        ]
        return "\n".join(texts)

    def destroy(self) -> None:
        """Stop pgbouncer (its clients are cut) and delete its folder."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)  # shut down at once
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
